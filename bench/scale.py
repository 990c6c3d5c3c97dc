"""Benchmark of `monop run` at scale: 1,000 cheap containers under one daemon.

Against a private Podman (its own storage and socket) with N BusinessServices running
busybox `sleep` from the test bed's local image, on no network (no CNI bridge, no host port):

- converge: from `monop run` started to every container running (with the first tree given);
- resync CPU: the CPU seconds of one no-op resync (list, plan, target files, records, state
  file) of the N in-sync resources, in a process of its own that builds the daemon's parts as
  `monop run` does (median of 5; the daemon process is stopped meanwhile);
- idle: the daemon's CPU time over a quiet span (resyncs every 30 s fall in it) and its
  resident memory after;
- status: a whole `monop status` process against the converged stack (median of 5).

Each tree (`--tree before=/path/to/operator`, repeatable; default: this one) is measured on the
same containers, back to back, and `uptime`'s load average is printed beside each row.

Usage: .venv/bin/python bench/scale.py [N] [IDLE_SECONDS] [--tree NAME=OPERATOR_DIR]...
       .venv/bin/python bench/scale.py --resync STATE_DIR DESIRED PODMAN_URL [PROFILE_OUT]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from daemon import cpu_seconds, rss_mib, running  # bench/daemon.py
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

HERE = Path(__file__).resolve().parent
SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: {name}
spec:
  image: {image}
  command: ["sleep", "1000000"]
  network: none
  stopSignal: SIGKILL
"""


def write_desired(tree: Path, n: int) -> None:
    tree.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (tree / f"svc-{i}.yaml").write_text(SERVICE.format(name=f"svc-{i}", image=images.BUSYBOX))


def queue_done(metrics_url: str) -> bool:
    """Whether the daemon's work queue is empty and no key is being reconciled (its /metrics)."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("monop_workqueue_") and 'name="resources"' in line:
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = float(value)
    return values.get("monop_workqueue_depth") == 0 and values.get(
        "monop_workqueue_queue_duration_seconds_count"
    ) == values.get("monop_workqueue_work_duration_seconds_count")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def env_for(tree: Path, url: str, state: Path, desired: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "MONOP_PODMAN_URL": url,
        "MONOP_DESIRED": str(desired),
        "MONOP_STATE_DIR": str(state),
        "MONOP_SD_DIR": str(state / "file_sd"),
        "MONOP_RULES_DIR": str(state / "rules"),
    }


def status_seconds(env: dict[str, str]) -> float:
    times = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "monop", "status"], env=env, capture_output=True, check=False)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def resync_cpu(tree: Path, state: Path, desired: Path, url: str, profile: Path | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one no-op resync, in a process of its own running `tree`."""
    copy = state.parent / (state.name + "-resync")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(state, copy)
    args = [sys.executable, str(HERE / "scale.py"), "--resync", str(copy), str(desired), url]
    out = subprocess.run(
        [*args, *([str(profile)] if profile else [])],
        env={**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def resync_main(state: Path, desired: Path, url: str, profile: str | None) -> None:
    """Build the daemon's parts in this process, then time five resyncs; prints the medians."""
    from monop.daemon.daemon import Daemon
    from monop.settings import load_settings

    settings = load_settings(
        {
            "desired": desired,
            "state_dir": state,
            "podman_url": url,
            "sd_dir": state / "file_sd",
            "rules_dir": state / "rules",
        }
    )

    async def run() -> tuple[float, float]:
        daemon = Daemon(settings)
        daemon.restore()
        daemon.reload_desired()
        assert daemon.source.refresh_task is not None
        await daemon.source.refresh_task
        await daemon.resync()  # the first one warms up what a running daemon has warm
        cpu, wall = [], []
        for _ in range(5):
            c, w = time.process_time(), time.monotonic()
            await daemon.resync()
            cpu.append(time.process_time() - c)
            wall.append(time.monotonic() - w)
        if profile:
            import cProfile

            with cProfile.Profile() as prof:
                await daemon.resync()
            prof.dump_stats(profile)
        daemon.queue.shutdown(drain=False)
        await daemon.health_checks.close()
        daemon.podman.close()
        return statistics.median(cpu), statistics.median(wall)

    cpu, wall = asyncio.run(run())
    print(f"{cpu:.3f} {wall:.3f}")


def bench(n: int, idle_seconds: float, trees: dict[str, Path]) -> list[dict[str, str]]:
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-scale-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_busybox(service)
        desired = Path(tmp) / "desired"
        write_desired(desired, n)
        converge = None
        for name, tree in trees.items():
            state = Path(tmp) / f"state-{name}"
            started = time.monotonic()
            with DaemonProcess(service.url, desired, state, extra_env={"PYTHONPATH": str(tree)}) as daemon:
                daemon.wait_ready(120)
                if converge is None:
                    wait_for(lambda: running(service) == n, 1800, f"{n} containers running", interval=1)
                    converge = time.monotonic() - started
                    converged = f"{converge:.1f} (load {load()})"
                else:
                    converged = "(converged before)"
                wait_for(lambda: daemon.notified(f"STATUS={n} resources, 0 drifted"), 600, "all in sync")
                # A start queues every resource (and a converge each container's events): the idle
                # span begins once all of that is done, with nothing queued or in progress.
                metrics = str(daemon.wait_event("daemon_started")["metrics"])
                wait_for(lambda m=metrics: queue_done(m), 1800, "the work queue empty", interval=1)
                time.sleep(5)
                pid = daemon.process.pid  # type: ignore[union-attr]
                load_idle = load()
                cpu_before = cpu_seconds(pid)
                time.sleep(idle_seconds)  # the span being measured: nothing happens, on purpose
                idle_cpu = (cpu_seconds(pid) - cpu_before) / idle_seconds * 100
                rss = rss_mib(pid)
                status = status_seconds(env_for(tree, service.url, state, desired))
                assert daemon.stop() == 0
            profile = (
                Path(os.environ["BENCH_PROFILE"] + f"-{name}") if "BENCH_PROFILE" in os.environ else None
            )
            cpu, wall = resync_cpu(tree, state, desired, service.url, profile)
            rows.append(
                row := {
                    "tree": name,
                    "N": str(n),
                    "converge from start (s)": converged,
                    "no-op resync: CPU / wall (s)": f"{cpu:.2f} / {wall:.2f} (load {load()})",
                    f"idle CPU over {idle_seconds:g} s (% of a core)": f"{idle_cpu:.2f} (load {load_idle})",
                    "RSS (MiB)": f"{rss:.0f}",
                    "`monop status` (s)": f"{status:.2f}",
                }
            )
            print("| " + " | ".join(row.values()) + " |", flush=True)  # as each tree is done
        service.podman("rm", "--all", "--force", "--time", "0", check=False, timeout=1800)
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--resync"]:
        resync_main(
            Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None
        )
        return
    args = sys.argv[1:]
    trees: dict[str, Path] = {}
    while "--tree" in args:
        at = args.index("--tree")
        name, _, path = args[at + 1].partition("=")
        trees[name] = Path(path).resolve()
        del args[at : at + 2]
    n = int(args[0]) if args else 1000
    idle = float(args[1]) if len(args) > 1 else 60.0
    rows = bench(n, idle, trees or {"this tree": HERE.parent / "operator"})
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    main()
