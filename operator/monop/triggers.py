"""What makes the daemon look again: desired-state edits, Podman events, a resync timer, signals.

Each trigger only queues keys; the workers decide what, if anything, to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from monop import ownership, systemd, webhook
from monop.daemon import Daemon
from monop.errors import PodmanUnavailable

# Container events after which a resource may no longer be what it should.
EVENTS = {"died", "stop", "kill", "remove", "oom", "health_status", "pause", "create", "rename"}


async def watch_desired(daemon: Daemon, stop: asyncio.Event) -> None:
    """Reload the desired state after a change under its path, once per burst of saves."""
    from watchfiles import awatch

    path = Path(daemon.settings.desired).absolute()
    root = path if path.is_dir() else path.parent
    debounce_ms = max(1, int(daemon.settings.debounce * 1000))
    async for _changes in awatch(root, debounce=debounce_ms, step=50, stop_event=stop, recursive=True):
        daemon.log.info("desired_state_changed", path=str(path))
        daemon.reload_desired()


async def watch_git(daemon: Daemon, stop: asyncio.Event) -> None:
    """A local repository: a new commit on the branch is seen when its ref changes, at once."""
    from watchfiles import awatch

    assert daemon.git is not None
    git_dir = daemon.git.local_git_dir
    if git_dir is None:
        return  # a remote: fetched on an interval and by the webhook
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
    while not stop.is_set():
        try:
            await daemon.podman.ping()
            daemon._set_reachable(True)
            await daemon.resync()  # events may have been missed while the stream was down
            delay = 1.0
            async for event in daemon.podman.events():
                if event.action not in EVENTS:
                    continue
                key = _key_of(daemon, event.name, event.labels)
                if key is not None:
                    daemon.enqueue(key, event_at=daemon.clock.now())
        except PodmanUnavailable as err:
            daemon._set_reachable(False)
            daemon.metrics.event_reconnects.inc()
            daemon.log.warning("podman_event_stream_lost", error=str(err), retry_in=delay)
        except Exception:  # anything else: say it, and follow the events again after the backoff
            daemon.metrics.event_reconnects.inc()
            daemon.log.exception("podman_event_stream_failed", retry_in=delay)
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
        except Exception:  # one failed pass must not end the resyncs for the months to come
            daemon.log.exception("resync_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), daemon.settings.resync_interval)


async def watchdog(stop: asyncio.Event) -> None:
    """Ping systemd's watchdog from the event loop: a hung loop stops pinging and gets restarted."""
    interval = systemd.watchdog_interval()
    if interval is None:
        return
    while not stop.is_set():
        systemd.watchdog()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def run(daemon: Daemon, on_ready: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads settings and desired state."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def hangup() -> None:
        systemd.reloading()
        daemon.log.info("reload_requested")
        daemon.reload_settings()
        daemon.rejected = None  # asked to look again: a refused revision is tried again too
        daemon.reload_desired()
        systemd.ready()

    loop.add_signal_handler(signal.SIGHUP, hangup)
    host, _, port = daemon.settings.metrics_address.rpartition(":")
    from monop.http import HttpServer

    server = HttpServer(daemon.metrics.registry, lambda: daemon.ready, host or "127.0.0.1", int(port))
    await server.start()
    daemon.http_address = f"{server.host}:{server.port}"
    daemon.log.info(
        "daemon_started",
        metrics=f"http://{server.host}:{server.port}/metrics",
        state_dir=str(daemon.settings.state_dir),
    )
    daemon.reload_desired()
    daemon.workers.start()
    if daemon.git is not None:
        sources = [
            asyncio.create_task(watch_git(daemon, stop), name="watch-git"),
            asyncio.create_task(fetch_every(daemon, stop), name="fetch-git"),
        ]
        server.add_route(
            "POST",
            "/hooks/git",
            webhook.handler(
                lambda: daemon.settings.webhook_secret,
                daemon.reload_desired,
                lambda: daemon.metrics.webhook_refused.inc(),
            ),
        )
    else:
        sources = [asyncio.create_task(watch_desired(daemon, stop), name="watch-desired")]
    tasks: list[asyncio.Future[None]] = [
        *sources,
        asyncio.create_task(follow_events(daemon, stop), name="podman-events"),
        asyncio.create_task(resync_every(daemon, stop), name="resync"),
        asyncio.create_task(watchdog(stop), name="watchdog"),
        asyncio.create_task(_announce_ready(daemon, stop, on_ready), name="ready"),
    ]
    await stop.wait()
    systemd.stopping()
    daemon.log.info("daemon_stopping")
    await daemon.workers.stop(timeout=daemon.settings.stop_timeout)
    tasks += [t for t in (daemon.rules_task, daemon.refresh_task) if t is not None]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await server.stop()
    daemon.save()
    daemon.log.info("daemon_stopped")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)


async def _announce_ready(
    daemon: Daemon, stop: asyncio.Event, on_ready: Callable[[], Awaitable[None]] | None
) -> None:
    """READY=1 once the desired state is loaded and Podman answered; systemd waits for it."""
    while not stop.is_set() and not daemon.ready[0]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    if daemon.ready[0]:
        systemd.ready(f"{len(daemon.units or {})} resources")
        daemon.log.info("daemon_ready")
        if on_ready is not None:
            await on_ready()
