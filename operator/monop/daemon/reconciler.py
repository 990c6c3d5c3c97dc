"""The per-key reconciler the daemon's work queue drives: `ResourceReconciler.reconcile(key) -> Result`.

Level-based, like controller-runtime's: a key says only *which* resource to look at; the
reconciler re-reads the world (one shared container list), plans with the same `plan()` and the
same kind of holds as `monop plan` and `monop apply`, and carries out that key's action unless
the plan defers it. Around that one call it keeps what only a long-running process can know:
crash-loop counters, stalled resources, and which keys wait for another key's removal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monop.controller.backoff import CrashLoop
from monop.controller.workers import Result
from monop.daemon.records import Act
from monop.desired.suspend import read_suspended
from monop.errors import ActionError, PodmanError, PodmanUnavailable
from monop.reconcile.execute import Outcome, execute
from monop.reconcile.holds import Deferred, Holds, Stall
from monop.reconcile.plan import RESTARTS, Action, Plan, Status, fleet_host, plan
from monop.reconcile.states import ActionKind
from monop.runtime.observed import ObservedState

if TYPE_CHECKING:
    from monop.daemon.daemon import Daemon

# Actions that take a name or host ports, and so wait for the plan's removals (the planner's order).
_TAKES = {ActionKind.CREATE, ActionKind.RECREATE, ActionKind.START, ActionKind.COMPLETE}
# The kinds monop_reconcile_total and its duration are kept for.
_KINDS = ("Exporter", "CAdvisor", "BusinessService")


class ResourceReconciler:
    """Reconciles one key at a time for `daemon` (the wiring: Podman, records, Prometheus side)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.crash_loop = CrashLoop(daemon.clock)
        self.stalls: dict[str, Stall] = {}  # keys waiting for a person, with the spec that failed
        self._after_removals: set[str] = set()  # keys waiting for other keys' removals
        self._queued_at: dict[str, float] = {}  # monotonic time each waiting key was queued
        self._event_at: dict[str, float] = {}  # monotonic time of the Podman event that queued it

    def queued(self, key: str, event_at: float | None = None) -> None:
        """`key` was queued now (by a Podman event at `event_at`): its next look must be fresher."""
        self._queued_at.setdefault(key, self.daemon.clock.now())
        if event_at is not None:
            self._event_at.setdefault(key, event_at)

    def unstall(self, key: str | None = None) -> None:
        """Try `key` (every key: None) again although it stalled: the desired state was read again,
        or a person asked."""
        if key is None:
            self.stalls.clear()
        else:
            self.stalls.pop(key, None)

    def holds(self) -> Holds:
        """Everything besides desired and observed state that decides an action, now."""
        d = self.daemon
        now = d.clock.wall()
        return Holds(
            now,
            crash_loops=self.crash_loop.holds(now),
            restarts=d.prometheus.restart_requests(),
            suspended=frozenset(read_suspended(d.settings.state_dir)),
            stalled=dict(self.stalls),
        )

    def survey(self, observed: ObservedState) -> Plan:
        """The plan of the whole desired state against `observed`, with the daemon's holds."""
        d = self.daemon
        desired = list((d.source.units or {}).values())
        host = fleet_host(d.source.desired)
        d.health_checks.follow(desired, observed, host)
        return plan(
            desired,
            observed,
            prune=True,
            health=d.health_checks.knowledge(),
            instance=d.settings.instance,
            holds=self.holds(),
            host=host,
        )

    async def reconcile(self, key: str) -> Result:
        """Look at `key` afresh and carry out its planned action, unless the plan defers it.

        The Result asks the work queue for what comes next: `error` (retried after the key's
        backoff; Podman unreachable included), `error` with `terminal` (Stalled: not retried),
        `requeue_after` seconds (a crash loop's wait, or other keys' removals first).
        """
        try:
            return await self._reconcile(key)
        except PodmanUnavailable as err:
            self._finish(key, "error", self.daemon.clock.now())
            return Result(error=str(err))

    async def _reconcile(self, key: str) -> Result:
        d = self.daemon
        if d.source.units is None:
            return Result()  # without a valid desired state nothing is created or removed
        queued_at = self._queued_at.pop(key, d.clock.now())
        started = d.clock.now()
        observed = await d.observe(queued_at)
        result = self.survey(observed)
        d.write_targets(result)
        status = next((s for s in result.statuses if s.key == key), None)
        action = next((a for a in result.actions if a.key == key), None)
        if status is not None:
            d.records.seen([status])
        if status is not None and status.container is not None and status.state.ok:
            started_at = status.container.started_at
            self.crash_loop.observed_running(key, started_at.timestamp() if started_at else None)
        if action is None:
            self._event_at.pop(key, None)  # the event changed nothing that needed repair
            self.stalls.pop(key, None)  # nothing to do: whatever stalled it is over
            d.records.unchanged(key, status)
            self._finish(key, "success", started)
            return Result()
        if action.deferred is not None:
            return self._deferred(key, status, action, started)
        removals = self._removals_first(key, action, result)
        if removals:
            # An orphan may still hold the host port or name this action takes: removals first,
            # across resources as within one plan. Its removal queues this key again.
            self._after_removals.add(key)
            for other in removals:
                d.enqueue(other)
            self._finish(key, "requeue", started)
            d.log.info("waiting_for_removals", resource=key, removals=removals)
            return Result(requeue_after=1.0)
        if action.kind in RESTARTS:
            self.crash_loop.record_restart(key)
        [outcome] = await execute(Plan((status,) if status else (), (action,)), d.podman)
        if action.kind is ActionKind.RESTART and key in d.prometheus.restart_requests():
            d.prometheus.restarted(key)
        if key in self._queued_at:
            # Queued again while this ran: its next run must see Podman as this action left it,
            # not a snapshot taken before (which would plan the same create again).
            self._queued_at[key] = d.clock.now()
        return self._after(key, status, outcome, started)

    def _deferred(self, key: str, status: Status | None, action: Action, started: float) -> Result:
        """The plan holds `key`'s action back: say so once per look, and come back when it may go."""
        d = self.daemon
        deferred = action.deferred
        assert deferred is not None
        d.records.acted(Act(key, status, action, deferred=deferred))
        if deferred.reason is Deferred.CRASH_LOOP and deferred.until is not None:
            wait = max(0.0, deferred.until - d.clock.wall())
            self._finish(key, "requeue", started)
            d.log.warning("crash_loop_backoff", resource=key, restart_in=round(wait, 1))
            return Result(requeue_after=wait)
        self._event_at.pop(key, None)
        self._finish(key, "stalled" if deferred.reason is Deferred.STALLED else "success", started)
        return Result()  # a person acts next: an edit, `monop resume`, `monop reconcile`

    def _removals_first(self, key: str, action: Action, result: Plan) -> list[str]:
        """Other keys whose removal `action` waits for; one that failed before is not waited for."""
        if action.kind not in _TAKES:
            return []
        return sorted(
            {
                a.key
                for a in result.runnable
                if a.kind is ActionKind.REMOVE and a.key != key and self.daemon.backoff.attempts(a.key) == 0
            }
        )

    def _after(self, key: str, status: Status | None, outcome: Outcome, started: float) -> Result:
        d = self.daemon
        action = outcome.action
        failure = outcome.failure
        kind = key.split("/", 1)[0]
        d.metrics.actions.labels(kind, action.kind.value, "success" if outcome.ok else "error").inc()
        if failure is not None:
            operation = podman_operation(failure)
            if operation is not None:
                d.metrics.podman_errors.labels(operation).inc()
        event_at = self._event_at.pop(key, None)
        if event_at is not None and outcome.ok:
            d.metrics.event_to_repair.observe(d.clock.now() - event_at)
        if outcome.ok and action.kind is ActionKind.REMOVE:
            for waiting in sorted(self._after_removals):
                d.enqueue(waiting)
            self._after_removals.clear()
            if key not in (d.source.units or {}):
                d.records.forget(key)  # an orphan gone is nothing to remember
                self.crash_loop.forget(key)
                self._finish(key, "success", started)
                return Result()
        if failure is not None and failure.terminal:
            self.stalls[key] = Stall(
                action.unit.spec_hash if action.unit else None, str(failure), failure.reason
            )
            d.records.acted(Act(key, status, action, outcome, stalled=True))
            d.log.error("resource_stalled", resource=key, error=str(failure))
            self._finish(key, "stalled", started)
            return Result(error=str(failure), terminal=True)
        retry_at = None if outcome.ok else d.clock.wall() + d.backoff.next_delay(key)
        d.records.acted(Act(key, status, action, outcome, retry_at=retry_at))
        self._finish(key, "success" if outcome.ok else "error", started)
        return Result() if failure is None else Result(error=str(failure))

    def _finish(self, key: str, result: str, started: float) -> None:
        kind = key.split("/", 1)[0]
        if kind in _KINDS:
            d = self.daemon
            d.metrics.reconciles.labels(kind, result).inc()
            d.metrics.reconcile_seconds.labels(kind).observe(d.clock.now() - started)


def podman_operation(failure: Exception) -> str | None:
    """The Podman API operation that failed (`create`, `pull`, ...), or None when none did."""
    if isinstance(failure, ActionError) and failure.cause is not None:
        failure = failure.cause
    return failure.operation if isinstance(failure, PodmanError) else None
