"""Keeping Prometheus in step: its file_sd and rule files, and what it says of each target.

`PrometheusSync` writes the targets of what monop owns and keeps, syncs the rule groups (checked
by promtool, reloaded, put back if refused), and asks Prometheus about every desired target. A
target down for longer than its `restartAfter` becomes a restart request, which the reconciler
hands to the planner as a hold: the daemon adds no action beside `plan()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from monop.api.duration import format_duration
from monop.daemon.metrics import Metrics
from monop.desired.state import DesiredState
from monop.prometheus import api as prom
from monop.prometheus import deadrules
from monop.prometheus import rules as rulefiles
from monop.prometheus import scrape as prometheus
from monop.prometheus.api import TargetHealth, TargetReport
from monop.prometheus.deadrules import DeadReport, DeadSelector
from monop.prometheus.series import SeriesLookup
from monop.reconcile.diff import Reason
from monop.reconcile.plan import Plan
from monop.reconcile.states import State
from monop.settings import Settings


class PrometheusSync:
    """The daemon's side of Prometheus: files written, rule groups refused, targets and their health."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics,
        log: Any,
        clock_wall: Callable[[], float],
        changed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self._wall = clock_wall
        self._changed = changed  # told when something worth saving changed
        self.targets: TargetReport | None = None
        self.rule_errors: dict[str, str] = {}  # rule groups promtool or Prometheus refused
        self.alertmanager_error: str | None = None  # why the desired alertmanager.yml is not the one running
        self.dead: DeadReport | None = None  # the last dead-selector check Prometheus answered
        self.dead_checked_at: float | None = None  # wall time of the last check tried
        self.rules_task: asyncio.Future[None] | None = None
        # Called once rule files and alertmanager.yml are written (not kept waiting by the
        # dead-selector check; not on a cancelled sync): the daemon tells the containers that mount them.
        self.after_written: Callable[[], None] = lambda: None
        self.writing = 0  # syncs writing files now: a reload then could show a file about to be rolled back
        self._rules_lock = asyncio.Lock()
        self._dead_lock = asyncio.Lock()  # one dead-selector check at a time, applied in the order asked
        self._dead_error: str | None = None  # why the last check could not ask Prometheus, logged once
        self._published: tuple[list[prometheus.Job], frozenset[str]] | None = None  # in the file_sd files
        self._down_since: dict[tuple[str, str], float] = {}  # (resource, instance) -> wall time
        self._restarts: dict[str, Reason] = {}  # key -> why its target says restart it

    def restart_requests(self) -> Mapping[str, Reason]:
        """Resources whose target stayed down past `restartAfter` while in sync: key -> why."""
        return dict(self._restarts)

    def down(self, key: str) -> str | None:
        """Why `key`'s Prometheus target is down (the first one that is), or None when none is."""
        if self.targets is None or not self.targets.reachable:
            return None
        now = self._wall()
        for target in self.targets.of(key):
            if target.health is TargetHealth.DOWN:
                since = self._down_since.get((key, target.instance), now)
                return (
                    f"target {target.instance} down for {format_duration(max(0.0, now - since))}: "
                    f"{target.error or 'no reason given'}"
                )
        return None

    def restarted(self, key: str) -> None:
        """`key` was restarted for its target: its request is met and its downtime counts anew."""
        self._restarts.pop(key, None)
        self._down_since = {spot: t for spot, t in self._down_since.items() if spot[0] != key}

    def write_targets(self, desired: DesiredState | None, seen: Plan, own_address: str) -> None:
        """Keep Prometheus's file_sd files equal to the scrape targets of what monop owns and keeps
        (as `seen`, a plan of the whole desired state, says), monop's own (`own_address`) included."""
        if desired is None:
            return
        jobs = prometheus.jobs(
            desired,
            self.settings.scrape_address,
            own_address,
            without=seen.unowned,
            instance=self.settings.instance,
        )
        if self._published == (jobs, seen.kept_orphans):
            return
        try:
            changed = prometheus.write_sd_files(jobs, self.settings.sd_dir, keep=seen.kept_orphans)
        except OSError as err:
            self.log.error(
                "prometheus_targets_write_failed", sd_dir=str(self.settings.sd_dir), error=str(err)
            )
            return
        self._published = (jobs, seen.kept_orphans)
        if changed:
            self.log.info("prometheus_targets_written", files=[str(p) for p in changed])

    def start_rules_sync(self, state: DesiredState) -> None:
        """Rule files, then alertmanager.yml, in the background (the tasks /readyz watches)."""
        self.rules_task = asyncio.ensure_future(self._sync_files(state))

    async def _sync_files(self, state: DesiredState) -> None:
        self.writing += 1
        try:
            await self.sync_rules(state)
            await self.sync_alertmanager(state)  # not kept waiting by the dead-selector check
        finally:
            self.writing -= 1
        self.after_written()
        await self.check_dead_selectors(state)
        self._changed()

    async def check_dead_selectors(self, state: DesiredState | None) -> None:
        """Ask Prometheus whether each rule's selectors match any series (monop.prometheus.deadrules);
        log each selector that turns dead or live again, export the counts. Raises nothing."""
        if not self.settings.prometheus_url or state is None:
            return
        async with self._dead_lock:
            # Serialised: the startup sync's check and the first periodic one would both log
            # each finding, and the older of two checks could overwrite the newer's report.
            await self._check_dead_selectors(state)

    async def _check_dead_selectors(self, state: DesiredState) -> None:
        self.dead_checked_at = self._wall()
        jobs = {
            job.name: job.targets[0].resource
            for job in prometheus.jobs(
                state, self.settings.scrape_address, None, instance=self.settings.instance
            )
            if job.targets
        }
        try:
            async with prom.connect(self.settings.prometheus_url) as api:
                assert api is not None
                report = await deadrules.check(state.rule_groups, SeriesLookup(api), jobs)
        except Exception as err:
            self.metrics.rule_checks.labels("error").inc()
            self.log.error("dead_selector_check_failed", error=str(err))
            return
        if not report.reachable:
            self.metrics.rule_checks.labels("unreachable").inc()
            if report.error != self._dead_error:
                self.log.warning("dead_selector_check_unreachable", url=report.url, error=report.error)
                self._dead_error = report.error
            return  # no answer is not news that the rules are dead or alive: the last report stays
        self._dead_error = None
        self.metrics.rule_checks.labels("ok").inc()
        known = set(self.dead.unchecked) if self.dead is not None else set()
        for refused in report.unchecked:
            if refused not in known:
                self.log.warning("dead_selector_check_refused", error=refused)
        before = {_dead_key(d) for d in self.dead.dead} if self.dead is not None else set()
        for d in report.dead:
            if _dead_key(d) not in before:
                self.log.warning(
                    "dead_selector_found",
                    group=d.group,
                    alert=d.rule,
                    selector=d.selector,
                    reason=d.reason.value,
                    why=d.message,
                    nearest=list(d.nearest),
                    job=d.job,
                )
        now = {_dead_key(d) for d in report.dead}
        for group, rule, selector, _ in sorted(before - now):
            self.log.info("dead_selector_cleared", group=group, alert=rule, selector=selector)
        self.dead = report
        self.metrics.set_dead_selectors(report.by_rule())
        self._changed()

    async def sync_rules(self, state: DesiredState) -> None:
        """Rule files equal to the desired AlertRuleGroups; a refused group keeps its previous file."""
        try:
            async with self._rules_lock, prom.connect(self.settings.prometheus_url) as api:
                # One sync at a time: a rollback never undoes a newer write.
                result = await rulefiles.sync(state.rule_groups, self.settings.rules_dir, api)
        except Exception as err:
            self.log.error("rule_files_sync_failed", rules_dir=str(self.settings.rules_dir), error=str(err))
            return
        desired = {rulefiles.group_of(g).name for g in state.rule_groups}
        self.rule_errors = {
            name: why
            for name, why in {**self.rule_errors, **result.rejected}.items()
            if name in desired and name not in result.written
        }
        for name in result.written:
            self.log.info("rule_group_written", group=name)
        for name in result.removed:
            self.log.info("rule_group_removed", group=name)
        for name, why in result.rejected.items():
            self.log.error("rule_group_rejected", group=name, error=why)
        if result.changed and result.reload_error is None and self.settings.prometheus_url:
            self.log.info("prometheus_reloaded", url=self.settings.prometheus_url)
        elif result.reload_error is not None:
            self.log.error("prometheus_reload_failed", error=result.reload_error)
        self._changed()

    async def sync_alertmanager(self, state: DesiredState) -> None:
        """alertmanager.yml equal to the desired receivers and routing, checked by amtool, reloaded
        and verified (monop.prometheus.alertmanager.sync logs each step); a refusal keeps the old one."""
        if not state.alerting:
            return
        from monop.prometheus import alertmanager

        try:
            async with alertmanager.connect(self.settings.alertmanager_url) as api:
                result = await alertmanager.sync(state.alerting, self.settings.alertmanager_config, api)
                found = await alertmanager.status(
                    state.alerting,
                    self.settings.alertmanager_config,
                    api,
                    result.rejected,
                    rule_groups=state.rule_groups,
                )
        except Exception as err:
            self.log.error(
                "alertmanager_config_sync_failed", path=str(self.settings.alertmanager_config), error=str(err)
            )
            self.metrics.alertmanager_syncs.labels("error").inc()
            return
        self.alertmanager_error = result.rejected or result.reload_error
        self.metrics.set_alertmanager(found, self._wall())
        if found.refused:
            self.log.warning("alertmanager_config_not_running", state=found.state.value, error=found.error)
        outcome = "rejected" if result.rejected else "rolled_back" if result.rolled_back else "written"
        if result.written or result.rejected or result.rolled_back:
            self.metrics.alertmanager_syncs.labels(outcome).inc()

    async def check_targets(
        self, desired: DesiredState | None, states: Mapping[str, State], own_address: str
    ) -> list[str]:
        """Ask Prometheus about every desired target; the keys that now ask for a restart.

        A target that opted in (`restartAfter`) and stayed down that long while its resource is
        in sync becomes a restart request (`restart_requests`).
        """
        if not self.settings.prometheus_url or desired is None:
            return []
        unowned = {key for key, state in states.items() if state is State.CONFLICT}
        jobs = prometheus.jobs(
            desired,
            self.settings.scrape_address,
            own_address,
            without=unowned,
            instance=self.settings.instance,
        )
        async with prom.connect(self.settings.prometheus_url) as api:
            assert api is not None
            report = await prom.verify(jobs, api, self.settings.instance)
            rules = await rulefiles.statuses(
                desired.rule_groups, self.settings.rules_dir, api, self.rule_errors
            )
        if self.targets is not None and self.targets.reachable != report.reachable:
            self.log.warning(
                "prometheus_unreachable" if not report.reachable else "prometheus_reachable",
                url=report.url,
                error=report.error,
            )
        self.targets = report
        self.metrics.set_targets(report)
        self.metrics.set_rules(r.state for r in rules)
        interval = self.settings.rule_check_interval
        if interval and (self.dead_checked_at is None or self._wall() - self.dead_checked_at >= interval):
            await self.check_dead_selectors(desired)
        if not report.reachable:
            return []  # no news of the targets is not news that they are down
        now = self._wall()
        restart_after = {
            (t.resource, t.instance): t.restart_after_s
            for job in jobs
            for t in job.targets
            if t.restart_after_s
        }
        down = set()
        requests: dict[str, Reason] = {}
        for target in report.targets:
            spot = (target.resource, target.instance)
            if target.health is not TargetHealth.DOWN:
                continue
            down.add(spot)
            since = self._down_since.setdefault(spot, now)
            limit = restart_after.get(spot)
            if limit is not None and now - since >= limit and states.get(target.resource) is State.IN_SYNC:
                requests[target.resource] = Reason(
                    f"target {target.instance} down for {format_duration(now - since)}: "
                    f"{target.error or 'no reason given'}"
                )
        for spot in set(self._down_since) - down:
            del self._down_since[spot]
        self._restarts = requests
        return sorted(requests)


def _dead_key(d: DeadSelector) -> tuple[str, str, str, str]:
    """What makes a dead selector the same finding from one check to the next."""
    return (d.group, d.rule, d.selector, d.reason.value)
