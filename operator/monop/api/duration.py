"""Durations in the forms Prometheus and Go print and accept: `30s`, `1m0s`, `1h30m`, `500ms`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from monop.api.text import Text

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$"


# Go's time.Duration and Prometheus's model.Duration are int64 nanoseconds: about 292 years.
MAX_SECONDS = (2**63 - 1) / 1e9


def parse_duration(text: str) -> float:
    """Seconds in a duration string; raises ValueError with a message a person understands.

    At most MAX_SECONDS, the longest duration Podman and Prometheus can hold.
    """
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        hint = "; add a unit" if re.fullmatch(r"\d+(\.\d+)?", text) else ""
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 1m0s, 1h30m, 500ms){hint}")
    return _bounded(total, text)


def _bounded(seconds: float, shown: object) -> float:
    if not seconds <= MAX_SECONDS:  # also NaN
        raise ValueError(f"{shown} is longer than Podman and Prometheus can hold (about 292 years)")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus form of a duration: 90 -> `1m30s`, 0.5 -> `500ms`."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    out = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _coerce(value: Any) -> float:
    # Numbers come only from Python callers: the loader gives this field the text as written.
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(float(value), value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"should be {NOUN}")


NOUN = "a duration like 30s, 1m0s, 1h30m or 500ms"


Duration = Annotated[
    float,
    BeforeValidator(_coerce),
    Text(NOUN),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _PATTERN, "description": "A duration: 30s, 1m0s, 1h30m, 500ms."}
    ),
]
"""A duration held as seconds, written as Prometheus writes it."""
