"""How a container is asked to stop: `stopSignal` (a name or a number) and `stopTimeout` (whole seconds).

Podman's libpod API takes the signal as a number and the timeout as whole seconds
(SpecGenerator `stop_signal`, `stop_timeout`); both are held here in that form.
"""

from __future__ import annotations

import math
import signal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from monop.api.duration import Duration, format_duration
from monop.api.text import Text

_MAX_SIGNAL = 64  # SIGRTMAX on Linux
_MAX_TIMEOUT = 86_400  # a day: longer is a typo, and Podman's API counts seconds in an unsigned int


def parse_signal(value: Any) -> int:
    """The number of a signal written as `SIGTERM`, `TERM`, `sigint` or `15`; ValueError otherwise."""
    hint = "(examples: SIGTERM, SIGINT, SIGKILL, 15)"
    if isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in ("true", "false")):
        raise ValueError(f"stopSignal is a signal name or number {hint}, not true or false")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if not 1 <= number <= _MAX_SIGNAL:
            raise ValueError(f"signal number {number} is not in 1..{_MAX_SIGNAL}")
        return number
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            return int(signal.Signals[name])
        except KeyError:
            raise ValueError(f"{value!r} is not a signal name {hint}") from None
    raise ValueError(f"stopSignal is a signal name or number {hint}")


def signal_name(number: int) -> str:
    """`SIGTERM` for 15; the number itself for a signal without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _whole_seconds(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds != int(seconds):
        raise ValueError(
            f"stopTimeout {format_duration(seconds)} is not whole seconds (Podman counts seconds)"
        )
    if seconds > _MAX_TIMEOUT:
        raise ValueError(f"stopTimeout {format_duration(seconds)} is longer than 24h")
    return seconds


StopSignal = Annotated[
    int,
    Text("a signal name or number"),  # given as written: `15` and `SIGTERM` alike
    BeforeValidator(parse_signal),
    PlainSerializer(signal_name, return_type=str),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "description": "A signal name or number: SIGTERM, SIGINT, SIGKILL, 15.",
        }
    ),
]
"""A signal, held as its number."""

StopTimeout = Annotated[Duration, AfterValidator(_whole_seconds)]
"""A duration of whole seconds, at most a day."""
