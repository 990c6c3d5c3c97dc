"""`monop run`: the wiring of the long-running controller. Triggers queue keys; workers reconcile one key at a time.

Level-based, like a Kubernetes controller: a key says only *which* resource to look at; the
worker re-reads the world (one shared container list), plans, and carries out that key's action.
`Daemon` holds the parts and what they share:

    SourceTracker       the desired state in force: directory or git, history, rollback hold (source.py)
    ResourceReconciler  reconcile(key) -> Result, crash loops, stalls, removals first (reconciler.py)
    PrometheusSync      file_sd and rule files, target health -> restart requests (promsync.py)
    Records             each resource's record and state, metrics and STATUS (records.py)
    StateStore          status.json and history.jsonl (statestore.py)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from monop import log, secrets
from monop.controller.backoff import Backoff
from monop.controller.clock import Clock, RealClock
from monop.controller.queue import WorkQueue
from monop.controller.workers import Workers
from monop.daemon.events import EventLog
from monop.daemon.grafanasync import GrafanaSync
from monop.daemon.healthrun import HealthRunner
from monop.daemon.metrics import Metrics
from monop.daemon.panelsync import PanelSync
from monop.daemon.promsync import PrometheusSync
from monop.daemon.reconciler import ResourceReconciler
from monop.daemon.records import Records
from monop.daemon.reloads import FileReloads
from monop.daemon.source import DESIRED_LOAD as DESIRED_LOAD
from monop.daemon.source import Adopted, SourceTracker
from monop.daemon.statestore import DaemonLock, DaemonRecord, StateStore
from monop.daemon.supervise import Health
from monop.desired.git import GitSource
from monop.desired.source import this_host
from monop.errors import PodmanUnavailable
from monop.reconcile.health import Mode
from monop.reconcile.holds import Deferred
from monop.reconcile.plan import Plan, Unit
from monop.runtime.observed import ObservedState
from monop.runtime.podman import Podman, resolve_url
from monop.settings import Settings
from monop.written import create_mounted, written_paths

# Parts of the daemon that /readyz names when they are down (supervised tasks are `task <name>`).
STATE_WRITES = "state writes"
DESIRED_PATH = "desired path"


class UnknownResource(LookupError):
    """A resource the daemon neither desires nor runs (`POST /reconcile?resource=...`)."""


class Daemon:
    """Holds the parts of the daemon and what they share: settings, clock, Podman, queue, metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        load_settings: Callable[[], Settings] | None = None,
    ) -> None:
        # The host's name is fixed at start (the machine's hostname if host_name is unset): it
        # labels every series and container, and each read of the desired state selects for it.
        self.host_name = this_host(settings).name
        settings = settings.model_copy(update={"host_name": self.host_name})
        self.settings = settings
        _remember_setting_secrets(settings)
        self.clock = clock or RealClock()
        self.metrics = Metrics(registry or CollectorRegistry(), host=self.host_name)
        self.log = log.get()
        self._reload_settings = load_settings
        self.health = Health(self.clock)  # parts not doing their job now: /readyz, status, the watchdog
        self.store = StateStore(settings.state_dir, shared=(settings.sd_dir, settings.rules_dir))
        self.lock = DaemonLock(settings.state_dir)
        self.podman = Podman(resolve_url(settings.podman_url), on_request=self.metrics.podman_request)
        self.queue = WorkQueue(self.clock)
        self.metrics.follow_queue("resources", self.queue)
        self.backoff = Backoff(self.clock)
        self.health_checks = HealthRunner(
            self.podman,
            self.clock,
            lambda key: self.enqueue(key),
            mode=Mode(settings.health_checks),
            podman_url=self.podman.url,
            metrics=self.metrics,
            instance=settings.instance,
        )
        self.source = SourceTracker(
            settings,
            clock_wall=self.clock.wall,
            metrics=self.metrics,
            health=self.health,
            log=self.log,
            adopted=self._adopted,
            changed=self.save,
            append_history=self._append_history,
        )
        self.prometheus = PrometheusSync(
            settings, metrics=self.metrics, log=self.log, clock_wall=self.clock.wall, changed=self.save
        )
        self.grafana = GrafanaSync(settings, metrics=self.metrics, log=self.log)
        self.panels = PanelSync(
            settings, metrics=self.metrics, log=self.log, clock_wall=self.clock.wall, changed=self.save
        )
        self.records = Records(
            self.metrics,
            clock_wall=self.clock.wall,
            health_record=self.health_checks.record,
            changed=self.save,
            events=EventLog(settings.state_dir),
            revision=self._revision,
            target_down=self.prometheus.down,
            write_failed=self._state_write_failed,
        )
        self.reloads = FileReloads(
            self.podman, settings, metrics=self.metrics, log=self.log, emit=self.records.emit
        )
        self._digest: str | None = None  # of the directory's specs, when the source is one
        self.reconciler = ResourceReconciler(self)
        self.workers = Workers(self.queue, self.reconciler.reconcile, self.backoff, n=settings.workers)
        self.podman_reachable = False
        self.started_at = self.clock.wall()
        self.http_address: str | None = None  # host:port the HTTP server listens on, once it does
        self.last_full_reconcile: float | None = None
        self._snapshot: tuple[float, asyncio.Task[ObservedState]] | None = None
        self._reload_tasks: set[asyncio.Future[None]] = set()
        # Containers that mount the files just written are told once they are (monop.daemon.reloads).
        self.prometheus.after_written = self._after_files_written

    # -- state -------------------------------------------------------------------------------

    @property
    def units(self) -> dict[str, Unit] | None:
        """The desired state in force, by key; None until a valid one was read."""
        return self.source.units

    @property
    def git(self) -> GitSource | None:
        return self.source.git

    @property
    def ready(self) -> tuple[bool, str]:
        """Ready, or not and every reason why (the /readyz body)."""
        why = []
        if self.units is None:
            why.append(f"no valid desired state: {self.source.error or 'not read yet'}")
        if not self.podman_reachable:
            why.append(f"cannot reach Podman at {self.podman.url}")
        down = self.health.summary()
        if down:
            why.append(down)
        return (False, "; ".join(why)) if why else (True, "ready")

    def restore(self) -> None:
        """Pick up the previous daemon's counters: restarts, crash loops, the revisions it knew."""
        daemon, records, unreadable = self.store.recover()
        if unreadable is not None:
            self.log.error(
                "state_file_unreadable",
                path=str(self.store.path),
                error=unreadable.reason,
                kept_as=str(unreadable.kept_as) if unreadable.kept_as else None,
            )
        self.records.restore(records)
        self.source.restore(daemon, self.store.history())
        if daemon is not None:
            self.reconciler.crash_loop.restore(daemon.crash_loops)
            self.last_full_reconcile = daemon.last_full_reconcile_at

    def save(self) -> None:
        ready, _ = self.ready
        daemon = DaemonRecord(
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=self.clock.wall(),
            source=str(self.settings.desired),
            ready=ready,
            podman_reachable=self.podman_reachable,
            desired_error=self.source.error,
            last_full_reconcile_at=self.last_full_reconcile,
            crash_loops=self.reconciler.crash_loop.to_json(),
            metrics_address=self.http_address,
            rule_errors=dict(self.prometheus.rule_errors),
            alertmanager_error=self.prometheus.alertmanager_error,
            dead_selectors=[d.to_json() for d in self.prometheus.dead.dead] if self.prometheus.dead else [],
            rules_checked_at=self.prometheus.dead_checked_at,
            dashboards=self.panels.report.to_json() if self.panels.report else None,
            git=self.source.record(),
            resync_interval=self.settings.resync_interval,
            down=self.health.to_json(),
        )
        try:
            self.store.save(daemon, self.records.records)
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
        result = entry.get("result")
        revision = str(entry.get("revision", ""))[:12]
        if result == "rejected":
            errors = entry.get("errors") or []
            self.records.emit("Warning", "RevisionRejected", f"{revision}: {'; '.join(errors[:3])}")
        elif result in ("applied", "rollback"):
            reason = "RolledBack" if result == "rollback" else "RevisionApplied"
            self.records.emit("Normal", reason, f"{revision}: {entry.get('subject', '')}")

    def _revision(self) -> str | None:
        """The revision of the desired state in force: the git commit, else a digest of the
        directory's specs (`sha256:<12 hex>`, as Flux names a non-git artifact's revision)."""
        if self.source.applied is not None:
            return self.source.applied.sha
        return self._digest

    # -- the desired state and settings ------------------------------------------------------

    def reload_desired(self) -> bool:
        """Read the desired state again, off the event loop (see `SourceTracker.refresh`); returns True."""
        self.source.refresh()
        return True

    def look_again(self) -> None:
        """SIGHUP: settings and desired state read again; a refused revision and every stalled
        resource are tried again too (the same commit is not adopted anew, so this says it)."""
        self.reload_settings()
        self.source.reconsider()
        self.reconciler.unstall()
        self.reload_desired()
        # An unchanged revision is not adopted again, and a suspend or resume changes no file
        # the source follows: every resource is looked at now all the same.
        for key in self.known():
            self.enqueue(key)

    def _adopted(self, adopted: Adopted) -> None:
        self._digest = _digest(adopted.units)
        self._create_written_dirs(adopted.units)
        self.prometheus.start_rules_sync(adopted.state)
        self.grafana.sync(adopted.state)
        self.panels.soon()  # checked at the next resync
        self.reconciler.unstall()  # the desired state was read again: what stalled is tried again
        for key in set(adopted.before) | set(adopted.units):
            self.enqueue(key)
        self.save()

    def _create_written_dirs(self, units: Mapping[str, Unit]) -> None:
        """The directories monop writes into that a container mounts exist before it is created."""
        mounts = [(m.source, m.target) for u in units.values() for m in u.config.mounts]
        try:
            for directory in create_mounted(mounts, written_paths(self.settings)):
                self.log.info("written_directory_created", path=str(directory))
        except OSError as err:  # the container's create says it too, and is retried
            self.log.error("written_directory_create_failed", path=str(err.filename), error=str(err))

    def reload_settings(self) -> None:
        if self._reload_settings is not None:
            try:
                settings = self._reload_settings()
                if settings.host_name is None:  # the hostname read at start, not now
                    settings = settings.model_copy(update={"host_name": self.host_name})
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
            if settings.host_name != self.settings.host_name:
                # The host labels every series and container already exported.
                self.log.error("settings_reload_refused", error="changing host_name needs a restart")
                return
            self.settings = settings
            _remember_setting_secrets(settings)
            self.source.use_settings(settings)
            self.prometheus.settings = settings
            self.grafana.settings = settings
            self.panels.settings = settings
            self.reloads.settings = settings

    def background_tasks(self) -> list[asyncio.Future[None]]:
        """Tasks the parts started that the shutdown must cancel: a refresh, a rules sync."""
        return [
            t
            for t in (self.prometheus.rules_task, self.source.refresh_task, *self._reload_tasks)
            if t is not None
        ]

    # -- queueing ----------------------------------------------------------------------------

    def enqueue(self, key: str, event_at: float | None = None, *, resync: bool = False) -> None:
        """Queue `key` now. A resync leaves a key waiting out its backoff alone; anything that
        changed (the desired state, a container event) may have fixed it, so it goes now."""
        if resync and key in self.queue.scheduled():
            return
        self.reconciler.queued(key, event_at)
        self.queue.add(key)

    def known(self) -> list[str]:
        """Every resource the daemon knows: desired, or running as an orphan or conflict."""
        return sorted(set(self.units or {}) | set(self.records.states))

    def request_reconcile(self, key: str | None = None) -> list[str]:
        """A person asks (`monop reconcile`): queue `key` (every known resource: None) now,
        forgetting its backoff and any stall. The keys queued; UnknownResource for a key the
        daemon neither desires nor runs."""
        keys = self.known() if key is None else [key]
        if key is not None and key not in self.known():
            raise UnknownResource(f"no resource {key} is desired or running")
        for each in keys:
            self.reconciler.unstall(each)
            self.backoff.success(each)
            self.enqueue(each)
        self.log.info("reconcile_requested", resources=keys)
        return keys

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
            self.set_reachable(False)
            raise
        self.set_reachable(True)
        return observed

    def set_reachable(self, reachable: bool) -> None:
        """Whether Podman answers, as the last request found; said once per change."""
        if reachable != self.podman_reachable:
            self.podman_reachable = reachable
            self.log.info("podman_reachable" if reachable else "podman_unreachable", url=self.podman.url)
            self.save()

    def write_targets(self, seen: Plan) -> None:
        """Prometheus's file_sd files after a look at what runs (`seen`)."""
        self.prometheus.write_targets(
            self.source.desired, seen, self.http_address or self.settings.metrics_address
        )

    async def resync(self) -> None:
        """Queue every resource and every orphan; record the states for metrics and STATUS."""
        if self.units is None:
            return
        try:
            observed = await self.observe(self.clock.now())
        except PodmanUnavailable:
            return
        result = self.reconciler.survey(observed)
        self.write_targets(result)
        for status in result.statuses:
            # A container in sync and running long enough forgives its crash loop, whether or
            # not anything made its key come up since (a resync queues only what is wrong).
            if status.state.ok and status.container is not None and status.container.started_at:
                self.reconciler.crash_loop.observed_running(
                    status.key, status.container.started_at.timestamp()
                )
        self.records.seen(result.statuses, complete=True)
        if result.in_sync:
            self.last_full_reconcile = self.clock.wall()
            self.metrics.last_full_reconcile.set(self.last_full_reconcile)
        for status in result.statuses:
            waits_for_person = status.hold is not None and status.hold.reason is not Deferred.CRASH_LOOP
            if not status.state.ok and not waits_for_person:
                self.enqueue(status.key, resync=True)
        await self.check_targets()
        await self.tell_reloads(result)
        self.save()

    def _after_files_written(self) -> None:
        task = asyncio.ensure_future(self._reload_after_write())
        self._reload_tasks.add(task)  # each one cancelled at shutdown, not only the newest
        task.add_done_callback(self._reload_tasks.discard)

    async def _reload_after_write(self) -> None:
        try:
            observed = await self.observe(self.clock.now())
        except PodmanUnavailable:
            return  # the next resync tells them
        await self.tell_reloads(self.reconciler.survey(observed))

    async def tell_reloads(self, seen: Plan) -> None:
        """Reload the containers in sync whose mounted files monop writes changed (FileReloads)."""
        if self.units is None or self.prometheus.writing:
            return  # a sync writing files now tells the containers once it is done (after_written)
        try:
            await self.reloads.check(seen, self.units, self.source.desired)
        except Exception as err:  # a reload must never take the resync down; the next one tries again
            self.log.error("container_reloads_failed", error=str(err))

    async def check_targets(self) -> None:
        """Ask Prometheus about every desired target; queue what asks for a restart (see PrometheusSync)."""
        address = self.http_address or self.settings.metrics_address
        for key in await self.prometheus.check_targets(self.source.desired, self.records.states, address):
            self.enqueue(key, resync=True)
        self.records.refresh()  # a target up or down changes Ready, not the container
        await self.panels.check_if_due(self.source.desired)


def _digest(units: Mapping[str, Unit]) -> str:
    specs = "\n".join(f"{key}={unit.spec_hash}" for key, unit in sorted(units.items()))
    return "sha256:" + hashlib.sha256(specs.encode()).hexdigest()[:12]


def _remember_setting_secrets(settings: Settings) -> None:
    """The settings' own secrets are scrubbed from the log and state files like the containers'."""
    url_password = secrets.split_userinfo(settings.git_url)[2] if settings.git_url else None
    found = (settings.webhook_secret, settings.git_password, url_password)
    secrets.remember(secrets.Secrets(frozenset(v for v in found if v)))
