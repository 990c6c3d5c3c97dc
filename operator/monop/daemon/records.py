"""What the daemon remembers of each resource, and what it tells the outside of it.

`Records` is the one place each reconcile's result lands: the per-resource record (kept in
`status.json` by the daemon's save), the state counts in `monop_resources{state}` and the
one-line summary to systemd. Two methods receive everything worth turning into conditions and
events: `seen` (each resource's fresh Status after a look at Podman) and `acted` (each outcome,
deferral or stall of one resource).

`holds_from_state` gives `monop plan` and `monop apply` the planner's holds from the files a
daemon leaves (its crash-loop counters and stalled resources) and the suspend file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from monop.controller.backoff import CrashLoop
from monop.controller.clock import RealClock
from monop.daemon import systemd
from monop.daemon.metrics import Metrics
from monop.daemon.statestore import ResourceRecord, StateStore
from monop.desired.suspend import read_suspended
from monop.reconcile.execute import Outcome
from monop.reconcile.holds import Deferral, Deferred, Holds, Stall
from monop.reconcile.plan import RESTARTS, Action, Status
from monop.reconcile.states import State


@dataclass(frozen=True)
class Act:
    """What became of one resource's action: carried out (`outcome`), or held back (`deferred`)."""

    key: str
    status: Status | None  # as planned
    action: Action
    outcome: Outcome | None = None
    deferred: Deferral | None = None
    stalled: bool = False  # the outcome's error needs a person; not retried
    retry_at: float | None = None  # wall seconds of the next attempt, when one is due


class Records:
    """Each resource's record and state; `seen` and `acted` are called with every fresh fact."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        clock_wall: Callable[[], float],
        health_record: Callable[[str], dict[str, Any] | None],
        changed: Callable[[], None],
    ) -> None:
        self.metrics = metrics
        self._wall = clock_wall
        self._health_record = health_record  # monop's own check verdicts of a resource, for its record
        self._changed = changed  # told when something worth saving changed
        self.records: dict[str, ResourceRecord] = {}
        self.states: dict[str, State] = {}  # the last state seen of each resource, orphan, conflict
        self._status_line = ""

    def restore(self, records: dict[str, ResourceRecord]) -> None:
        self.records = dict(records)

    def seen(self, statuses: Iterable[Status], *, complete: bool = False) -> None:
        """Fresh statuses after a look at Podman; `complete`: of every resource there is, so the
        records of the others (neither desired nor running) are dropped."""
        statuses = list(statuses)
        if complete:
            current = {s.key for s in statuses}
            for key in set(self.records) - current:
                del self.records[key]  # neither desired nor running: nothing left to report
            self.states = {}
        for status in statuses:
            self.states[status.key] = status.state
        self.publish()

    def unchanged(self, key: str, status: Status | None) -> None:
        """`key` needed nothing (or a person holds its action back)."""
        self.record(
            key,
            state=status.state if status else None,
            last_result="success",
            last_error=None,
        )

    def acted(self, act: Act) -> None:
        """One resource's action went (`act.outcome`), or waits (`act.deferred`)."""
        action, outcome = act.action, act.outcome
        if act.deferred is not None:
            if act.deferred.reason is Deferred.CRASH_LOOP:
                self.record(
                    act.key, state=State.CRASH_LOOP, backoff_until=act.deferred.until, last_result="requeue"
                )
            elif act.deferred.reason is Deferred.STALLED:
                self.record(act.key, state=State.STALLED, last_result="stalled")
            else:
                self.unchanged(act.key, act.status)
            return
        assert outcome is not None
        previous = self.records.get(act.key) or ResourceRecord(act.key)
        result = "success" if outcome.ok else ("stalled" if act.stalled else "error")
        self.record(
            act.key,
            state=State.IN_SYNC if outcome.ok else (State.STALLED if act.stalled else State.FAILED),
            last_result=result,
            last_action=action.kind.value,
            last_reason="; ".join(str(r) for r in action.reasons),
            last_error=outcome.error,
            restart_count=previous.restart_count + (action.kind in RESTARTS),
            backoff_until=act.retry_at,
            stalled_spec_hash=(action.unit.spec_hash if action.unit else None) if act.stalled else None,
        )

    def forget(self, key: str) -> None:
        """An orphan removed: nothing left to remember of it."""
        self.records.pop(key, None)
        self.states.pop(key, None)
        self.publish()

    def record(self, key: str, **fields: object) -> None:
        record = self.records.get(key) or ResourceRecord(key)
        fields.setdefault("backoff_until", None)
        fields.setdefault("stalled_spec_hash", None)
        fields["health"] = self._health_record(key)
        state = fields.get("state")
        if isinstance(state, State):
            fields["state"] = state.value
            self.states[key] = state
            self.publish()
        self.records[key] = replace(record, last_reconcile_at=self._wall(), **fields)  # type: ignore[arg-type]
        self._changed()

    def publish(self) -> None:
        """Counts by state to the metrics, and a one-line summary to systemd when it changed."""
        self.metrics.set_states(self.states.values())
        drifted = sum(not state.ok for state in self.states.values())
        line = f"{len(self.states)} resources, {drifted} drifted"
        if line != self._status_line:
            self._status_line = line
            systemd.status(line)


def holds_from_state(state_dir: Path, now: float | None = None, *, stalled: bool = True) -> Holds:
    """The holds a daemon on `state_dir` plans with, as far as its files tell (wall time `now`).

    Crash loops and stalled resources come from `status.json` (none when it is missing or
    unreadable), suspended resources from `suspended.json`. Restarts for a target that is down
    are the running daemon's alone: none here. `stalled=False` leaves stalls out (`apply`: a
    person asking is what a stalled resource waits for).
    """
    now = time.time() if now is None else now
    daemon, records = StateStore(state_dir).load()
    loops = CrashLoop(RealClock())
    if daemon is not None:
        loops.restore(daemon.crash_loops)
    stalls = {
        key: Stall(record.stalled_spec_hash, record.last_error or "stalled")
        for key, record in records.items()
        if stalled and record.state == State.STALLED.value
    }
    return Holds(
        now,
        crash_loops=loops.holds(now),
        suspended=frozenset(read_suspended(state_dir)),
        stalled=stalls,
    )
