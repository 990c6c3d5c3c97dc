"""Benchmark: the status page's time to first render with N resources, in Debian's Chromium.

The page is served by the daemon's own HTTP listener and `StatusPage`. Each look does what
the daemon's (`monop.cli.view.gather`, then `document`) does but ask Podman and Prometheus:
N Exporters, read once from a desired tree by monop's loader (the desired state in force),
expanded to units and planned against N containers described by hand (Podman's answer, made
once: the page's cost, not Podman's), most in sync, some drifted and stopped; their records
read from a real state file, the last events from a real events.jsonl (50), the scrape jobs,
the document. What a real daemon adds per look, Podman's container list, is in the
real-daemon table (and bench/reconcile.py's figures); Prometheus is not asked.

Each figure is the median of REPEATS fresh tabs of one headless Chromium (Playwright driving
Debian's package), read from the browser's Performance API: first contentful paint (FCP) and
the load event, from the start of navigation. Each tab waits out FRESH_S first, so its GET /
makes a look anew (its polls then share it, as in a daemon). Measured in the same run, two references: the
same page with no resources, and the 200-resource HTML served as fixed bytes by the same
listener (what the browser alone costs for that document). Beside them: the server's time to
make the page and the JSON (N resources), and their sizes.

Then what an open page costs a real `monop run` (REAL running stand-in services on a private
Podman, default 20): the daemon's CPU over 30 s with no page open and with one tab open, and
a fresh GET /api/v1/status (Podman's container list, the state file, the document).

Usage: bench/run (all benchmarks), or .venv/bin/python bench/page.py [N] [REAL] (REAL 0: not run).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monop.cli import output
from monop.cli.view import View, document
from monop.daemon.events import EVENTS_FILE, Event
from monop.daemon.http import Listener, Request, Response
from monop.daemon.metrics import Metrics
from monop.daemon.page import FRESH_S, StatusPage, last_events
from monop.daemon.statestore import DaemonRecord, ResourceRecord, StateStore
from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.prometheus.scrape import jobs
from monop.reconcile.health import Knowledge
from monop.reconcile.holds import Holds
from monop.reconcile.plan import plan, units
from monop.reconcile.states import State
from monop.reconcile.status import Observation, evaluate
from monop.runtime.observed import LiveContainer, ObservedState
from reconcile import write_tree  # bench/reconcile.py: N Exporters, each on a loopback port

REPEATS = 10
REAL_BASE_PORT = 20410  # host ports of the real daemon's stand-in services: 20410 and up
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def world(tree: Path, state_dir: Path, now: float) -> tuple[DesiredState, ObservedState]:
    """Made once: the desired state in force, Podman's answer (one in ten drifted, one in twenty
    stopped), and the state file and events.jsonl a daemon would have written for them."""
    state = load(tree)
    wanted = units(state)
    started = datetime.fromtimestamp(now - 3600, UTC)
    containers = []
    for i, unit in enumerate(wanted):
        labels = dict(unit.labels)
        if i % 10 == 3:
            labels["monop.dev/spec-hash"] = "0" * 16  # drifted
        stopped = i % 20 == 7
        containers.append(
            LiveContainer(
                f"{i:012d}" + "0" * 52,
                unit.name,
                "exited" if stopped else "running",
                image=unit.config.image,
                image_id="sha256:" + "ab" * 32,
                exit_code=1 if stopped else 0,
                labels=labels,
                created_at=started,
                started_at=started,
                finished_at=started if stopped else None,
            )
        )
    observed = ObservedState(tuple(containers), {})
    result = plan(wanted, observed, health=Knowledge(now), holds=Holds(now))
    records = {}
    for s in result.statuses:
        seen = Observation(s.state, message="; ".join(str(r) for r in s.reasons), running=True)
        conditions = evaluate(seen, (), now - 600).conditions
        records[s.key] = ResourceRecord(
            s.key,
            state=s.state.value,
            last_reconcile_at=now - 30,
            last_result="success",
            restart_count=len(s.key) % 3,
            sync="Synced" if s.state is State.IN_SYNC else "OutOfSync",
            health_status="Healthy",
            conditions=[c.to_json() for c in conditions],
        )
    daemon = DaemonRecord(
        pid=os.getpid(), started_at=now - 3600, updated_at=now, source=str(tree), ready=True
    )
    StateStore(state_dir).save(daemon, records)
    keys: list[str | None] = [*sorted(records)] or [None]
    events = (
        Event(
            now - 60 * (50 - i),
            "Normal",
            "Started",
            "state: exited (code 137) -> running",
            keys[i % len(keys)],
        )
        for i in range(50)
    )  # written as the daemon's EventLog writes them, without its log line for each
    (state_dir / EVENTS_FILE).write_text("".join(json.dumps(e.to_json()) + "\n" for e in events))
    return state, observed


def view_of(state: DesiredState, observed: ObservedState, state_dir: Path) -> View:
    """One look: what `gather` does for the daemon's page, Podman's and Prometheus's answers aside."""
    now = time.time()
    result = plan(units(state), observed, health=Knowledge(now), holds=Holds(now))
    daemon, records = StateStore(state_dir).load()
    scrapes: dict[str, list[Any]] = {}
    for job in jobs(state, "127.0.0.1", None):
        for target in job.targets:
            scrapes.setdefault(target.resource, []).append(target)
    statuses = output.with_daemon(result.statuses, records, now)
    return View(statuses, records, daemon, True, None, [], {}, now, scrapes)


@contextmanager
def serving(routes: dict[str, Callable[[Request], Any]]) -> Iterator[str]:
    """A Listener on a free loopback port in a thread of its own; yields its base URL."""
    ready, stop = threading.Event(), threading.Event()
    found: list[str] = []

    async def main() -> None:
        listener = Listener("127.0.0.1", 0)
        for path, handler in routes.items():
            listener.add_route("GET", path, handler)
        async with listener:
            found.append(f"http://127.0.0.1:{listener.port}")
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield found[0]
    finally:
        stop.set()
        thread.join(10)


def page_routes(look: Callable[[], View], state_dir: Path) -> dict[str, Callable[[Request], Any]]:
    def produce() -> dict[str, Any]:
        view = look()
        return document(view, view.statuses)

    page = StatusPage(produce, lambda: last_events(state_dir), Metrics(CollectorRegistry()).registry)
    return {path: handler for (_method, path), handler in page.routes().items()}


def first_render(browser: Any, url: str, rows: int) -> tuple[float, float]:
    """(FCP, load event) in ms from navigation start, medians of REPEATS fresh tabs."""
    paints, loads = [], []
    for _ in range(REPEATS + 1):
        time.sleep(FRESH_S + 0.05)  # the tab's GET / makes a look anew, as a first visit does
        tab = browser.new_page()
        tab.goto(url, wait_until="load")
        assert tab.locator("tr[data-resource]").count() == rows, "the page did not list every resource"
        # The paint entry is recorded once the frame is presented, which may follow `load`.
        timing = tab.evaluate(
            """() => new Promise(resolve => {
                const done = () => {
                    const paint = performance.getEntriesByName('first-contentful-paint')[0];
                    if (paint) resolve({fcp: paint.startTime,
                                        load: performance.getEntriesByType('navigation')[0].loadEventEnd});
                    return Boolean(paint);
                };
                if (!done()) new PerformanceObserver(done).observe({type: 'paint', buffered: true});
            })"""
        )
        tab.close()
        paints.append(float(timing["fcp"]))
        loads.append(float(timing["load"]))
    return statistics.median(paints[1:]), statistics.median(loads[1:])  # the first warms the browser


def server_ms(url: str) -> tuple[float, int]:
    """Median ms for one GET (made anew each time: the page's cache lasts FRESH_S), and its size."""
    import httpx

    times, size = [], 0
    for _ in range(REPEATS):
        time.sleep(FRESH_S + 0.05)  # the document is produced again, as for a new poll
        started = time.perf_counter()
        answer = httpx.get(url, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        size = len(answer.content)
    return statistics.median(times), size


def bench(n: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    from playwright.sync_api import sync_playwright

    now = time.time()
    with tempfile.TemporaryDirectory(prefix="monop-bench-page-") as tmp:
        state_dir, nothing = Path(tmp) / "state", Path(tmp) / "nothing"
        state, observed = world(write_tree(Path(tmp), n), state_dir, now)
        nothing.mkdir()
        full = view_of(state, observed, state_dir)
        empty = View([], {}, full.daemon, True, None, [], {}, now, {})
        rows = []
        with (
            serving(page_routes(lambda: view_of(state, observed, state_dir), state_dir)) as big,
            serving(page_routes(lambda: empty, nothing)) as none,
            sync_playwright() as playwright,
        ):
            html = httpx_get(big + "/")

            async def fixed(_: Request) -> Response:
                return Response(200, html, {"content-type": "text/html; charset=utf-8"})

            with serving({"/": fixed}) as static:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                try:
                    for label, url, count in (
                        (f"status page, {n} resources", big, n),
                        ("status page, no resources (reference)", none, 0),
                        (f"the same {n}-resource HTML as fixed bytes (reference)", static, n),
                    ):
                        fcp, loaded = first_render(browser, url + "/", count)
                        rows.append(
                            {
                                "page": label,
                                "first contentful paint (ms)": f"{fcp:.0f}",
                                "load event (ms)": f"{loaded:.0f}",
                            }
                        )
                finally:
                    browser.close()
            page_ms, page_bytes = server_ms(big + "/")
            json_ms, json_bytes = server_ms(big + "/api/v1/status")
        served = [
            {
                "request": f"GET / ({n} resources)",
                "server time (ms)": f"{page_ms:.0f}",
                "size (KiB)": f"{page_bytes / 1024:.0f}",
            },
            {
                "request": "GET /api/v1/status",
                "server time (ms)": f"{json_ms:.0f}",
                "size (KiB)": f"{json_bytes / 1024:.0f}",
            },
        ]
    return rows, served


def open_page_cost(n: int, span: float) -> list[dict[str, str]]:
    """A real `monop run` with n running stand-in services on a private Podman: its CPU over
    `span` seconds with no page open, then with one tab open on `/` (polling every 2 s), and
    the median time of GET /api/v1/status (each a fresh look: Podman's list, the state file)."""
    import httpx
    from playwright.sync_api import sync_playwright

    from daemon import cpu_seconds, running  # bench/daemon.py
    from monop_testbed import images
    from monop_testbed.daemon import DaemonProcess
    from monop_testbed.desired import write_service
    from monop_testbed.podman_service import PodmanService, wait_for

    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-page-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        desired = Path(tmp) / "desired"
        for i in range(n):
            write_service(desired, f"page-{i}", REAL_BASE_PORT + i)
        with DaemonProcess(service.url, desired, Path(tmp) / "state") as daemon:
            daemon.wait_ready()
            wait_for(lambda: running(service) == n, 300, f"{n} containers running", interval=0.2)
            wait_for(lambda: daemon.notified(f"STATUS={n} resources, 0 drifted"), 120, "all in sync")
            pid = daemon.process.pid  # type: ignore[union-attr]

            def cpu_percent() -> float:
                before = cpu_seconds(pid)
                time.sleep(span)  # the span measured: the daemon left alone, or with the tab polling
                return (cpu_seconds(pid) - before) / span * 100

            closed = cpu_percent()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                tab = browser.new_page()
                tab.goto(daemon.base_url + "/")
                assert tab.locator("tr[data-resource]").count() == n
                opened = cpu_percent()
                browser.close()
            looks = []
            for _ in range(REPEATS):
                time.sleep(FRESH_S + 0.05)  # a fresh look each time
                started = time.perf_counter()
                assert httpx.get(daemon.base_url + "/api/v1/status", timeout=30).status_code == 200
                looks.append((time.perf_counter() - started) * 1000)
            assert daemon.stop() == 0
        service.remove_all_containers()
    return [
        {
            "real daemon": f"{n} running containers",
            f"daemon CPU, no page, over {span:g} s (%)": f"{closed:.1f}",
            "daemon CPU, one tab open (%)": f"{opened:.1f}",
            "GET /api/v1/status (ms)": f"{statistics.median(looks):.0f}",
        }
    ]


def httpx_get(url: str) -> bytes:
    import httpx

    return httpx.get(url, timeout=30).content


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    load_avg = os.getloadavg()[0]
    real = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    tables = [*bench(n), *([open_page_cost(real, 30.0)] if real else [])]  # REAL 0: no real daemon
    for rows in tables:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for row in rows:
            print("| " + " | ".join(row.values()) + " |")
        print()
    print(f"(load average {load_avg:.2f} when it started, on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
