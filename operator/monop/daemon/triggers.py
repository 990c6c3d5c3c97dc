"""What makes the daemon look again: desired-state edits, Podman events, a resync timer, signals.

Each trigger only queues keys; the workers decide what, if anything, to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from monop.controller.burst import EventBurst
from monop.daemon import systemd, webhook
from monop.daemon.daemon import DESIRED_PATH, Daemon, UnknownResource
from monop.daemon.http import Handler, Request, Response
from monop.daemon.supervise import supervise
from monop.errors import PodmanUnavailable, SettingsError
from monop.runtime import ownership

# Container events after which a resource may no longer be what it should.
EVENTS = {"died", "stop", "kill", "remove", "oom", "health_status", "pause", "create", "rename"}


async def watch_desired(daemon: Daemon, stop: asyncio.Event, *, reload_first: bool = False) -> None:
    """Reload the desired state after a change under its path, once per burst of saves.

    A watch follows a directory, not a name: when the path is deleted or replaced (`rm -rf`
    and created again, a symlink put in its place) the watch is set up again on what the path
    is now. While the path does not exist the last applied state stays in force, and
    `/readyz` and `monop status` say the path is missing.
    """
    from watchfiles import awatch

    path = Path(daemon.settings.desired).absolute()
    debounce_ms = max(1, int(daemon.settings.debounce * 1000))
    while not stop.is_set():
        if not path.exists():
            if daemon.health.down(
                DESIRED_PATH, f"{path} does not exist; the last applied state stays in force"
            ):
                daemon.log.error("desired_path_missing", path=str(path))
                daemon.save()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            reload_first = True
            continue
        if daemon.health.up(DESIRED_PATH):
            daemon.log.info("desired_path_restored", path=str(path))
        root = path if path.is_dir() else path.parent
        watched = _identity(root)
        if reload_first:
            # What changed while nothing watched; a tree still being copied in is waited out,
            # so half of it is never read as the whole desired state (and the rest pruned).
            await _quiet(path, daemon.settings.debounce, stop)
            daemon.reload_desired()
        reload_first = True
        async for _changes in awatch(root, debounce=debounce_ms, step=50, stop_event=stop, recursive=True):
            if _identity(root) != watched or not path.exists():
                break  # deleted or replaced: the watch saw the last of what it followed
            daemon.log.info("desired_state_changed", path=str(path))
            daemon.reload_desired()


async def _quiet(path: Path, debounce: float, stop: asyncio.Event, limit: float = 30.0) -> None:
    """Return once nothing under `path` has changed for `debounce` seconds (at most `limit`)."""
    before = await asyncio.to_thread(_snapshot, path)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not stop.is_set() and loop.time() < give_up:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), debounce)
        now = await asyncio.to_thread(_snapshot, path)
        if now == before:
            return
        before = now


def _snapshot(path: Path) -> list[tuple[str, int, int]]:
    """Every file under `path` with its size and modification time (nanoseconds)."""
    found = []
    for file in sorted(path.rglob("*") if path.is_dir() else [path]):
        with contextlib.suppress(OSError):
            st = file.stat()
            found.append((str(file), st.st_size, st.st_mtime_ns))
    return found


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def watch_git(daemon: Daemon, stop: asyncio.Event, *, reload_first: bool = False) -> None:
    """A local repository: a new commit on the branch is seen when its ref changes, at once."""
    from watchfiles import awatch

    assert daemon.git is not None
    git_dir = daemon.git.local_git_dir
    if git_dir is None:
        return  # a remote: fetched on an interval and by the webhook
    if reload_first:
        daemon.reload_desired()
    ref = f"refs/heads/{daemon.settings.git_branch}"

    def ours(_change: object, path: str) -> bool:
        return path.endswith((ref, "packed-refs"))

    async for _changes in awatch(git_dir, watch_filter=ours, debounce=100, step=50, stop_event=stop):
        daemon.log.info("git_ref_changed", ref=ref)
        daemon.reload_desired()


async def fetch_every(daemon: Daemon, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), daemon.settings.git_fetch_interval)
        if not stop.is_set():
            daemon.reload_desired()


async def follow_events(daemon: Daemon, stop: asyncio.Event) -> None:
    """Queue the resource of every relevant container event; reconnect with backoff when the stream breaks."""
    delay = 1.0
    burst = EventBurst(daemon.clock, lambda key, at: daemon.enqueue(key, event_at=at))
    while not stop.is_set():
        try:
            await daemon.podman.ping()
            daemon.set_reachable(True)
            await daemon.resync()  # events may have been missed while the stream was down
            daemon.health.up("task podman-events")
            delay = 1.0
            async for event in daemon.podman.events():
                if event.action not in EVENTS:
                    continue
                key = _key_of(daemon, event.name, event.labels)
                if key is not None:
                    burst.add(key)  # queued with the rest of its burst: one container list for all
        except PodmanUnavailable as err:
            daemon.set_reachable(False)
            daemon.metrics.event_reconnects.inc()
            daemon.log.warning("podman_event_stream_lost", error=str(err), retry_in=delay)
        except Exception as err:  # anything else: say it, and follow the events again after the backoff
            daemon.metrics.event_reconnects.inc()
            daemon.metrics.task_failures.labels("podman-events").inc()
            daemon.health.down("task podman-events", f"{type(err).__name__}: {err}")
            daemon.log.exception("podman_event_stream_failed", retry_in=delay)
        finally:
            await burst.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 30.0)


def _key_of(daemon: Daemon, name: str, attributes: Mapping[str, str]) -> str | None:
    if ownership.is_owned(attributes, daemon.settings.instance):
        return f"{attributes.get(ownership.KIND, '?')}/{attributes.get(ownership.NAME, name)}"
    # A stranger taking or freeing a desired name changes that resource's state too.
    return next((key for key, unit in (daemon.units or {}).items() if unit.name == name), None)


async def resync_every(daemon: Daemon, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await daemon.resync()
        except Exception as err:  # one failed pass must not end the resyncs for the months to come
            daemon.metrics.task_failures.labels("resync").inc()
            daemon.health.down("task resync", f"{type(err).__name__}: {err}")
            daemon.log.exception("resync_failed")
        else:
            daemon.health.up("task resync")
        daemon.save()  # at least once a resync interval: `monop status` tells a stale record by its age
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), daemon.settings.resync_interval)


async def watchdog(daemon: Daemon, stop: asyncio.Event) -> None:
    """Ping systemd's watchdog from the event loop: a hung loop stops pinging and gets restarted.

    So does a daemon with a background task down for longer than `watchdog_grace`: its
    restarts with backoff did not help, a fresh process may.
    """
    interval = systemd.watchdog_interval()
    if interval is None:
        return
    withheld = False
    while not stop.is_set():
        stuck = daemon.health.down_longer_than(daemon.settings.watchdog_grace)
        if not stuck:
            if withheld:
                daemon.log.info("watchdog_resumed")
            withheld = False
            systemd.watchdog()
        elif not withheld:
            withheld = True
            daemon.log.error("watchdog_withheld", down=sorted(stuck), grace_s=daemon.settings.watchdog_grace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def run(
    daemon: Daemon,
    on_ready: Callable[[], Awaitable[None]] | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads settings and desired state.

    `status`: what `monop status -o json` prints (blocking); given, the metrics address serves it
    at `/api/v1/status` and as a page at `/` (monop.daemon.page).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def hangup() -> None:
        systemd.reloading()
        daemon.log.info("reload_requested")
        daemon.look_again()
        systemd.ready()

    loop.add_signal_handler(signal.SIGHUP, hangup)
    from monop.daemon.http import HttpServer, Listener

    def http_failed(err: Exception) -> None:
        daemon.metrics.task_failures.labels("http").inc()
        daemon.log.error("http_request_failed", error=f"{type(err).__name__}: {err}", exc_info=err)

    def shed(reason: str) -> None:
        daemon.metrics.http_shed.labels(reason).inc()

    def listen_on(setting: str) -> tuple[str, int]:
        return _address(getattr(daemon.settings, setting))

    server = HttpServer(
        daemon.metrics.registry,
        lambda: daemon.ready,
        *listen_on("metrics_address"),
        shed=shed,
        on_error=http_failed,
    )
    server.add_route("POST", "/reconcile", reconcile_handler(daemon))
    page = None
    if status is not None:
        from monop.daemon.page import StatusPage, last_events

        page = StatusPage(
            status,
            lambda: last_events(daemon.settings.state_dir),
            daemon.metrics.registry,
            log=daemon.log,
            on_error=lambda _err: daemon.metrics.task_failures.labels("status-page").inc(),
        )
        page.add_to(server)
    hooks: Listener = server
    if daemon.git is not None and daemon.settings.webhook_address:
        # The webhook alone on its own address: opening it to the internet opens nothing else.
        hooks = Listener(*listen_on("webhook_address"), shed=shed, on_error=http_failed)
    servers: dict[str, Listener] = {"metrics_address": server}
    if hooks is not server:
        servers["webhook_address"] = hooks
    for setting, listening in servers.items():
        try:
            await listening.start()
        except OSError as err:
            raise SettingsError(
                f"setting {setting}: cannot listen on {getattr(daemon.settings, setting)}: "
                f"{os.strerror(err.errno) if err.errno else err}"
            ) from None
    daemon.http_address = f"{server.host}:{server.port}"
    daemon.log.info(
        "daemon_started",
        metrics=f"http://{server.host}:{server.port}/metrics",
        **({"webhook": f"http://{hooks.host}:{hooks.port}/hooks/git"} if daemon.git is not None else {}),
        state_dir=str(daemon.settings.state_dir),
        health_checks="monop" if daemon.health_checks.runs_checks else "podman",
        health_checks_why=daemon.health_checks.why,
    )
    daemon.reload_desired()
    daemon.workers.start()

    def supervised(name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        return asyncio.create_task(
            supervise(
                name,
                body,
                stop=stop,
                health=daemon.health,
                failures=daemon.metrics.task_failures,
                log=daemon.log,
                clock=daemon.clock,
            ),
            name=name,
        )

    starts = itertools.count()  # a watch started again reloads: edits while it was down count too
    if daemon.git is not None:
        sources = [
            supervised("watch-git", lambda: watch_git(daemon, stop, reload_first=next(starts) > 0)),
            supervised("fetch-git", lambda: fetch_every(daemon, stop)),
        ]
        hooks.add_route(
            "POST",
            "/hooks/git",
            webhook.handler(
                lambda: daemon.settings.webhook_secret,
                daemon.reload_desired,
                lambda reason: daemon.metrics.webhook_refused.labels(reason).inc(),
            ),
        )
    else:
        sources = [
            supervised("watch-desired", lambda: watch_desired(daemon, stop, reload_first=next(starts) > 0))
        ]
    tasks: list[asyncio.Future[None]] = [
        *sources,
        supervised("podman-events", lambda: follow_events(daemon, stop)),
        supervised("resync", lambda: resync_every(daemon, stop)),
        supervised("watchdog", lambda: watchdog(daemon, stop)),
        *([supervised("status-page", lambda: page.sample_every(stop))] if page is not None else []),
        asyncio.create_task(_announce_ready(daemon, stop, on_ready), name="ready"),
    ]
    await stop.wait()
    systemd.stopping()
    daemon.log.info("daemon_stopping")
    await daemon.workers.stop(timeout=daemon.settings.stop_timeout)
    await daemon.health_checks.close()
    tasks += daemon.background_tasks()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for listening in servers.values():
        await listening.stop()
    daemon.save()
    daemon.log.info("daemon_stopped")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)


def reconcile_handler(daemon: Daemon) -> Handler:
    """`POST /reconcile[?resource=KIND/NAME]`: a person asks the daemon to look now (`monop reconcile`).

    The resource (every one the daemon knows, without `resource`) is queued at once and its
    backoff and any stall forgotten. 202 `{"queued": ["Kind/name", ...]}`; 404 `{"error": "..."}`
    for a resource the daemon neither desires nor runs; 400 for a malformed query.
    """

    async def handle(request: Request) -> Response:
        asked = parse_qs(request.query, keep_blank_values=True).get("resource")
        if asked is not None and (len(asked) != 1 or "/" not in asked[0]):
            return _json(400, {"error": "resource: give one KIND/NAME"})
        try:
            queued = daemon.request_reconcile(asked[0] if asked else None)
        except UnknownResource as err:
            return _json(404, {"error": str(err)})
        return _json(202, {"queued": queued})

    return handle


def _json(status: int, body: object) -> Response:
    return Response(status, (json.dumps(body) + "\n").encode(), {"content-type": "application/json"})


def _address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`, or `:port` for loopback) as a host and a port number."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def _announce_ready(
    daemon: Daemon, stop: asyncio.Event, on_ready: Callable[[], Awaitable[None]] | None
) -> None:
    """READY=1 once the desired state is loaded and Podman answered; systemd waits for it.

    A part down meanwhile (a full disk, a task restarting) is for /readyz and the watchdog's
    grace to judge, not a reason to fail the start.
    """

    def started() -> bool:
        return daemon.units is not None and daemon.podman_reachable

    while not stop.is_set() and not started():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    if started():
        systemd.ready(f"{len(daemon.units or {})} resources")
        daemon.log.info("daemon_ready")
        if on_ready is not None:
            await on_ready()
