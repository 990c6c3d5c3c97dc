"""Benchmark of a drift repair (recreate) with the safe swap: how long it takes, how long nothing serves.

Against a private Podman, one `monop run` with N stand-in services (as bench/daemon.py). For
10 repeats, one service's env is changed in its file, and, while a thread asks the service's
port for /metrics every 10 ms:
- edit -> recreated: to the daemon's log line saying the container was recreated; with the
  swap this includes the 1 s the replacement must stay up before it counts as started;
- edit -> new served: to the first answer carrying the new value;
- unavailable: the longest span in which the port answered nothing (from the last answer
  before to the first answer after).

Then how stopping shapes the gap, for a service whose PID 1 ignores SIGTERM (the stand-in's
busybox httpd with `stopSignal: SIGTERM`): Podman's default 10 s stop timeout, `stopTimeout:
2s`, `init: true`, and `stopSignal: SIGKILL`; 3 repeats each. A PID 1 deaf to SIGTERM keeps
serving while Podman waits to kill it, so the stop's cost shows in edit -> new served.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/swap.py [N] [--no-stop-fields].
`--no-stop-fields` skips the second part, for a monop that predates the fields: run with
PYTHONPATH=<an older tree>/operator to measure the remove-then-create recreate it did.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import service_yaml, write_service
from monop_testbed.podman_service import PodmanService, wait_for

BASE_PORT = 22200
REPEATS = 10
STOP_REPEATS = 3
DEAF = "  stopSignal: SIGTERM\n"  # httpd as PID 1 has no handler: the kernel drops SIGTERM
STOP_CASES = {
    "default (10 s timeout)": DEAF,
    "stopTimeout: 2s": DEAF + "  stopTimeout: 2s\n",
    "init: true": DEAF + "  init: true\n",
    "stopSignal: SIGKILL": "  stopSignal: SIGKILL\n",
}


def logged_at(line: dict[str, object]) -> float:
    return datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


class Watch:
    """Asks a port for /metrics every 10 ms; remembers when each answer (or none) came."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.samples: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=0.5) as client:
            while not self._stop.is_set():
                at = time.time()
                try:
                    body: str | None = client.get(self.url).text
                except httpx.HTTPError:
                    body = None
                self.samples.append((at, body))
                time.sleep(0.01)

    def first(self, text: str) -> float | None:
        return next((at for at, body in self.samples if body is not None and text in body), None)

    def longest_gap(self) -> float:
        gap, last_ok, failing = 0.0, None, False
        for at, body in self.samples:
            if body is None:
                failing = True
            elif last_ok is not None:
                if failing:
                    gap = max(gap, at - last_ok)
                failing = False
                last_ok = at
            else:
                last_ok = at
        return gap


@contextmanager
def watching(port: int) -> Iterator[Watch]:
    watch = Watch(port)
    watch._thread.start()
    try:
        yield watch
    finally:
        watch._stop.set()
        watch._thread.join(5)


def recreate(
    daemon: DaemonProcess, name: str, port: int, metrics: str, extra: str = ""
) -> tuple[float, float, float]:
    """Edit one service; seconds to the recreated log line, to the new value served, and unavailable."""
    key = f"BusinessService/{name}"
    seen = len(daemon.events("container_recreated", resource=key))
    with watching(port) as watch:
        time.sleep(0.1)  # a few answers of the old container first
        started = time.time()
        (daemon.desired / f"{name}.yaml").write_text(service_yaml(name, port, metrics) + extra)
        wait_for(
            lambda: len(daemon.events("container_recreated", resource=key)) > seen, 60, f"{key} recreated"
        )
        wait_for(lambda: watch.first(metrics) is not None, 30, f"{key} serving {metrics}")
        time.sleep(0.1)
    recreated = logged_at(daemon.events("container_recreated", resource=key)[-1]) - started
    served = (watch.first(metrics) or started) - started
    return recreated, served, watch.longest_gap()


def bench(n: int, stop_fields: bool) -> tuple[dict[str, str], list[dict[str, str]]]:
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        desired = Path(tmp) / "desired"
        for i in range(n):
            write_service(desired, f"svc-{i}", BASE_PORT + i)
        cases = list(STOP_CASES.items()) if stop_fields else []
        for j, (_, extra) in enumerate(cases):
            port = BASE_PORT + n + j
            (desired / f"stop-{j}.yaml").write_text(service_yaml(f"stop-{j}", port) + extra)
        total = n + len(cases)
        with DaemonProcess(service.url, desired, Path(tmp) / "state") as daemon:
            daemon.wait_ready()
            wait_for(lambda: daemon.notified(f"STATUS={total} resources, 0 drifted"), 300, "all in sync")
            runs = [recreate(daemon, f"svc-{i}", BASE_PORT + i, "app_up 2") for i in range(REPEATS)]
            stops = []
            for j, (label, extra) in enumerate(cases):
                port = BASE_PORT + n + j
                done = [
                    recreate(daemon, f"stop-{j}", port, f"app_up {k + 2}", extra) for k in range(STOP_REPEATS)
                ]
                stops.append(
                    {
                        "old container stops with": label,
                        "edit -> new served, median (s)": f"{statistics.median(d[1] for d in done):.2f}",
                        "unavailable, median (s)": f"{statistics.median(d[2] for d in done):.2f}",
                    }
                )
            assert daemon.stop() == 0
        service.remove_all_containers()
    recreated, served, gaps = zip(*runs, strict=True)
    row = {
        "N": str(n),
        "edit -> recreated, median / worst (s)": f"{statistics.median(recreated):.2f} / {max(recreated):.2f}",
        "edit -> new served, median / worst (s)": f"{statistics.median(served):.2f} / {max(served):.2f}",
        "unavailable, median / worst (s)": f"{statistics.median(gaps):.2f} / {max(gaps):.2f}",
    }
    return row, stops


def table(rows: list[dict[str, str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row.values()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = max(REPEATS, int(args[0]) if args else 50)
    row, stops = bench(n, "--no-stop-fields" not in sys.argv)
    print(table([row]))
    if stops:
        print()
        print(table(stops))


if __name__ == "__main__":
    main()
