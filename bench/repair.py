"""Benchmark: mass repair. Containers killed at once under `monop run`, to all running again.

Against a private Podman with N stand-in services (default 200) under one daemon, KILLED of
them (default 20) are killed with one `podman kill`; the time runs from just before that
command to the last of the daemon's `container_started` log lines for them (REPEATS times, a
different group each time, so no crash-loop backoff is involved), once for each `workers`
setting in WORKERS (the daemon restarted on the same containers). How long the `podman kill`
command itself took is given apart. Beside it, the same number of killed containers started
by `podman start`, one process each, all at once, through the same Podman service (`--url`,
as monop talks to it) and on its storage directly: what Podman itself takes, the floor monop
can approach.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/repair.py [N] [KILLED].
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon import logged_at, running  # bench/daemon.py
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

BASE_PORT = 24000
REPEATS = 3
WORKERS = (4, 16)  # the default before and after this benchmark was written


def mass_repair(service: PodmanService, daemon: DaemonProcess, names: list[str]) -> tuple[float, float]:
    """Seconds from just before one `podman kill` of `names` to the daemon's last start of them,
    and the seconds the `podman kill` command took."""
    seen = {
        name: len(daemon.events("container_started", resource=f"BusinessService/{name}")) for name in names
    }

    def started() -> list[dict[str, object]]:
        lines = []
        for name in names:
            found = daemon.events("container_started", resource=f"BusinessService/{name}")
            if len(found) <= seen[name]:
                return []
            lines.append(found[-1])
        return lines

    begun = time.time()
    service.podman("kill", *names)
    killed = time.time() - begun
    wait_for(started, 120, f"{len(names)} containers started again", interval=0.05)
    return max(logged_at(line) for line in started()) - begun, killed


def podman_start(service: PodmanService, names: list[str], remote: bool) -> float:
    """Seconds for `podman start` of each of `names` (killed first), all processes at once."""
    service.podman("kill", *names)
    wait_for(lambda: running(service) <= service_count(service) - len(names), 60, "killed")
    where = ["--url", service.url] if remote else service.flags
    begun = time.perf_counter()
    starts = [
        subprocess.Popen(["podman", *where, "start", name], env=service.env, stdout=subprocess.DEVNULL)
        for name in names
    ]
    if any(p.wait() != 0 for p in starts):
        raise SystemExit("podman start failed")
    return time.perf_counter() - begun


def service_count(service: PodmanService) -> int:
    return len(service.podman("ps", "-a", "--format", "{{.Names}}").stdout.split())


def bench(n: int, killed: int) -> dict[str, str]:
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        desired = Path(tmp) / "desired"
        for i in range(n):
            write_service(desired, f"svc-{i}", BASE_PORT + i)
        every = [[f"svc-{g * killed + i}" for i in range(killed)] for g in range(n // killed)]
        groups = iter(every)
        row = {"N": str(n), "killed": str(killed)}
        for workers in WORKERS:
            env = {"MONOP_WORKERS": str(workers)}
            with DaemonProcess(service.url, desired, Path(tmp) / "state", extra_env=env) as daemon:
                daemon.wait_ready()
                wait_for(lambda: running(service) == n, 600, f"{n} containers running", interval=0.5)
                wait_for(lambda: daemon.notified(f"STATUS={n} resources, 0 drifted"), 120, "all in sync")
                repairs = [mass_repair(service, daemon, next(groups)) for _ in range(REPEATS)]
                assert daemon.stop() == 0
            took = [total for total, _ in repairs]
            row[f"monop, workers={workers}: killed -> all started, median / worst (s)"] = (
                f"{statistics.median(took):.2f} / {max(took):.2f}"
            )
            row[f"of which `podman kill` (s), workers={workers}"] = (
                f"{statistics.median(kill for _, kill in repairs):.2f}"
            )
        # No daemon now: the groups it repaired can be killed again.
        remote = [podman_start(service, every[g], remote=True) for g in range(REPEATS)]
        local = [podman_start(service, every[REPEATS + g], remote=False) for g in range(REPEATS)]
        service.remove_all_containers()
    row["`podman --url start`, all at once (s)"] = f"{statistics.median(remote):.2f}"
    row["`podman start` on its storage, all at once (s)"] = f"{statistics.median(local):.2f}"
    return row


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    killed = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    load = os.getloadavg()[0]
    row = bench(max(n, killed * REPEATS * len(WORKERS)), killed)
    print("| " + " | ".join(row) + " |")
    print("|" + "---|" * len(row))
    print("| " + " | ".join(row.values()) + " |")
    print(f"\n(load average {load:.2f} when it started, on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
