"""`monop run`: the long-running controller. Triggers queue keys; workers reconcile one key at a time.

Level-based, like a Kubernetes controller: a key says only *which* resource to look at; the
worker re-reads the world (one shared container list), plans, and carries out that key's action.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry

from monop import log, secrets
from monop.api.duration import format_duration
from monop.controller.backoff import Backoff, CrashLoop
from monop.controller.clock import Clock, RealClock
from monop.controller.queue import WorkQueue
from monop.controller.workers import Result, Workers
from monop.daemon import systemd
from monop.daemon.healthrun import HealthRunner
from monop.daemon.metrics import Metrics
from monop.daemon.statestore import DaemonLock, DaemonRecord, ResourceRecord, StateStore
from monop.daemon.supervise import Health, inject
from monop.desired import source
from monop.desired.git import Commit, GitError
from monop.desired.source import Revision
from monop.desired.state import DesiredState
from monop.errors import InvalidDesiredState, PodmanUnavailable
from monop.prometheus import api as prom
from monop.prometheus import rules as rulefiles
from monop.prometheus import scrape as prometheus
from monop.prometheus.api import TargetHealth, TargetReport
from monop.reconcile.diff import Reason
from monop.reconcile.execute import Outcome, execute
from monop.reconcile.health import Mode
from monop.reconcile.plan import Action, Plan, Unit, plan, units
from monop.reconcile.states import ActionKind, State
from monop.runtime.observed import ObservedState
from monop.runtime.podman import Podman, PodmanError, resolve_url
from monop.settings import Settings

_RESTARTS = {ActionKind.START, ActionKind.RESTART, ActionKind.UNPAUSE}
# Parts of the daemon that /readyz names when they are down (supervised tasks are `task <name>`).
STATE_WRITES = "state writes"
DESIRED_LOAD = "desired-state load"
DESIRED_PATH = "desired path"
# Actions that take a name or host ports, and so wait for the plan's removals (the planner's order).
_TAKES = {ActionKind.CREATE, ActionKind.RECREATE, ActionKind.START, ActionKind.COMPLETE}


class Daemon:
    """Holds the last valid desired state and what the daemon knows of each resource."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        load_settings: Callable[[], Settings] | None = None,
    ) -> None:
        self.settings = settings
        _remember_setting_secrets(settings)
        self.clock = clock or RealClock()
        self.metrics = Metrics(registry or CollectorRegistry())
        self._reload_settings = load_settings
        self.queue = WorkQueue(self.clock)
        self.metrics.follow_queue("resources", self.queue)
        self.backoff = Backoff(self.clock)
        self.crash_loop = CrashLoop(self.clock)
        self.workers = Workers(self.queue, self.reconcile, self.backoff, n=settings.workers)
        self.store = StateStore(settings.state_dir, shared=(settings.sd_dir, settings.rules_dir))
        self.lock = DaemonLock(settings.state_dir)
        self.podman = Podman(resolve_url(settings.podman_url), on_request=self.metrics.podman_request)
        self.health_checks = HealthRunner(
            self.podman,
            self.clock,
            lambda key: self.enqueue(key),
            mode=Mode(settings.health_checks),
            podman_url=self.podman.url,
            metrics=self.metrics,
            instance=settings.instance,
        )
        self.units: dict[str, Unit] | None = None  # None until a valid desired state was read
        self.desired: DesiredState | None = None
        self.targets: TargetReport | None = None
        self._published: tuple[list[prometheus.Job], frozenset[str]] | None = None  # in the file_sd files
        self._down_since: dict[tuple[str, str], float] = {}  # (resource, instance) -> wall time
        self._target_restart: dict[str, str] = {}  # key -> why its target says restart it
        self.rule_errors: dict[str, str] = {}  # rule groups promtool or Prometheus refused
        self.git = source.git_source(settings, on_fetch=self.metrics.git_fetched)
        self.applied: Commit | None = None  # the revision in force
        self.newest: Commit | None = None  # the branch's newest commit, as last fetched
        self.rejected: dict[str, Any] | None = None  # the last revision refused, while it is the newest
        self._restored_applied: str | None = None
        self.held: str | None = None  # the revision `monop rollback` holds, as last read
        self.refresh_task: asyncio.Future[None] | None = None
        self._refresh_again = False
        self.rules_task: asyncio.Future[None] | None = None
        self._rules_lock = asyncio.Lock()
        self.desired_error: str | None = None
        self.podman_reachable = False
        self.records: dict[str, ResourceRecord] = {}
        self.states: dict[str, State] = {}  # the last state seen of each resource, orphan, conflict
        self._status_line = ""
        self.started_at = self.clock.wall()
        self.http_address: str | None = None  # host:port the HTTP server listens on, once it does
        self.last_full_reconcile: float | None = None
        self._snapshot: tuple[float, asyncio.Task[ObservedState]] | None = None
        self._queued_at: dict[str, float] = {}
        self._event_at: dict[str, float] = {}
        self.health = Health(self.clock)  # parts not doing their job now: /readyz, status, the watchdog
        self._rejected_recorded: set[str] = set()  # revisions whose rejection is in the history
        self._after_removals: set[str] = set()  # keys waiting for other keys' removals
        self.log = log.get()

    # -- state -------------------------------------------------------------------------------

    @property
    def ready(self) -> tuple[bool, str]:
        """Ready, or not and every reason why (the /readyz body)."""
        why = []
        if self.units is None:
            why.append(f"no valid desired state: {self.desired_error or 'not read yet'}")
        if not self.podman_reachable:
            why.append(f"cannot reach Podman at {self.podman.url}")
        down = self.health.summary()
        if down:
            why.append(down)
        return (False, "; ".join(why)) if why else (True, "ready")

    def restore(self) -> None:
        """Pick up the previous daemon's counters: restarts, crash loops."""
        daemon, self.records, unreadable = self.store.recover()
        if unreadable is not None:
            self.log.error(
                "state_file_unreadable",
                path=str(self.store.path),
                error=unreadable.reason,
                kept_as=str(unreadable.kept_as) if unreadable.kept_as else None,
            )
        self._rejected_recorded = {
            str(e.get("revision")) for e in self.store.history() if e.get("result") == "rejected"
        }
        if daemon is not None:
            self.crash_loop.restore(daemon.crash_loops)
            self.last_full_reconcile = daemon.last_full_reconcile_at
            applied = (daemon.git or {}).get("applied") or {}
            self._restored_applied = applied.get("revision")  # used when the remote cannot be reached
            # What was newest, and refused, stays so until a fetch says otherwise.
            self.newest = _commit_of((daemon.git or {}).get("newest"))
            rejected = (daemon.git or {}).get("rejected")
            if self.newest is not None and rejected and rejected.get("revision") == self.newest.sha:
                self.rejected = rejected
                self.desired_error = "; ".join(rejected.get("errors") or []) or "rejected"
                self.metrics.desired_valid.set(0)

    def save(self) -> None:
        ready, _ = self.ready
        daemon = DaemonRecord(
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=self.clock.wall(),
            source=str(self.settings.desired),
            ready=ready,
            podman_reachable=self.podman_reachable,
            desired_error=self.desired_error,
            last_full_reconcile_at=self.last_full_reconcile,
            crash_loops=self.crash_loop.to_json(),
            metrics_address=self.http_address,
            rule_errors=dict(self.rule_errors),
            git=self.git_record(),
            resync_interval=self.settings.resync_interval,
            down=self.health.to_json(),
        )
        try:
            self.store.save(daemon, self.records)
        except OSError as err:
            self._state_write_failed(self.store.path, err)
        else:
            if self.health.up(STATE_WRITES):
                self.log.info("state_write_recovered", path=str(self.store.path))
        self.metrics.ready.set(1 if self.ready[0] else 0)

    def _state_write_failed(self, path: object, err: OSError) -> None:
        """One clear line when writes start failing (a full disk), a count for every one that does."""
        self.metrics.state_write_errors.inc()
        if self.health.down(STATE_WRITES, f"cannot write {path}: {err.strerror or err}"):
            self.log.error("state_write_failed", path=str(path), error=err.strerror or str(err))

    def _append_history(self, entry: dict[str, Any]) -> None:
        try:
            self.store.append_history(entry)
        except OSError as err:
            self._state_write_failed(self.store.directory / "history.jsonl", err)

    def reload_desired(self) -> bool:
        """Read the desired state; an invalid one is refused and the last valid one stays in force.

        The files are read (and a git source fetched) in a worker thread, off the event loop, one
        refresh at a time (a trigger during one runs another after it); returns True.
        """
        self._schedule_refresh()
        return True

    def _schedule_refresh(self) -> None:
        if self.refresh_task is not None and not self.refresh_task.done():
            self._refresh_again = True
            return
        self.refresh_task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        while True:
            self._refresh_again = False
            try:
                inject("desired-load")
                await self._refresh_once()
            # A bug met while loading (an exception nobody foresaw): said, counted, and the next
            # trigger (an edit, a fetch, SIGHUP) tries again; the last valid state stays in force.
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
                self.metrics.task_failures.labels("desired-load").inc()
                self.metrics.desired_valid.set(0)
                self.health.down(DESIRED_LOAD, error)
                self.log.exception("desired_state_load_failed", source=self._source_name, error=error)
                self.save()
            else:
                if self.health.up(DESIRED_LOAD):
                    self.save()
            if not self._refresh_again:
                return

    async def _refresh_once(self) -> None:
        """Fetch the branch; adopt the commit to follow (the held one, else the newest) if valid."""
        if self.git is None:
            try:
                revision = await asyncio.to_thread(source.read, self.settings)
            except InvalidDesiredState as err:
                self._reject(err, None)
                return
            self._adopt(revision)
            return
        git = self.git
        try:
            self.newest = await asyncio.to_thread(git.fetch)
        except GitError as err:
            self.metrics.git_fetch_errors.inc()
            self.log.warning("git_fetch_failed", error=str(err))
        hold = source.read_hold(self.settings.state_dir)
        self.held = hold.revision if hold else None
        wanted = self.held or (self.newest.sha if self.newest else self._restored_applied)
        if wanted is None:
            self.save()
            return
        try:
            # The newest commit was just read by the fetch; only another revision needs git again.
            if self.newest is not None and self.newest.sha == wanted:
                commit = self.newest
            else:
                commit = await asyncio.to_thread(git.commit, wanted)
        except GitError as err:
            self.log.error("git_revision_unknown", revision=wanted, error=str(err))
            self.save()
            return
        if self.applied is not None and commit.sha == self.applied.sha and self.units is not None:
            self.save()
            return
        if (
            self.rejected is not None
            and self.rejected.get("revision") == commit.sha
            and self.units is not None
        ):
            return  # refused already; said once
        try:
            revision = await asyncio.to_thread(source.read, self.settings, commit, activate=True)
        except InvalidDesiredState as err:
            self._reject(err, commit)
            restored = self._restored_applied
            if self.units is None and restored and restored != commit.sha:
                # Just started, and the branch's head is invalid: the revision applied before
                # the restart stays in force, as it would have had the daemon kept running.
                self.log.info("git_keeping_applied_revision", revision=restored)
                await self._adopt_revision(restored, result="applied")
            return
        except (GitError, OSError) as err:  # the export failed: the applied revision stays
            self.log.error("git_export_failed", revision=commit.sha, error=str(err))
            return
        self._adopt(revision, result="rollback" if hold else "applied")

    async def _adopt_revision(self, sha: str, result: str) -> None:
        assert self.git is not None
        try:
            commit = await asyncio.to_thread(self.git.commit, sha)
            revision = await asyncio.to_thread(source.read, self.settings, commit, activate=True)
        except (InvalidDesiredState, GitError, OSError) as err:
            self.log.error("git_revision_unusable", revision=sha, error=str(err))
            return
        self._adopt(revision, result=result)

    def _adopt(self, revision: Revision, result: str = "applied") -> None:
        state, commit = revision.state, revision.commit
        before = self.units or {}
        self.units = {u.key: u for u in units(state, self.settings.instance)}
        changes = {
            "created": sorted(set(self.units) - set(before)),
            "recreated": sorted(
                k for k in set(self.units) & set(before) if self.units[k].spec_hash != before[k].spec_hash
            ),
            "removed": sorted(set(before) - set(self.units)),
        }
        self.desired = state  # its targets are written after the next look at Podman: _write_targets
        self.rules_task = asyncio.ensure_future(self.sync_rules(state))
        if self.rejected is None or self.newest is None or self.rejected.get("revision") != self.newest.sha:
            # A refused revision is shown for as long as it is the newest, whatever stays in force.
            self.desired_error = None
            self.rejected = None
            self.metrics.desired_valid.set(1)
        where = {"revision": commit.sha, "subject": commit.subject} if commit else {}
        self.log.info("desired_state_loaded", source=state.source, resources=len(self.units), **where)
        for warning in state.warnings:  # once per load: an unpinned image, a device this host lacks
            self.log.warning("desired_state_warning", problem=str(warning))
        if commit is not None:
            restarted = not before and commit.sha == self._restored_applied  # what ran already: not news
            self.applied = commit
            self.metrics.applied_revision.info({"revision": commit.sha})
            if not restarted:
                self._append_history(
                    {**_commit_json(commit), "at": self.clock.wall(), "result": result, **changes}
                )
        for key in set(before) | set(self.units):
            self.enqueue(key)
        self.save()

    def _reject(self, err: InvalidDesiredState, commit: Commit | None) -> None:
        errors = [str(p) for p in err.problems if p.severity.value == "error"]
        self.desired_error = "; ".join(errors[:5]) + (
            f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        )
        self.metrics.desired_valid.set(0)
        self.metrics.desired_errors.inc()
        where = {"revision": commit.sha, "author": commit.author} if commit else {}
        self.log.error("desired_state_rejected", source=self._source_name, problems=errors, **where)
        if commit is not None:
            self.rejected = {**_commit_json(commit), "errors": errors}
            if commit.sha not in self._rejected_recorded:  # a fact about a revision: recorded once
                self._rejected_recorded.add(commit.sha)
                self._append_history({**self.rejected, "at": self.clock.wall(), "result": "rejected"})
        self.save()

    @property
    def _source_name(self) -> str:
        return secrets.public_url(self.settings.git_url) or str(self.settings.desired)

    def git_record(self) -> dict[str, Any] | None:
        if self.git is None:
            return None
        return {
            "url": secrets.public_url(self.settings.git_url),
            "branch": self.settings.git_branch,
            "applied": _commit_json(self.applied) if self.applied else None,
            "newest": _commit_json(self.newest) if self.newest else None,
            "held": self.held,
            "rejected": self.rejected,
        }

    def _write_targets(self, seen: Plan) -> None:
        """Keep Prometheus's file_sd files equal to the scrape targets of what monop owns and keeps
        (as `seen`, a plan of the whole desired state, says), monop's own included."""
        if self.desired is None:
            return
        address = self.http_address or self.settings.metrics_address
        jobs = prometheus.jobs(
            self.desired,
            self.settings.scrape_address,
            address,
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
        self.save()

    def reload_settings(self) -> None:
        if self._reload_settings is not None:
            try:
                settings = self._reload_settings()
            except Exception as err:  # a bad config file must not take the daemon down
                self.log.error("settings_reload_failed", error=str(err))
                return
            if (settings.git_url is None) != (self.settings.git_url is None):
                # What triggers a reload (a directory watch, a ref watch) is set up at start.
                self.log.error(
                    "settings_reload_refused", error="switching between a directory and git needs a restart"
                )
                return
            if settings.instance != self.settings.instance:
                # Every container would become another instance's: a Conflict, never repaired.
                self.log.error("settings_reload_refused", error="changing instance needs a restart")
                return
            self.settings = settings
            _remember_setting_secrets(settings)
            self.git = source.git_source(settings, on_fetch=self.metrics.git_fetched)

    def enqueue(self, key: str, event_at: float | None = None, *, resync: bool = False) -> None:
        """Queue `key` now. A resync leaves a key waiting out its backoff alone; anything that
        changed (the desired state, a container event) may have fixed it, so it goes now."""
        if resync and key in self.queue.scheduled():
            return
        self._queued_at.setdefault(key, self.clock.now())
        if event_at is not None:
            self._event_at.setdefault(key, event_at)
        self.queue.add(key)

    # -- observing ---------------------------------------------------------------------------

    async def observe(self, fresher_than: float) -> ObservedState:
        """A container list taken after `fresher_than`; concurrent workers share one request."""
        current = self._snapshot
        if current is None or current[0] < fresher_than or (current[1].done() and current[1].exception()):
            current = (self.clock.now(), asyncio.ensure_future(self.podman.observe()))
            self._snapshot = current
        try:
            observed = await asyncio.shield(current[1])
        except PodmanUnavailable:
            self._set_reachable(False)
            raise
        self._set_reachable(True)
        return observed

    def _set_reachable(self, reachable: bool) -> None:
        if reachable != self.podman_reachable:
            self.podman_reachable = reachable
            self.log.info("podman_reachable" if reachable else "podman_unreachable", url=self.podman.url)
            self.save()

    def survey(self, observed: ObservedState) -> Plan:
        desired = list((self.units or {}).values())
        self.health_checks.follow(desired, observed)
        return plan(
            desired,
            observed,
            prune=True,
            health=self.health_checks.knowledge(),
            instance=self.settings.instance,
        )

    async def resync(self) -> None:
        """Queue every resource and every orphan; record the states for metrics and STATUS."""
        if self.units is None:
            return
        try:
            observed = await self.observe(self.clock.now())
        except PodmanUnavailable:
            return
        result = self.survey(observed)
        self._write_targets(result)
        current = {s.key for s in result.statuses}
        for key in set(self.records) - current:
            del self.records[key]  # neither desired nor running: nothing left to report
        self.states = {s.key: self._shown_state(s.key, s.state) for s in result.statuses}
        self._publish_states()
        if result.in_sync:
            self.last_full_reconcile = self.clock.wall()
            self.metrics.last_full_reconcile.set(self.last_full_reconcile)
        for status in result.statuses:
            if not status.state.ok:
                self.enqueue(status.key, resync=True)
        await self.check_targets()
        self.save()

    async def check_targets(self) -> None:
        """Ask Prometheus about every desired target; restart what opted in and stayed down too long."""
        if not self.settings.prometheus_url or self.desired is None:
            return
        address = self.http_address or self.settings.metrics_address
        unowned = {key for key, state in self.states.items() if state is State.CONFLICT}
        jobs = prometheus.jobs(
            self.desired,
            self.settings.scrape_address,
            address,
            without=unowned,
            instance=self.settings.instance,
        )
        async with prom.connect(self.settings.prometheus_url) as api:
            assert api is not None
            report = await prom.verify(jobs, api, self.settings.instance)
            rules = await rulefiles.statuses(
                self.desired.rule_groups, self.settings.rules_dir, api, self.rule_errors
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
        if not report.reachable:
            return  # no news of the targets is not news that they are down
        now = self.clock.wall()
        restart_after = {
            (t.resource, t.instance): t.restart_after_s
            for job in jobs
            for t in job.targets
            if t.restart_after_s
        }
        down = set()
        for target in report.targets:
            spot = (target.resource, target.instance)
            if target.health is not TargetHealth.DOWN:
                continue
            down.add(spot)
            since = self._down_since.setdefault(spot, now)
            limit = restart_after.get(spot)
            if (
                limit is not None
                and now - since >= limit
                and self.states.get(target.resource) is State.IN_SYNC
            ):
                self._target_restart[target.resource] = (
                    f"target {target.instance} down for {format_duration(now - since)}: {target.error or 'no reason given'}"
                )
                self.enqueue(target.resource, resync=True)
        for spot in set(self._down_since) - down:
            del self._down_since[spot]

    def _publish_states(self) -> None:
        """Counts by state to the metrics, and a one-line summary to systemd when it changed."""
        self.metrics.set_states(self.states.values())
        drifted = sum(not state.ok for state in self.states.values())
        line = f"{len(self.states)} resources, {drifted} drifted"
        if line != self._status_line:
            self._status_line = line
            systemd.status(line)

    def _shown_state(self, key: str, state: State) -> State:
        return State.CRASH_LOOP if state is State.STOPPED and self.crash_loop.in_loop(key) else state

    # -- reconciling one key -----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        try:
            return await self._reconcile(key)
        except PodmanUnavailable as err:
            self._finish(key.split("/", 1)[0], "error", self.clock.now())
            return Result(error=str(err))

    async def _reconcile(self, key: str) -> Result:
        if self.units is None:
            return Result()  # without a valid desired state nothing is created or removed
        queued_at = self._queued_at.pop(key, self.clock.now())
        started = self.clock.now()
        observed = await self.observe(queued_at)
        result = self.survey(observed)
        self._write_targets(result)
        status = next((s for s in result.statuses if s.key == key), None)
        action = next((a for a in result.actions if a.key == key), None)
        kind = key.split("/", 1)[0]
        if status is not None and status.container is not None and status.state is State.IN_SYNC:
            started_at = status.container.started_at
            self.crash_loop.observed_running(key, started_at.timestamp() if started_at else None)
        why = self._target_restart.pop(key, None)
        if action is None and why is not None and status is not None and status.container is not None:
            action = Action(
                ActionKind.RESTART, key, status.name, (Reason(why),), container_id=status.container.id
            )
            self._down_since = {spot: t for spot, t in self._down_since.items() if spot[0] != key}
        if action is None:
            self._event_at.pop(key, None)  # the event changed nothing that needed repair
            self._record(key, state=status.state if status else None, last_result="success", last_error=None)
            self._finish(kind, "success", started)
            return Result()
        removals = self._removals_first(key, action, result)
        if removals:
            # An orphan may still hold the host port or name this action takes: removals first,
            # across resources as within one plan. Its removal queues this key again.
            self._after_removals.add(key)
            for other in removals:
                self.enqueue(other)
            self._finish(kind, "requeue", started)
            self.log.info("waiting_for_removals", resource=key, removals=removals)
            return Result(requeue_after=1.0)
        if action.kind in _RESTARTS:
            wait = self.crash_loop.delay(key)
            if wait > 0:
                until = self.clock.wall() + wait
                self._record(key, state=State.CRASH_LOOP, backoff_until=until, last_result="requeue")
                self._finish(kind, "requeue", started)
                self.log.warning("crash_loop_backoff", resource=key, restart_in=round(wait, 1))
                return Result(requeue_after=wait)
            self.crash_loop.record_restart(key)
        [outcome] = await execute(
            Plan((status,) if status else (), (action,)), self.podman, failure_types=(PodmanError,)
        )
        if key in self._queued_at:
            # Queued again while this ran: its next run must see Podman as this action left it,
            # not a snapshot taken before (which would plan the same create again).
            self._queued_at[key] = self.clock.now()
        return self._after(key, kind, outcome, started)

    def _removals_first(self, key: str, action: Action, result: Plan) -> list[str]:
        """Other keys whose removal `action` waits for; one that failed before is not waited for."""
        if action.kind not in _TAKES:
            return []
        return sorted(
            {
                a.key
                for a in result.actions
                if a.kind is ActionKind.REMOVE and a.key != key and self.backoff.attempts(a.key) == 0
            }
        )

    def _after(self, key: str, kind: str, outcome: Outcome, started: float) -> Result:
        action = outcome.action
        result = "success" if outcome.ok else "error"
        self.metrics.actions.labels(kind, action.kind.value, result).inc()
        if not outcome.ok:
            self.metrics.podman_errors.labels(_operation(outcome.error)).inc()
        event_at = self._event_at.pop(key, None)
        if event_at is not None and outcome.ok:
            self.metrics.event_to_repair.observe(self.clock.now() - event_at)
        if outcome.ok and action.kind is ActionKind.REMOVE:
            for waiting in sorted(self._after_removals):
                self.enqueue(waiting)
            self._after_removals.clear()
        if outcome.ok and action.kind is ActionKind.REMOVE and key not in (self.units or {}):
            self.records.pop(key, None)  # an orphan gone is nothing to remember
            self.states.pop(key, None)
            self._publish_states()
            self.crash_loop.forget(key)
            self._finish(kind, result, started)
            return Result()
        previous = self.records.get(key) or ResourceRecord(key)
        self._record(
            key,
            state=State.IN_SYNC if outcome.ok else State.FAILED,
            last_result=result,
            last_action=action.kind.value,
            last_reason="; ".join(str(r) for r in action.reasons),
            last_error=outcome.error,
            restart_count=previous.restart_count + (action.kind in _RESTARTS),
            backoff_until=None
            if outcome.ok
            else self.clock.wall() + min(300.0, 2.0 ** self.backoff.attempts(key)),
        )
        self._finish(kind, result, started)
        return Result() if outcome.ok else Result(error=outcome.error)

    def _record(self, key: str, **fields: object) -> None:
        record = self.records.get(key) or ResourceRecord(key)
        fields.setdefault("backoff_until", None)
        fields["health"] = self.health_checks.record(key)
        state = fields.get("state")
        if isinstance(state, State):
            fields["state"] = state.value
            self.states[key] = state
            self._publish_states()
        self.records[key] = replace(record, last_reconcile_at=self.clock.wall(), **fields)  # type: ignore[arg-type]
        self.save()

    def _finish(self, kind: str, result: str, started: float) -> None:
        if kind in ("Exporter", "CAdvisor", "BusinessService"):
            self.metrics.reconciles.labels(kind, result).inc()
            self.metrics.reconcile_seconds.labels(kind).observe(self.clock.now() - started)


def _remember_setting_secrets(settings: Settings) -> None:
    """The settings' own secrets are scrubbed from the log and state files like the containers'."""
    url_password = secrets.split_userinfo(settings.git_url)[2] if settings.git_url else None
    found = (settings.webhook_secret, settings.git_password, url_password)
    secrets.remember(secrets.Secrets(frozenset(v for v in found if v)))


def _commit_of(data: object) -> Commit | None:
    """A commit as `_commit_json` wrote it, or None."""
    if not isinstance(data, dict):
        return None
    try:
        return Commit(str(data["revision"]), str(data["author"]), str(data["subject"]), float(data["time"]))
    except (KeyError, TypeError, ValueError):
        return None


def _commit_json(commit: Commit) -> dict[str, Any]:
    return {"revision": commit.sha, "author": commit.author, "subject": commit.subject, "time": commit.time}


def _operation(error: str | None) -> str:
    """The Podman operation named at the start of a PodmanError's message (`create x: ...`)."""
    word = (error or "").split(" ", 1)[0]
    return (
        word
        if word in ("list", "create", "start", "restart", "unpause", "stop", "remove", "pull")
        else "create"
    )
