"""Containers told, not recreated, when a file monop writes and they mount changes.

A Prometheus that mounts the rule files directory, an Alertmanager that mounts the directory of
alertmanager.yml (the paths in monop.written): after each write of those files, and at every
resync, each such container in sync and running is compared with what it was last told (a
digest of the content it sees). A change is told by the container's `reload`: `http` posts to
its reload endpoint through its published port (on the host network, its own port on
127.0.0.1) and verifies what the server shows (monop.prometheus.served); `signal` sends the
signal (`podman kill --signal`). A container with no `reload` is not told: a Warning event
`NotReloaded`, a log line and `monop_container_reloads_total{result="not_told"}` say so once
per change, and it is not recreated. A failed reload is an error and an event once per change
and error, and is tried again, quietly, at each next look. A container seen for the first time, started after the files last changed, read
them at its start and needs nothing. What each container ID was told (or warned of) is kept in
the state dir (`reloads.json`), shared by the daemon and `monop apply`: neither a restart nor
another apply tells a container again what it already runs. A mount far above a written path
(`/:/host`) is looked at only when the container declares a reload.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monop.api.resources import Reload
from monop.api.stopping import signal_name
from monop.daemon.metrics import Metrics
from monop.daemon.statestore import secure_dir
from monop.desired.state import DesiredState
from monop.errors import PodmanError
from monop.files import write_atomic
from monop.prometheus import served
from monop.reconcile.plan import Plan, Unit
from monop.reconcile.states import State
from monop.runtime.container import ContainerConfig
from monop.runtime.observed import LiveContainer
from monop.runtime.podman import Podman
from monop.settings import Settings
from monop.written import MountedWrite, digest, mounted_writes, written_paths

TOLD_FILE = "reloads.json"  # in state_dir: container ID -> digest told (and warned), shared with apply


def endpoint(config: ContainerConfig, port: int, path: str) -> str | None:
    """The URL the host reaches the container's `port` at: its published host port (on its host
    IP, loopback when it is published on every address), or the port itself on the host network."""
    if config.network == "host":
        return f"http://127.0.0.1:{port}{path}"
    for mapping in config.ports:
        if mapping.container_port == port and mapping.protocol == "tcp":
            host = mapping.host_ip if mapping.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{mapping.host_port}{path}"
    return None


def _newest_change(paths: Sequence[Path]) -> float:
    """The last time anything under `paths` changed (a file written, renamed in or removed)."""
    newest = 0.0
    for path in paths:
        for each in [path, *(path.rglob("*") if path.is_dir() else ())]:
            try:
                newest = max(newest, each.stat().st_mtime)
            except OSError:
                continue
    return newest


@dataclass(frozen=True)
class Told:
    """What one check did for one container: `result` reloaded, failed or not_told, and how or why."""

    key: str
    result: str
    message: str


class FileReloads:
    """Which container was told which content; tells the ones whose mounted writes changed."""

    def __init__(
        self, podman: Podman, settings: Settings, *, metrics: Metrics, log: Any, emit: Any = None
    ) -> None:
        self.podman = podman
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self._emit = emit or (lambda *_: None)  # Records.emit(kind, reason, message, key); none in apply
        self._told: dict[str, str] = {}  # container ID -> digest of what it sees, as last told
        self._warned: dict[str, str] = {}  # container ID -> digest it was warned of (no reload declared)
        self._failed: dict[
            str, tuple[str, str]
        ] = {}  # container ID -> (digest, error) last said; retried quietly
        self._lock = asyncio.Lock()

    async def check(self, seen: Plan, units: Mapping[str, Unit], desired: DesiredState | None) -> list[Told]:
        """Tell every container in sync whose mounted writes changed since it was last told; what was done."""
        if desired is None:
            return []
        done: list[Told] = []
        reloads = {r.key: r.resource.spec.reload for r in desired.resources}
        written = [w for w in written_paths(self.settings) if not w.self_watched]
        async with self._lock:  # a write's check and a resync's never tell one change twice
            self._read()  # what apply or an earlier daemon told, so neither tells it again
            before = (dict(self._told), dict(self._warned))
            live = set()
            for status in seen.statuses:
                unit = units.get(status.key)
                container = status.container
                if unit is None or container is None or status.state is not State.IN_SYNC:
                    continue
                live.add(container.id)
                reload = reloads.get(status.key)
                writes = [
                    w
                    for w in mounted_writes(((m.source, m.target) for m in unit.config.mounts), written)
                    if reload is not None or not w.incidental  # `/:/host` is told only when it asks
                ]
                if writes:
                    told = await self._check_one(status.key, unit, container, writes, reload)
                    done += [told] if told is not None else []
            self._told = {cid: told for cid, told in self._told.items() if cid in live}
            self._warned = {cid: told for cid, told in self._warned.items() if cid in live}
            self._failed = {cid: why for cid, why in self._failed.items() if cid in live}
            if (self._told, self._warned) != before:
                self._write()
        return done

    @property
    def _path(self) -> Path:
        return Path(self.settings.state_dir) / TOLD_FILE

    def _read(self) -> None:
        """Merge what the state dir says was told (by apply, or this daemon before a restart)."""
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            told, warned = dict(data["told"]), dict(data["warned"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as err:
            self.log.warning("container_reloads_state_unreadable", path=str(self._path), error=str(err))
            return
        self._told.update({str(k): str(v) for k, v in told.items()})
        self._warned.update({str(k): str(v) for k, v in warned.items()})

    def _write(self) -> None:
        try:
            if not self._path.parent.exists():  # made as the StateStore makes it
                secure_dir(self._path.parent, shared=(self.settings.sd_dir, self.settings.rules_dir))
            body = json.dumps({"told": self._told, "warned": self._warned}, indent=1, sort_keys=True)
            write_atomic(self._path, body + "\n")
        except OSError as err:  # the next check tells again what it cannot remember: noisy, not wrong
            self.log.error("container_reloads_state_write_failed", path=str(self._path), error=str(err))

    async def _check_one(
        self,
        key: str,
        unit: Unit,
        container: LiveContainer,
        writes: Sequence[MountedWrite],
        reload: Reload | None,
    ) -> Told | None:
        watched = sorted({w.watched for w in writes})
        now = await asyncio.to_thread(digest, watched)
        told = self._told.get(container.id)
        if told == now:
            return None
        if told is None:
            started = container.started_at.timestamp() if container.started_at else 0.0
            if started >= await asyncio.to_thread(_newest_change, watched):
                self._told[container.id] = now  # it read them as they are when it started
                return None
        files = [str(p) for p in watched]
        if reload is None:
            if self._warned.get(container.id) == now:
                return None  # said once per change; not told, so a reload declared later tells it
            self._warned[container.id] = now
            self.metrics.container_reloads.labels("not_told").inc()
            self.log.warning(
                "mounted_file_changed_not_reloaded",
                resource=key,
                files=files,
                hint="declare spec.reload ({http: {path: /-/reload, port: N}} or {signal: SIGHUP})",
            )
            message = (
                f"{', '.join(files)} changed; the container declares no reload and was not told "
                "(and not recreated)"
            )
            self._emit("Warning", "NotReloaded", message, key)
            return Told(key, "not_told", message)
        error, via = await self._tell(unit, container, reload, writes)
        if error is not None:
            if self._failed.get(container.id) != (now, error):  # said once per change and error
                self._failed[container.id] = (now, error)
                self.metrics.container_reloads.labels("failed").inc()
                self.log.error("container_reload_failed", resource=key, via=via, files=files, error=error)
                self._emit("Warning", "ReloadFailed", f"{via}: {error}", key)
            return Told(key, "failed", f"{via}: {error}")
        self._failed.pop(container.id, None)
        self._told[container.id] = now
        self._warned.pop(container.id, None)
        self.metrics.container_reloads.labels("reloaded").inc()
        self.log.info("container_reloaded", resource=key, via=via, files=files, container=container.id[:12])
        self._emit("Normal", "Reloaded", f"{', '.join(files)} changed: {via}", key)
        return Told(key, "reloaded", f"{', '.join(files)} changed: {via}")

    async def _tell(
        self, unit: Unit, container: LiveContainer, reload: Reload, writes: Sequence[MountedWrite]
    ) -> tuple[str | None, str]:
        """Reload the container; (None, how) when it did and shows what the files hold, else (why not, how)."""
        single = next((w for w in writes if w.single_file), None)
        if single is not None:
            return (
                f"{single.host_path} is mounted as a file, and monop replaces it by rename: the container "
                "keeps the file it started with, and no reload shows it the new one; mount its directory",
                "no reload",
            )
        if reload.signal is not None:
            via = f"signal {signal_name(reload.signal)}"
            try:
                await self.podman.kill(container.id, reload.signal)
            except PodmanError as err:
                return str(err), via
            return None, via
        assert reload.http is not None
        url = endpoint(unit.config, reload.http.port, reload.http.path)
        if url is None:
            return (
                f"container port {reload.http.port}/tcp is not published, so monop cannot reach the reload endpoint",
                "http",
            )
        via = f"POST {url}"
        refused = await served.post_reload(url)
        if refused is not None:
            return refused, via
        base = url[: -len(reload.http.path)]
        for write in writes:
            if write.written.name == "rule files":
                wrong = await served.verify_rules(base, [write.watched])
            elif write.written.name == "alertmanager.yml":
                wrong = await served.verify_alertmanager(base, write.written.path)
            else:
                wrong = None
            if wrong is not None:
                return wrong, via
        return None, via
