"""Durations as Prometheus writes them: `30s`, `1m30s`, `1h30m`, `500ms`, `1d`, `0`.

The grammar is Prometheus's own (prometheus/common `model.ParseDuration`): whole numbers,
each followed by one of the units y, w, d, h, m, s, ms, in that order, each unit at most
once; or `0` alone. So `30s1m`, `1h1h` and `1.5s` are refused, as Prometheus refuses them.
Settings (`debounce: 0.3s`) also take a decimal number before each unit, as Go does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from monop.api.text import Text

# Largest first: the order Prometheus requires them in.
_UNITS = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
# Go's RE2 (Kubernetes checks CRD patterns with it) has no lookahead: the empty string is
# kept out by minLength, not by the pattern.
_PATTERN = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
_EXAMPLES = "examples: 30s, 1m30s, 1h30m, 500ms, 1d"


# Go's time.Duration and Prometheus's model.Duration are int64 nanoseconds: about 292 years.
MAX_SECONDS = (2**63 - 1) / 1e9


def parse_duration(text: str, *, fractions: bool = False) -> float:
    """Seconds in a duration written in Prometheus's grammar; ValueError says what is wrong.

    With `fractions`, a number may have a decimal part (`0.3s`), as Go's durations allow;
    Prometheus does not. At most MAX_SECONDS, the longest duration Podman and Prometheus hold.
    """
    if text == "0":
        return 0.0
    parts = _parts(text)
    if parts is None:
        hint = "; add a unit (30s)" if re.fullmatch(r"\d+(\.\d+)?", text.strip()) else ""
        raise ValueError(f"{text!r} is not a duration ({_EXAMPLES}){hint}")
    order = [list(_UNITS).index(unit) for _, unit in parts]
    if order != sorted(set(order)):
        raise ValueError(
            f"{text!r}: units go from the largest to the smallest, each once ({_canonical(parts)})"
        )
    if not fractions and any("." in number for number, _ in parts):
        raise ValueError(f"{text!r}: Prometheus takes whole numbers ({_canonical(parts)})")
    return _bounded(sum(float(number) * _UNITS[unit] for number, unit in parts), text)


def _parts(text: str) -> list[tuple[str, str]] | None:
    """(number, unit) of each part, or None when `text` is not a run of them."""
    parts, pos = [], 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            return None
        parts.append((match.group(1), match.group(2)))
        pos = match.end()
    return parts if parts and pos == len(text) else None


def _canonical(parts: list[tuple[str, str]]) -> str:
    """`write 1m30s`: the same length as Prometheus would take it, when it can be said."""
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds > MAX_SECONDS or round(seconds * 1000) != seconds * 1000:
        return "as 1h30m or 1500ms"
    return f"write {format_duration(seconds)}"


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


def _coercer(fractions: bool) -> BeforeValidator:
    def coerce(value: Any) -> float:
        # Numbers come only from Python callers: the loader gives this field the text as written.
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value < 0:
                raise ValueError("a duration cannot be negative")
            return _bounded(float(value), value)
        if isinstance(value, str):
            return parse_duration(value, fractions=fractions)
        raise ValueError(f"should be {NOUN}")

    return BeforeValidator(coerce)


NOUN = "a duration like 30s, 1m30s, 1h30m or 500ms"


Duration = Annotated[
    float,
    _coercer(fractions=False),
    Text(NOUN),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _PATTERN,
            "minLength": 1,
            "description": "A duration as Prometheus writes it: 30s, 1m30s, 1h30m, 500ms, 1d.",
        }
    ),
]
"""A duration held as seconds, written in Prometheus's grammar."""

SettingsDuration = Annotated[
    float,
    _coercer(fractions=True),
    Text(NOUN),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "description": "A duration: 30s, 1m30s, 0.3s, 500ms."}),
]
"""A duration of a setting: Prometheus's grammar, and a decimal number before a unit (`0.3s`)."""
