"""Durations in the forms Prometheus and Go print and accept: `30s`, `1m0s`, `1h30m`, `500ms`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$"


def parse_duration(text: str) -> float:
    """Seconds in a duration string; raises ValueError with a message a person understands."""
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
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 1m0s, 1h30m, 500ms)")
    return total


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
    if isinstance(value, bool):
        raise ValueError("a duration is a string like 30s, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"a duration is a string like 30s, not {type(value).__name__}")


Duration = Annotated[
    float,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _PATTERN, "description": "A duration: 30s, 1m0s, 1h30m, 500ms."}
    ),
]
"""A duration held as seconds, written as Prometheus writes it."""
