"""The daemon's read-only status page: `GET /` (HTML) and `GET /api/v1/status` (JSON).

The JSON is `monop status -o json`'s document, made by the same function (`monop.cli.view.
status_document`, handed in as `produce`: the CLI is a layer above this one). The page is that
document rendered on the server (`monop.daemon.pagehtml`, every piece of user text escaped),
the daemon's last events, and a chart drawn from its own metrics; a few lines of JavaScript
poll the JSON every `POLL_S` seconds and, when its ETag is not the digest on the page's `<main>`,
fetch the page again and swap its `<main>`. Nothing is loaded from anywhere else: no CDN, no
build step. Both routes answer only to this daemon's own Host names (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from monop import secrets
from monop.daemon.http import Handler, Listener, Request, Response, text
from monop.daemon.pagehtml import EVENTS_SHOWN, content_security_policy, render

FRESH_S = 1.0  # seconds a finished look is served again before one is made anew: many tabs, one look
LOOK_TIMEOUT_S = 8.0  # seconds a request waits for a look (below http.REQUEST_TIMEOUT): then a 503
SAMPLE_S = 10.0  # seconds between two samples of the reconcile counter, for the chart
KEEP_MINUTES = 30  # minutes of reconciles-per-minute the chart shows
API_PATH = "/api/v1/status"

Produce = Callable[[], dict[str, Any]]  # blocking: asks Podman, the state file and Prometheus
Events = Callable[[], list[dict[str, Any]]]  # blocking: events as JSON, oldest first (`last_events`)
_T = TypeVar("_T")


@dataclass
class Activity:
    """What the chart shows, from the registry: repair latencies and reconciles per minute.

    `per_minute` comes from samples of monop_reconcile_total, taken every SAMPLE_S by the daemon
    (`StatusPage.sample_every`) and at each look: a minute without one (before the daemon
    started) has no bar rather than a made-up one.
    """

    registry: CollectorRegistry
    clock: Callable[[], float] = time.time
    _firsts: dict[int, float] = field(default_factory=dict)  # minute (epoch // 60) -> first total seen

    def sample(self) -> None:
        minute = int(self.clock() // 60)
        self._firsts.setdefault(minute, _total(self.registry, "monop_reconcile_total"))
        for old in [m for m in self._firsts if m <= minute - KEEP_MINUTES - 1]:
            del self._firsts[old]

    def per_minute(self) -> list[tuple[int, float | None]]:
        """(minute, reconciles in it) for the last KEEP_MINUTES minutes, oldest first; None: not seen.

        The minute under way counts up to now."""
        now_minute = int(self.clock() // 60)
        current = _total(self.registry, "monop_reconcile_total")
        out: list[tuple[int, float | None]] = []
        for minute in range(now_minute - KEEP_MINUTES + 1, now_minute + 1):
            start = self._firsts.get(minute)
            end = current if minute == now_minute else self._firsts.get(minute + 1)
            out.append((minute, None if start is None or end is None else max(0.0, end - start)))
        return out

    def repair_latency(self) -> list[tuple[str, float]]:
        """(bucket's upper bound, repairs in that bucket alone) of monop_event_to_repair_seconds,
        summed over its label sets, should it gain labels."""
        cumulative: dict[str, float] = {}  # bound -> repairs up to it, in the buckets' order
        for metric in self.registry.collect():
            if metric.name != "monop_event_to_repair_seconds":
                continue
            for s in metric.samples:
                if s.name.endswith("_bucket"):
                    cumulative[s.labels["le"]] = cumulative.get(s.labels["le"], 0.0) + s.value
        out, before = [], 0.0
        for bound, count in cumulative.items():
            out.append((bound, count - before))
            before = count
        return out


def last_events(state_dir: Path, newest: int = EVENTS_SHOWN) -> list[dict[str, Any]]:
    """The `newest` events and each resource's last one, oldest first, as JSON (events.jsonl)."""
    from monop.daemon.events import read_events

    found = read_events(state_dir)
    latest = {e.resource: i for i, e in enumerate(found)}
    keep = set(latest.values()) | set(range(max(0, len(found) - newest), len(found)))
    return [found[i].to_json() for i in sorted(keep)]


def _total(registry: CollectorRegistry, sample: str) -> float:
    # Only the metric asked for: the whole registry holds a few samples per resource (13 ms
    # to collect with 1,000 resources), and the sampler asks every SAMPLE_S.
    restricted = registry.restricted_registry([sample])
    return sum(s.value for m in restricted.collect() for s in m.samples if s.name == sample)


class LookTimedOut(Exception):
    """A look did not finish within the page's timeout (Podman, the state file or Prometheus slow)."""


class StatusPage:
    """The page's routes. `produce` and `events` run in a thread of their own, one look at a time:
    requests while it runs share it, and a finished look is served again for FRESH_S."""

    def __init__(
        self,
        produce: Produce,
        events: Events,
        registry: CollectorRegistry,
        *,
        log: Any = None,
        on_error: Callable[[Exception], object] | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = LOOK_TIMEOUT_S,
    ) -> None:
        self._produce, self._events, self._on_error, self._log = produce, events, on_error, log
        self._last_error: str | None = None  # logged once until a look succeeds again
        self._clock, self._timeout = clock, timeout
        self.activity = Activity(registry, clock)
        self._last: Look | None = None
        self._failure: tuple[float, Exception] | None = None  # when the last look failed, and why
        self._running: asyncio.Future[Look] | None = None  # the look under way, shared by all who ask
        self._slow_said = False  # the running look's timeout counted and logged once
        self._hosts = {"localhost"}  # Host header values served besides IP literals (`add_to`)

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        return {("GET", "/"): self.page, ("GET", API_PATH): self.api}

    def add_to(self, listener: Listener) -> None:
        self._hosts |= {listener.host.lower(), socket.gethostname().lower()}
        for (method, path), handler in self.routes().items():
            listener.add_route(method, path, handler)

    async def look(self) -> Look:
        """The status document and the last events; raises what `produce` raises (PodmanUnavailable,
        LookupError, ...) or LookTimedOut after `timeout` seconds (the look goes on, for the next)."""
        now = self._clock()
        if self._running is None:
            if self._failure is not None and now - self._failure[0] < FRESH_S:
                raise self._failure[1]  # Podman down: asked again after FRESH_S, not on every request
            if self._last is not None and now - self._last.finished < FRESH_S:
                self.activity.sample()
                return self._last
            self._running = asyncio.ensure_future(self._make())
            # Its failure is reported in _make; retrieved here too, in case every asker gave up.
            self._running.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            async with asyncio.timeout(self._timeout):
                # shield: a request that gives up (its timeout, a client gone) leaves the look running.
                look = await asyncio.shield(self._running)
        except TimeoutError:
            err = LookTimedOut(f"no answer from Podman, the state file or Prometheus in {self._timeout:g} s")
            if not self._slow_said:
                self._slow_said = True
                self._report(err)
            raise err from None
        self.activity.sample()
        return look

    async def _make(self) -> Look:
        """One look, in a daemon thread of its own (never the loop's default executor, which Podman's
        client uses, and never one that holds the daemon's exit); failures counted here, once each."""
        try:
            document, events = await _in_thread(lambda: (self._produce(), self._events()))
        except Exception as err:
            self._failure = (self._clock(), err)
            self._report(err, count=not self._slow_said)  # a look that timed out is counted already
            raise
        finally:
            self._running, self._slow_said = None, False
        self._failure = None
        # As `monop status` scrubs its output: a value known to be secret never leaves.
        document, events = secrets.scrub(document), secrets.scrub(events)
        body = (json.dumps(document) + "\n").encode()
        self._last = Look(document, events, body, hashlib.sha256(body).hexdigest()[:32], self._clock())
        if self._last_error is not None and self._log is not None:
            self._log.info("status_page_recovered")
        self._last_error = None
        return self._last

    def _report(self, err: Exception, *, count: bool = True) -> None:
        """A failed (or timed out) look: counted, and logged when its reason is news."""
        if count and self._on_error is not None:
            self._on_error(err)
        message = _message(err)
        if message != self._last_error and self._log is not None:
            self._log.warning("status_page_failed", error=message)
        self._last_error = message

    def _foreign(self, request: Request) -> Response | None:
        """A 403 for a Host this daemon is not (DNS rebinding: a page on another site that resolves
        its name to this address may not read it); IP literals, `localhost`, the listener's host
        and this machine's name are served, as is a request without a Host."""
        host = request.headers.get("host")
        if host is None:
            return None
        try:
            name = urlsplit("//" + host).hostname or ""
            if name not in self._hosts:
                ipaddress.ip_address(name)
        except ValueError:  # not an IP address, or not a host at all ("[::1")
            return text(403, f"this page answers to its address or localhost, not to Host {host!r}")
        return None

    async def api(self, request: Request) -> Response:
        if (refused := self._foreign(request)) is not None:
            return refused
        try:
            look = await self.look()
        except Exception as err:
            return _json(503, {"error": _message(err)})
        return Response(
            200,
            look.body,
            {"content-type": "application/json", "cache-control": "no-store", "etag": f'"{look.digest}"'},
        )

    async def page(self, request: Request) -> Response:
        if (refused := self._foreign(request)) is not None:
            return refused
        try:
            look = await self.look()
            document, events, digest, error = look.document, look.events, look.digest, None
        except Exception as err:
            document, events, digest, error = {}, [], "", _message(err)
        body = render(
            document,
            events,
            self.activity,
            now=self._clock(),
            error=error,
            api=API_PATH,
            digest=digest,
        )
        return Response(
            200 if error is None else 503,
            # backslashreplace: a file name that is not UTF-8 (a lone surrogate) is shown, not a crash.
            body.encode("utf-8", "backslashreplace"),
            {
                "content-type": "text/html; charset=utf-8",
                # The template's own script and style only (by their hashes), nothing from elsewhere;
                # the page is never framed.
                "content-security-policy": content_security_policy(API_PATH),
                "x-content-type-options": "nosniff",
                "cache-control": "no-store",
            },
        )

    async def sample_every(self, stop: asyncio.Event) -> None:
        """Sample the reconcile counter every SAMPLE_S until `stop` is set: the chart's history."""
        while not stop.is_set():
            self.activity.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_S)


@dataclass(frozen=True)
class Look:
    """One look: the document, the last events, the JSON served and its digest (the page's
    `<main data-digest>` and the JSON's ETag: the script compares them), and when it finished."""

    document: dict[str, Any]
    events: list[dict[str, Any]]
    body: bytes
    digest: str
    finished: float


def _message(err: Exception) -> str:
    return str(secrets.scrub(str(err) or type(err).__name__))


def _in_thread(work: Callable[[], _T]) -> asyncio.Future[_T]:
    """`work()` in a new daemon thread; its result or exception settles the returned future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, err: BaseException | None) -> None:
        if future.done():
            return
        if err is not None:
            future.set_exception(err)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, err = work(), None
        except BaseException as caught:  # handed to the loop, raised where the look is awaited
            result, err = None, caught
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, err)

    threading.Thread(target=run, name="status-page-look", daemon=True).start()
    return future


def _json(status: int, body: object) -> Response:
    return Response(
        status,
        (json.dumps(body) + "\n").encode(),
        {"content-type": "application/json", "cache-control": "no-store"},
    )
