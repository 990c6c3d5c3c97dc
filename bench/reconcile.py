"""Benchmark: converge from empty and no-op apply, for N resources, against a plain `podman run` loop.

Runs against a private Podman service; prints a Markdown table. Usage: bench/run (see README).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monop import log
from monop.desired.loader import load
from monop.reconcile.converge import converge
from monop.reconcile.plan import units
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService

SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata: {{name: bench-{i}}}
spec:
  image: {image}
  env: {{PORT: "9100", METRICS: "bench_up {i}"}}
  ports: ["127.0.0.1:{port}:9100"]
"""
BASE_PORT = 21000


def write_tree(root: Path, n: int) -> Path:
    tree = root / f"desired-{n}"
    tree.mkdir()
    for i in range(n):
        (tree / f"bench-{i}.yaml").write_text(SERVICE.format(i=i, port=BASE_PORT + i, image=images.METRICS))
    return tree


def cli(service: PodmanService, *args: str) -> float:
    """Seconds for one whole `monop` process, interpreter start included."""
    env = {**os.environ, "MONOP_PODMAN_URL": service.url}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "monop", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"monop {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def requests_of_converge(service: PodmanService, tree: Path) -> int:
    client = Podman(service.url)
    try:
        asyncio.run(converge(units(load(tree)), client))
        return client.requests
    finally:
        client.close()


def podman_run_loop(service: PodmanService, n: int) -> float:
    """The same containers with `podman run -d`, one after another, as a shell loop would."""
    started = time.perf_counter()
    for i in range(n):
        service.podman(
            "run", "-d", "--name", f"loop-{i}", "-e", "PORT=9100", "-e", f"METRICS=bench_up {i}",
            "-p", f"127.0.0.1:{BASE_PORT + i}:9100", images.METRICS,
        )  # fmt: skip
    return time.perf_counter() - started


def bench(service: PodmanService, root: Path, n: int, repeats: int) -> dict[str, str]:
    tree = write_tree(root, n)
    converge_s, noop_s = [], []
    for _ in range(repeats):
        service.remove_all_containers()
        converge_s.append(cli(service, "apply", "-d", str(tree)))
        noop_s.extend(cli(service, "apply", "-d", str(tree)) for _ in range(3))
    noop_requests = requests_of_converge(service, tree)
    service.remove_all_containers()
    converge_requests = requests_of_converge(service, tree)
    loop_s = []
    for _ in range(repeats):
        service.remove_all_containers()
        loop_s.append(podman_run_loop(service, n))
    service.remove_all_containers()
    return {
        "N": str(n),
        "converge from empty (s)": f"{statistics.median(converge_s):.2f}",
        "API requests": str(converge_requests),
        "`podman run` loop (s)": f"{statistics.median(loop_s):.2f}",
        "no-op apply (s)": f"{statistics.median(noop_s):.2f}",
        "no-op API requests": str(noop_requests),
    }


def main() -> None:
    log.configure(level="warning")
    sizes = [int(n) for n in (sys.argv[1:] or ["10", "100"])]
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        rows = [bench(service, Path(tmp), n, repeats=3) for n in sizes]
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row[h] for h in header) + " |")


if __name__ == "__main__":
    main()
