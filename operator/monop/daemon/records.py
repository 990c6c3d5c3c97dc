"""What the daemon remembers of each resource, and what it tells the outside of it.

`Records` is the one place each reconcile's result lands: the per-resource record (kept in
`status.json` by the daemon's save), the state counts in `monop_resources{host,state}` and the
one-line summary to systemd. Two methods receive everything worth turning into conditions and
events: `seen` (each resource's fresh Status after a look at Podman) and `acted` (each outcome,
deferral or stall of one resource).

Each look and each outcome also gives the resource its status in the field's own terms
(monop.reconcile.status: sync, health, Ready/Reconciling/Stalled conditions), kept in its record
and exported as `monop_resource_info` and `monop_resource_condition`; every change of Ready and
every action is an event (monop.daemon.events).

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
from monop.daemon.events import Event, EventLog
from monop.daemon.metrics import Metrics
from monop.daemon.statestore import ResourceRecord, StateStore
from monop.desired.suspend import read_suspended
from monop.reconcile.execute import Outcome
from monop.reconcile.health import Health
from monop.reconcile.holds import Deferral, Deferred, Holds, Stall
from monop.reconcile.plan import RESTARTS, Action, Status
from monop.reconcile.states import ActionKind, State
from monop.reconcile.status import Condition, Observation, evaluate, transitions

# The event reason of each action carried out, as Kubernetes' kubelet names its own.
_DONE = {
    ActionKind.CREATE: "Created",
    ActionKind.RECREATE: "Recreated",
    ActionKind.COMPLETE: "Recreated",
    ActionKind.START: "Started",
    ActionKind.RESTART: "Restarted",
    ActionKind.UNPAUSE: "Unpaused",
    ActionKind.REMOVE: "Removed",
}


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
        events: EventLog | None = None,
        revision: Callable[[], str | None] = lambda: None,
        target_down: Callable[[str], str | None] = lambda key: None,
        write_failed: Callable[[Path, OSError], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.events = events
        self._revision = revision  # the revision of the desired state in force
        self._target_down = target_down  # why a resource's Prometheus target is down, or None
        self._write_failed = write_failed
        self._wall = clock_wall
        self._health_record = health_record  # monop's own check verdicts of a resource, for its record
        self._changed = changed  # told when something worth saving changed
        self.records: dict[str, ResourceRecord] = {}
        self.states: dict[str, State] = {}  # the last state seen of each resource, orphan, conflict
        self._last: dict[str, Status] = {}  # the last status the planner gave each
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
                self.metrics.forget_resource(key)
            self.states = {}
            self._last = {}
        for status in statuses:
            self.states[status.key] = status.state
            self._last[status.key] = status
            self.judge(status.key)
        self.publish()

    def unchanged(self, key: str, status: Status | None) -> None:
        """`key` needed nothing (or a person holds its action back)."""
        self.record(
            key,
            state=status.state if status else None,
            last_result="success",
            last_error=None,
        )
        if status is not None:
            self._last[key] = status
        self.judge(key)

    def acted(self, act: Act) -> None:
        """One resource's action went (`act.outcome`), or waits (`act.deferred`)."""
        action, outcome = act.action, act.outcome
        if act.deferred is not None:
            if act.deferred.reason is Deferred.CRASH_LOOP:
                self.record(
                    act.key, state=State.CRASH_LOOP, backoff_until=act.deferred.until, last_result="requeue"
                )
            elif act.deferred.reason is Deferred.STALLED:
                # Still the stall of the same spec: what failed and why stay (plan and apply read them).
                before = self.records.get(act.key) or ResourceRecord(act.key)
                self.record(
                    act.key,
                    state=State.STALLED,
                    last_result="stalled",
                    stalled_spec_hash=before.stalled_spec_hash,
                    stalled_reason=before.stalled_reason,
                )
            else:
                self.unchanged(act.key, act.status)
                return
            self.judge(act.key)
            return
        assert outcome is not None
        previous = self.records.get(act.key) or ResourceRecord(act.key)
        result = "success" if outcome.ok else ("stalled" if act.stalled else "error")
        failure = outcome.failure
        reason = failure.reason if failure is not None else ""
        stalled_reason = reason if act.stalled else None
        revision = self._revision()
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
            stalled_reason=stalled_reason,
            last_attempted_revision=revision,
            last_applied_revision=revision if outcome.ok else previous.last_applied_revision,
        )
        why = "; ".join(str(r) for r in action.reasons)
        if outcome.ok:
            self.emit("Normal", _DONE[action.kind], why, act.key)
        else:
            self.emit("Warning", reason, str(outcome.error), act.key)
        self.judge(act.key, quiet=outcome.ok)

    def forget(self, key: str) -> None:
        """An orphan removed: nothing left to remember of it."""
        self.records.pop(key, None)
        self.states.pop(key, None)
        self._last.pop(key, None)
        self.metrics.forget_resource(key)
        self.publish()

    def record(self, key: str, **fields: object) -> None:
        record = self.records.get(key) or ResourceRecord(key)
        fields.setdefault("backoff_until", None)
        fields.setdefault("stalled_spec_hash", None)
        fields.setdefault("stalled_reason", None)
        fields["health"] = self._health_record(key)
        state = fields.get("state")
        if isinstance(state, State):
            fields["state"] = state.value
            self.states[key] = state
            self.publish()
        self.records[key] = replace(record, last_reconcile_at=self._wall(), **fields)  # type: ignore[arg-type]
        self._changed()

    def judge(self, key: str, *, quiet: bool = False) -> None:
        """Work out `key`'s sync, health and conditions now; a change of Ready is an event.

        `quiet`: an action's own event has just said it (`Recreated`), so Ready becoming True
        again is not said twice.
        """
        record = self.records.get(key) or ResourceRecord(key)
        seen = self._observation(key, record)
        previous = [c for c in map(Condition.from_json, record.conditions or []) if c is not None]
        status = evaluate(seen, previous, self._wall())
        for change in transitions(previous, status):
            if not (quiet and change.type == "Normal"):
                self.emit(change.type, change.reason, change.message, key)
        in_sync = status.ready.status == "True"
        self.records[key] = replace(
            record,
            sync=status.sync.value,
            health_status=status.health.value,
            conditions=[c.to_json() for c in status.conditions],
            suspended=seen.suspended,
            last_applied_revision=self._revision() if in_sync else record.last_applied_revision,
        )
        self.metrics.set_resource(key, status)

    def refresh(self) -> None:
        """Judge every resource again (its target's health changed, not its container)."""
        for key in list(self._last):
            self.judge(key)
        self._changed()

    def _observation(self, key: str, record: ResourceRecord) -> Observation:
        status = self._last.get(key)
        state = self.states.get(key) or State.MISSING
        hold = status.hold if status is not None else None
        container = status.container if status is not None else None
        if state in (State.FAILED, State.STALLED):
            message = record.last_error or state.value
        elif status is not None and status.state is state:
            message = "; ".join(str(r) for r in status.reasons)
        else:
            message = ""
        retrying = record.last_result == "error" and record.backoff_until is not None
        verdict = status.health if status is not None else None
        return Observation(
            state,
            message,
            running=state.ok or (container is not None and container.state == "running"),
            reconciling=(
                str(hold)
                if hold is not None and hold.reason is Deferred.CRASH_LOOP
                else f"retrying: {record.last_error}"
                if retrying and not state.ok
                else None
            ),
            stalled=(record.last_error or "stalled") if state is State.STALLED else None,
            stalled_reason=record.stalled_reason or "Stalled",
            suspended=hold is not None and hold.reason is Deferred.SUSPENDED,
            target_down=self._target_down(key) if state.ok else None,
            starting=(verdict is not None and verdict.health is Health.STARTING)
            or (container is not None and container.health == "starting"),
        )

    def emit(self, kind: str, reason: str, message: str, key: str | None = None) -> None:
        """Record an event (logged always; kept in events.jsonl when it can be written)."""
        if self.events is None:
            return
        event = Event(
            self._wall(), "Warning" if kind == "Warning" else "Normal", reason, message, key, self._revision()
        )
        try:
            self.events.emit(event)
        except OSError as err:
            if self._write_failed is not None:
                self._write_failed(self.events.path, err)

    def publish(self) -> None:
        """Counts by state to the metrics, and a one-line summary to systemd when it changed."""
        self.metrics.set_states(self.states.values())
        self.metrics.suspended.set(sum(r.suspended for r in self.records.values()))
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
        key: Stall(
            record.stalled_spec_hash, record.last_error or "stalled", record.stalled_reason or "Stalled"
        )
        for key, record in records.items()
        if stalled and record.state == State.STALLED.value
    }
    return Holds(
        now,
        crash_loops=loops.holds(now),
        suspended=frozenset(read_suspended(state_dir)),
        stalled=stalls,
    )
