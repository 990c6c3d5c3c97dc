"""Benchmark of `monop run`: how fast it repairs, and what it costs when there is nothing to do.

Against a private Podman with N stand-in services:
- converge: from `monop run` started to every container running;
- kill -> started: `podman kill` of a container to the daemon's log line saying it started it
  again (a different container each time, so no crash-loop backoff is involved);
- edit -> recreated: a changed env value saved to a desired file, to the log line saying the
  container was recreated (includes the 0.3 s debounce);
- idle: CPU time and resident memory of the daemon over a quiet span, resyncs included.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/daemon.py [N] [IDLE_SECONDS].
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

BASE_PORT = 22000
REPEATS = 10


def logged_at(line: dict[str, object]) -> float:
    return datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


def running(service: PodmanService) -> int:
    out = service.podman("ps", "--filter", "status=running", "--format", "{{.Names}}").stdout
    return len(out.split())


def repair_after(daemon: DaemonProcess, event: str, resource: str, act: object, timeout: float = 30) -> float:
    """Seconds from just before `act()` to the daemon's log line `event` for `resource`."""
    seen = len(daemon.events(event, resource=resource))
    started = time.time()
    act()  # type: ignore[operator]
    wait_for(lambda: len(daemon.events(event, resource=resource)) > seen, timeout, f"{event} {resource}")
    return logged_at(daemon.events(event, resource=resource)[-1]) - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench(n: int, idle_seconds: float) -> dict[str, str]:
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        desired = Path(tmp) / "desired"
        for i in range(n):
            write_service(desired, f"svc-{i}", BASE_PORT + i)
        started = time.monotonic()
        with DaemonProcess(service.url, desired, Path(tmp) / "state") as daemon:
            daemon.wait_ready()
            wait_for(lambda: running(service) == n, 300, f"{n} containers running", interval=0.1)
            converge = time.monotonic() - started
            wait_for(lambda: daemon.notified(f"STATUS={n} resources, 0 drifted"), 60, "all in sync")

            kills = [
                repair_after(
                    daemon,
                    "container_started",
                    f"BusinessService/svc-{i}",
                    lambda i=i: service.podman("kill", f"svc-{i}"),
                )
                for i in range(REPEATS)
            ]
            edits = [
                repair_after(
                    daemon,
                    "container_recreated",
                    f"BusinessService/svc-{i}",
                    lambda i=i: write_service(desired, f"svc-{i}", BASE_PORT + i, metrics="app_up 2"),
                )
                for i in range(REPEATS)
            ]
            wait_for(lambda: running(service) == n, 60, "all running again", interval=0.1)

            pid = daemon.process.pid  # type: ignore[union-attr]
            cpu_before = cpu_seconds(pid)
            time.sleep(idle_seconds)  # the span being measured: nothing happens, on purpose
            idle_cpu = (cpu_seconds(pid) - cpu_before) / idle_seconds * 100
            rss = rss_mib(pid)
            assert daemon.stop() == 0
        service.remove_all_containers()
    return {
        "N": str(n),
        "converge from start (s)": f"{converge:.2f}",
        "kill -> started, median / worst (s)": f"{statistics.median(kills):.2f} / {max(kills):.2f}",
        "edit -> recreated, median / worst (s)": f"{statistics.median(edits):.2f} / {max(edits):.2f}",
        f"idle CPU over {idle_seconds:g} s (%)": f"{idle_cpu:.2f}",
        "RSS (MiB)": f"{rss:.0f}",
    }


def main() -> None:
    n = max(REPEATS, int(sys.argv[1]) if len(sys.argv) > 1 else 50)
    idle = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    row = bench(n, idle)
    print("| " + " | ".join(row) + " |")
    print("|" + "---|" * len(row))
    print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    main()
