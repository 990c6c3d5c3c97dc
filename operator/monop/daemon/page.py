"""The daemon's read-only status page: `GET /` (HTML) and `GET /api/v1/status` (JSON).

The JSON is `monop status -o json`'s document, made by the same function (`monop.cli.view.
status_document`, handed in as `produce`: the CLI is a layer above this one). The page is that
document rendered on the server (`monop.daemon.pagehtml`, every piece of user text escaped),
the daemon's last events, and a chart drawn from its own metrics; a few lines of JavaScript
poll the JSON every `POLL_S` seconds and, when it changed, fetch the page again and swap its
`<main>`. Nothing is loaded from anywhere else: no CDN, no build step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monop import secrets
from monop.daemon.http import Handler, Listener, Request, Response
from monop.daemon.pagehtml import EVENTS_SHOWN, render

FRESH_S = 1.0  # seconds a document is served again before it is made anew: many tabs, one look
SAMPLE_S = 10.0  # seconds between two samples of the reconcile counter, for the chart
KEEP_MINUTES = 30  # minutes of reconciles-per-minute the chart shows
API_PATH = "/api/v1/status"

Produce = Callable[[], dict[str, Any]]  # blocking: asks Podman, the state file and Prometheus
Events = Callable[[], list[dict[str, Any]]]  # blocking: events as JSON, oldest first (`last_events`)


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
        """(bucket's upper bound, repairs in that bucket alone) of monop_event_to_repair_seconds."""
        cumulative = [
            (s.labels["le"], s.value)
            for metric in self.registry.collect()
            if metric.name == "monop_event_to_repair_seconds"
            for s in metric.samples
            if s.name.endswith("_bucket")
        ]
        out, before = [], 0.0
        for bound, count in cumulative:
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


class StatusPage:
    """The page's routes; `produce` and `events` run in a thread, at most once per FRESH_S."""

    def __init__(
        self,
        produce: Produce,
        events: Events,
        registry: CollectorRegistry,
        *,
        log: Any = None,
        on_error: Callable[[Exception], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._produce, self._events, self._on_error, self._log = produce, events, on_error, log
        self._last_error: str | None = None  # logged once until a look succeeds again
        self._clock = clock
        self.activity = Activity(registry, clock)
        self._last: tuple[float, dict[str, Any], list[dict[str, Any]]] | None = None
        self._failure: tuple[float, Exception] | None = None
        self._lock = asyncio.Lock()

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        return {("GET", "/"): self.page, ("GET", API_PATH): self.api}

    def add_to(self, listener: Listener) -> None:
        for (method, path), handler in self.routes().items():
            listener.add_route(method, path, handler)

    async def look(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The status document and the last events; raises what `produce` raises (PodmanUnavailable, ...)."""
        async with self._lock:  # one look at a time: the others wait for it and share it
            now = self._clock()
            if self._failure is not None and now - self._failure[0] < FRESH_S:
                raise self._failure[1]  # Podman down: asked again after FRESH_S, not on every request
            if self._last is None or now - self._last[0] >= FRESH_S:
                try:
                    document, events = await asyncio.to_thread(lambda: (self._produce(), self._events()))
                except Exception as err:
                    self._failure = (now, err)
                    raise
                self._failure = None
                # As `monop status` scrubs its output: a value known to be secret never leaves.
                document, events = secrets.scrub(document), secrets.scrub(events)
                self._last = (now, document, events)
                if self._last_error is not None and self._log is not None:
                    self._log.info("status_page_recovered")
                self._last_error = None
            self.activity.sample()
            return self._last[1], self._last[2]

    async def api(self, _: Request) -> Response:
        try:
            document, _events = await self.look()
        except Exception as err:
            return _json(503, {"error": self._failed(err)})
        return _json(200, document)

    async def page(self, _: Request) -> Response:
        try:
            document, events = await self.look()
            error = None
        except Exception as err:
            document, events, error = {}, [], self._failed(err)
        body = render(
            document,
            events,
            self.activity,
            now=self._clock(),
            error=error,
            api=API_PATH,
        )
        return Response(
            200 if error is None else 503,
            body.encode(),
            {
                "content-type": "text/html; charset=utf-8",
                # Inline script and style only, nothing from elsewhere; the page is never framed.
                "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
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

    def _failed(self, err: Exception) -> str:
        """Why a look failed, for the page; counted each time, logged when it is news."""
        message = str(secrets.scrub(str(err) or type(err).__name__))
        if self._on_error is not None:
            self._on_error(err)
        if message != self._last_error and self._log is not None:
            self._log.warning("status_page_failed", error=message)
        self._last_error = message
        return message


def _json(status: int, body: object) -> Response:
    return Response(
        status,
        (json.dumps(body) + "\n").encode(),
        {"content-type": "application/json", "cache-control": "no-store"},
    )
