"""Benchmark: from `git push` to a bare repository to all three hosts of a fleet converged.

Three daemons (instances alpha, beta, gamma), each with its own private Podman service and host
labels, follow one bare repository (its ref is watched, no polling), as tests/daemon/test_fleet_daemons.py.
Each repeat changes the env of one shared resource that every host runs; the time runs from
just before `git push` to each daemon's log line saying its container was recreated, and the
fleet's figure is the last of the three.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/fleet.py [REPEATS].
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from daemon import logged_at  # bench/daemon.py: a script's own folder is on sys.path
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.gitrepo import PushedRepo
from monop_testbed.podman_service import PodmanService, wait_for

HOSTS = {"alpha": {"zone": "a"}, "beta": {"zone": "b"}, "gamma": {"zone": "b", "disk": "ssd"}}
KEY = "BusinessService/probe"


def sleeper(name: str, role: str = "0", placement: str = "") -> str:
    text = (
        "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\n"
        f"metadata:\n  name: {name}\nspec:\n  image: {images.BUSYBOX}\n"
        f"  command: [sleep, '3600']\n  network: none\n  env: {{ROLE: '{role}'}}\n"
    )
    return text + (f"  placement:\n    matchLabels: {placement}\n" if placement else "")


def recreated(daemon: DaemonProcess) -> int:
    return len(daemon.events("container_recreated", resource=KEY))


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        repo = PushedRepo(base)
        repo.write("probe.yaml", sleeper("probe"))
        repo.write("cache.yaml", sleeper("cache", placement="{zone: b}"))
        repo.write("hosts/gamma/extra.yaml", sleeper("extra"))
        repo.push("probe everywhere, cache in zone b, extra on gamma")
        daemons = {}
        for name, labels in HOSTS.items():
            podman = stack.enter_context(PodmanService(base / name[:2]))
            images.build_busybox(podman)
            env = {
                "MONOP_GIT_URL": str(repo.bare),
                "MONOP_GIT_FETCH_INTERVAL": "1h",
                "MONOP_INSTANCE": name,
                "MONOP_HOST_NAME": name,
                "MONOP_HOST_LABELS": json.dumps(labels),
            }
            daemon = DaemonProcess(podman.url, base / "unused", base / f"state-{name}", extra_env=env)
            daemons[name] = stack.enter_context(daemon)
        for daemon in daemons.values():
            daemon.wait_ready(60)
            wait_for(lambda: daemon.events("container_created", resource=KEY), 60, "probe created")  # noqa: B023
        fleet: list[float] = []
        per_host: dict[str, list[float]] = {name: [] for name in daemons}
        for n in range(repeats):
            seen = {name: recreated(d) for name, d in daemons.items()}
            repo.write("probe.yaml", sleeper("probe", role=str(n + 1)))
            repo.git("add", "--all")
            repo.git("commit", "--quiet", "-m", f"probe ROLE={n + 1}")
            started = time.time()
            repo.git("push", "--quiet", "origin", "HEAD:main")
            for name, d in daemons.items():
                wait_for(lambda: recreated(d) > seen[name], 60, f"probe recreated on {name}")  # noqa: B023
                per_host[name].append(logged_at(d.events("container_recreated", resource=KEY)[-1]) - started)
            fleet.append(max(per_host[name][-1] for name in daemons))
        for daemon in daemons.values():
            assert daemon.stop() == 0
    print("| repeats | push -> all 3 hosts recreated, median (s) | worst (s) | per host, median (s) |")
    print("|---|---|---|---|")
    hosts = ", ".join(f"{name} {statistics.median(s):.2f}" for name, s in per_host.items())
    print(f"| {repeats} | {statistics.median(fleet):.2f} | {max(fleet):.2f} | {hosts} |")


if __name__ == "__main__":
    main()
