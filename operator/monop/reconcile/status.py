"""A resource's status in the field's own terms: two axes as Argo CD has, conditions as Flux has.

Pure: from what the planner found (a State and its reasons) and what the daemon knows beside it
(an action running, a stall, a suspension, a target down) to

- `sync`: Synced / OutOfSync / Unknown: does what runs match what is declared?
- `health`: Healthy / Progressing / Degraded / Suspended / Missing / Unknown (Argo CD's set);
- `conditions`: `Ready`, and `Reconciling` / `Stalled` while they are true (Flux's
  kustomize-controller habit), each with a CamelCase reason, a message and the time its status
  last changed (Kubernetes' `metav1.Condition`).

`transitions()` says which changes are worth an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from monop.reconcile.states import State
from monop.times import parse_rfc3339, rfc3339


class Sync(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
Truth = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    """One condition, as Kubernetes' metav1.Condition: `last_transition` in wall seconds."""

    type: str
    status: Truth
    reason: str  # CamelCase
    message: str
    last_transition: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": rfc3339(self.last_transition),
        }

    @classmethod
    def from_json(cls, data: object) -> Condition | None:
        if not isinstance(data, dict):
            return None
        status = data.get("status")
        since = parse_rfc3339(data.get("lastTransitionTime"))
        if status not in ("True", "False", "Unknown") or since is None:
            return None
        return cls(
            str(data.get("type")), status, str(data.get("reason")), str(data.get("message", "")), since
        )


@dataclass(frozen=True)
class Observation:
    """What is known of one resource now: the planner's verdict and the daemon's circumstances."""

    state: State
    message: str = ""  # the reasons, as the planner gave them
    running: bool = False  # its container runs
    reconciling: str | None = None  # what monop keeps doing about it ("retrying: ...", a crash loop's wait)
    stalled: str | None = None  # why monop stopped trying until a person acts
    stalled_reason: str = "Stalled"  # CamelCase: ImagePullFailed, InvalidSpec, ...
    suspended: bool = False
    target_down: str | None = None  # "target 127.0.0.1:9100 down for 3m: connection refused"
    starting: bool = False  # its healthcheck has not given a verdict yet


@dataclass(frozen=True)
class ResourceStatus:
    sync: Sync
    health: HealthStatus
    conditions: tuple[Condition, ...]

    @property
    def ready(self) -> Condition:
        return next(c for c in self.conditions if c.type == READY)

    def to_json(self) -> dict[str, Any]:
        return {
            "sync": self.sync.value,
            "health": self.health.value,
            "conditions": [c.to_json() for c in self.conditions],
        }


_SYNC = {
    State.IN_SYNC: Sync.SYNCED,
    State.UNHEALTHY: Sync.SYNCED,  # the spec matches; the process does not work
    State.CRASH_LOOP: Sync.SYNCED,
    State.CONFLICT: Sync.UNKNOWN,  # not monop's container: nothing to compare
}
_HEALTH = {
    State.IN_SYNC: HealthStatus.HEALTHY,
    State.MISSING: HealthStatus.MISSING,
    State.CONFLICT: HealthStatus.UNKNOWN,
}


def sync_of(seen: Observation) -> Sync:
    return _SYNC.get(seen.state, Sync.OUT_OF_SYNC)


def health_of(seen: Observation) -> HealthStatus:
    if seen.suspended:
        return HealthStatus.SUSPENDED
    if seen.state is State.IN_SYNC and seen.target_down:
        return HealthStatus.DEGRADED
    if seen.state is State.IN_SYNC and seen.starting:
        return HealthStatus.PROGRESSING
    if seen.state in _HEALTH:
        return _HEALTH[seen.state]
    if seen.state in (State.DRIFTED, State.ORPHAN) and seen.running:
        return HealthStatus.HEALTHY  # it runs, just not as declared
    return HealthStatus.DEGRADED


def ready_of(seen: Observation) -> tuple[Truth, str, str]:
    """Ready's status, reason and message."""
    if seen.suspended:
        return "False", "Suspended", "suspended: monop reports it but does not repair it"
    if seen.stalled:
        return "False", seen.stalled_reason, seen.stalled
    if seen.state is State.IN_SYNC and seen.target_down:
        return "False", "TargetDown", seen.target_down
    if seen.state is State.IN_SYNC:
        if seen.starting:
            return "Unknown", "Progressing", "started; its healthcheck has not passed yet"
        return "True", "InSync", "running as declared"
    # Retrying, or waiting out a crash loop, is not Ready: `Reconciling` says monop is on it.
    reason = "Drifted" if seen.state is State.ORPHAN else seen.state.value
    return "False", reason, seen.message or seen.state.value


def evaluate(seen: Observation, previous: Sequence[Condition], now: float) -> ResourceStatus:
    """The status now; a condition keeps its transition time while its status stays the same."""
    before = {c.type: c for c in previous}

    def condition(kind: str, status: Truth, reason: str, message: str) -> Condition:
        old = before.get(kind)
        since = old.last_transition if old is not None and old.status == status else now
        return Condition(kind, status, reason, message, since)

    conditions = [condition(READY, *ready_of(seen))]
    if seen.reconciling and not seen.stalled:
        conditions.append(condition(RECONCILING, "True", "Progressing", seen.reconciling))
    if seen.stalled:
        conditions.append(condition(STALLED, "True", seen.stalled_reason, seen.stalled))
    return ResourceStatus(sync_of(seen), health_of(seen), tuple(conditions))


@dataclass(frozen=True)
class Transition:
    """A change worth an event: Normal when a resource became Ready, Warning when it stopped being."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def transitions(previous: Sequence[Condition], current: ResourceStatus) -> list[Transition]:
    """Ready's status or reason changed: a Warning when it is False (Normal for Suspended), Normal
    when it became True; none for Progressing."""
    before = {c.type: c for c in previous}
    ready, old = current.ready, before.get(READY)
    found = []
    if old is None or (old.status, old.reason) != (ready.status, ready.reason):
        if ready.status == "True":
            if old is not None:  # a resource first seen in sync is no news
                found.append(Transition("Normal", ready.reason, ready.message))
        elif ready.status == "False":
            # A person's suspension is news, not trouble.
            kind: Literal["Normal", "Warning"] = "Normal" if ready.reason == "Suspended" else "Warning"
            found.append(Transition(kind, ready.reason, ready.message))
    return found
