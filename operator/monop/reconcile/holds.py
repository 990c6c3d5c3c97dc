"""What besides the desired and the observed state decides an action: the planner's third input.

Pure values, taken by `monop.reconcile.plan.plan`. The daemon builds them from what it knows (its
crash-loop counters, Prometheus's target health, the resources a person suspended, the ones that
stalled); `monop plan` and `monop apply` build them from the daemon's state file and the suspend
file, so all three plan the same actions from the same world. (Not to be confused with
`monop.desired.policy`, what a desired state may ask of the host.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from monop.reconcile.diff import Reason


class Deferred(StrEnum):
    """Why a planned action waits (CamelCase, as Kubernetes condition reasons are)."""

    CRASH_LOOP = "CrashLoopBackOff"  # restarted too often lately; the next start waits
    SUSPENDED = "Suspended"  # a person suspended the resource (`monop suspend`)
    STALLED = "Stalled"  # its last attempt failed in a way only a person can fix


@dataclass(frozen=True)
class CrashLoopHold:
    """A resource in a crash loop: its next start is allowed at wall time `until` (epoch seconds)."""

    until: float
    restarts: int  # restarts monop made within the crash-loop window


@dataclass(frozen=True)
class Stall:
    """A resource whose spec at `spec_hash` failed with an error a retry cannot fix."""

    spec_hash: str | None
    error: str
    reason: str = "Stalled"  # CamelCase, from the error: ImagePullFailed, InvalidSpec


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Holds:
    """Everything the planner needs besides desired and observed state, at wall time `now` (seconds).

    `crash_loops`: resources in a crash loop (key -> when the next start is allowed);
    `restarts`: restarts asked for by what the container list cannot show (key -> why, such as
    `target 127.0.0.1:9100 down for 3m: connection refused`); `suspended`: keys a person suspended;
    `stalled`: keys that wait for a person (key -> the spec that failed and the error).
    """

    now: float
    crash_loops: Mapping[str, CrashLoopHold] = field(default_factory=_empty)
    restarts: Mapping[str, Reason] = field(default_factory=_empty)
    suspended: frozenset[str] = frozenset()
    stalled: Mapping[str, Stall] = field(default_factory=_empty)


@dataclass(frozen=True)
class Deferral:
    """An action planned but not to be carried out now: why, and until when (wall seconds; None: until a person acts)."""

    reason: Deferred
    until: float | None = None
    detail: str = ""  # for a person: `next in 7s`, the stalled error

    def __str__(self) -> str:
        return f"{self.reason}, {self.detail}" if self.detail else str(self.reason)
