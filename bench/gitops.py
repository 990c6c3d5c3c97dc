"""Benchmark: from `git commit` in a local repository to the changed container recreated and running.

A daemon follows the repository (its ref is watched, no polling); each repeat changes one
service's env in a commit. The time runs from just before `git commit` to the daemon's log
line saying the container was recreated (created and started).

Usage: bench/run (all benchmarks), or .venv/bin/python bench/gitops.py [REPEATS].
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daemon import logged_at  # bench/daemon.py: a script's own folder is on sys.path
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

PORT = 23000
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.org"}
GIT_ENV |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.org"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    ).stdout.strip()


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        for i in range(5):
            write_service(repo / "desired", f"svc-{i}", PORT + i)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", "five services")
        env = {"MONOP_GIT_URL": str(repo), "MONOP_GIT_PATH": "desired", "MONOP_GIT_FETCH_INTERVAL": "1h"}
        with DaemonProcess(service.url, repo / "desired", Path(tmp) / "state", extra_env=env) as daemon:
            daemon.wait_ready()
            wait_for(lambda: len(daemon.events("container_created")) == 5, 60, "five created")
            seconds = []
            for n in range(repeats):
                key = f"BusinessService/svc-{n % 5}"
                seen = len(daemon.events("container_recreated", resource=key))
                write_service(repo / "desired", f"svc-{n % 5}", PORT + n % 5, metrics=f"app_up {n + 2}")
                git(repo, "add", "--all")
                started = time.time()
                git(repo, "commit", "--quiet", "-m", f"change {n}")
                wait_for(lambda: len(daemon.events("container_recreated", resource=key)) > seen, 30, key)  # noqa: B023
                seconds.append(logged_at(daemon.events("container_recreated", resource=key)[-1]) - started)
            assert daemon.stop() == 0
        service.remove_all_containers()
    print("| repeats | commit -> recreated, median (s) | worst (s) |")
    print("|---|---|---|")
    print(f"| {repeats} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")


if __name__ == "__main__":
    main()
