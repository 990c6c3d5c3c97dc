"""Memory sizes and CPU limits as Kubernetes (`256Mi`, `500m`) and compose/podman (`512m`, `0.5`) users write them."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from monop.api.forms import Forms
from monop.api.text import Text

_SUFFIX = {
    "": 1,
    "b": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
}
# podman and docker read `512m` as mebibytes; Kubernetes reads `512M` as megabytes.
_PODMAN_SUFFIX = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# The kernel's memory.max counts pages in a signed 64-bit number; Podman holds the limit as int64.
MAX_BYTES = (2**63 - 1) // 4096 * 4096
NOUN = "a memory size like 256Mi, 1G or 512m, or a number of bytes"
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?|[bB])?\s*$")


def parse_bytes(value: Any) -> int:
    """Bytes in a memory size: `256Mi` (Kubernetes), `512m` (podman), `1G`, or a bare integer.

    Raises ValueError for zero, or past MAX_BYTES, the largest limit the kernel holds.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"should be {NOUN}")
    if isinstance(value, int):
        size = value
    else:
        match = _QUANTITY.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a memory size (examples: 256Mi, 512m, 1G)")
        # Exact arithmetic: a float turns 400 digits into infinity.
        number, suffix = Fraction(match.group(1)), match.group(2) or ""
        factor = _PODMAN_SUFFIX[suffix] if suffix in _PODMAN_SUFFIX else _SUFFIX[suffix.lower()]
        size = int(number * factor)
    if size <= 0:
        raise ValueError("a memory size must be positive")
    if size > MAX_BYTES:
        raise ValueError("this is past the largest memory limit the kernel holds (about 8Ei)")
    return size


MemoryBytes = Annotated[
    int,
    BeforeValidator(parse_bytes),
    Text(NOUN),
    WithJsonSchema(
        {"x-kubernetes-int-or-string": True, "description": "256Mi, 1G, 512m (podman: MiB), or bytes."}
    ),
]


# Linux's largest configurable CPU count (CONFIG_NR_CPUS); more cannot be meant.
MAX_CPUS = 8192
CPUS_NOUN = "a number of CPUs like 0.5 or 2, or millicores like 500m"
_CPUS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(m?)$")


def parse_cpus(value: Any) -> float:
    """CPUs as `podman run --cpus` takes them (`0.5`, `2`), or Kubernetes' millicores (`500m` = 0.5).

    Raises ValueError for zero, or past MAX_CPUS.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"should be {CPUS_NOUN}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"should be {CPUS_NOUN}; got {value}")
    match = _CPUS.match(value) if isinstance(value, str) else None
    if isinstance(value, str) and match is None:
        raise ValueError(f"should be {CPUS_NOUN}; got {value}")
    number = Fraction(match.group(1)) / (1000 if match.group(2) else 1) if match else Fraction(value)
    if number <= 0:
        raise ValueError("a CPU limit must be more than 0")
    if number > MAX_CPUS:
        raise ValueError(f"a CPU limit is at most {MAX_CPUS} (the most CPUs Linux can have)")
    return float(number)


_CPU_NUMBER = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CPUS}

Cpus = Annotated[
    float,
    BeforeValidator(parse_cpus),
    Text(CPUS_NOUN),
    Forms(
        "CPU limit in cores, like `podman run --cpus` (0.5), or millicores (500m).",
        (_CPU_NUMBER, {"type": "string", "pattern": r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)m?$"}),
        own=False,
        crd={
            **_CPU_NUMBER,
            # A structural schema cannot say "a number or a string": the CRD takes the number.
            "description": "CPU limit in cores, like `podman run --cpus` (0.5); "
            "monop also takes millicores (500m), which this schema cannot say beside a number.",
        },
    ),
]
"""A CPU limit, held as cores."""
