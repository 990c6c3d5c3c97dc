"""Benchmark: the dead-selector check over the seed's rules, against a real Prometheus.

Debian's node exporter and a GPU stand-in (the node exporter's textfile collector serving the
`nvidia_smi_*` names nvidia_gpu_exporter serves: there is no GPU here) are scraped every second
by Debian's Prometheus, all on loopback. The rules are `desired/alert-rules.yaml`, the seed's
two groups as written (its GPU rules ask for `nvidia_gpu_*`, so 3 selectors are dead), then the
same with the GPU names corrected (nothing dead: one query a selector), then the seed's groups
copied 20 times under other names (a larger rule set), then the seed's rules again with the GPU
stand-in also serving 10,000 other metric names (a large Prometheus: the nearest names of each
dead one are ranked among them). Each check is a fresh lookup (no answer
of Prometheus cached from the one before; the ranking of nearest names is remembered in the
process, as in the daemon), timed from the first query to the report: the first check of each
rule set, the median and worst of REPEATS, and the longest the event loop was held during
the checks (a task that wakes every 10 ms measures how late it woke: the daemon's loop).

Usage: bench/run (all benchmarks), or .venv/bin/python bench/deadrules.py [REPEATS].
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from monop.desired.loader import load
from monop.prometheus import deadrules
from monop.prometheus.api import PrometheusAPI
from monop.prometheus.deadrules import DeadReport
from monop.prometheus.series import SeriesLookup
from monop_testbed.exporters import GPU_METRICS, GpuStandIn, NodeExporter
from monop_testbed.podman_service import wait_for
from monop_testbed.prometheus_server import PrometheusServer

NODE_PORT, GPU_PORT, PROMETHEUS_PORT = 20030, 20031, 20032
SEED = Path(__file__).resolve().parent.parent / "desired" / "alert-rules.yaml"
JOBS = {"node-exporter": "Exporter/node-exporter", "nvidia-gpu": "Exporter/nvidia-gpu-exporter"}


def has(url: str, expr: str) -> bool:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return bool(body["data"]["result"])


async def timed(url: str, desired: Path, repeats: int) -> tuple[DeadReport, list[float], float]:
    groups = load(desired).rule_groups
    api = PrometheusAPI(url)
    seconds, report = [], None
    stall = 0.0

    async def ticker() -> None:
        nonlocal stall
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stall = max(stall, time.perf_counter() - before - 0.01)

    ticking = asyncio.ensure_future(ticker())
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            report = await deadrules.check(groups, SeriesLookup(api), JOBS)
            seconds.append(time.perf_counter() - start)
    finally:
        ticking.cancel()
        await api.close()
    assert report is not None and report.reachable
    return report, seconds, stall


def many_names(count: int) -> str:
    """`count` gauges of made-up names, as a large Prometheus holds (kube, http, databases)."""
    rng = random.Random(1)
    first = ["kube_pod", "container", "http_server", "grpc_server", "process", "go", "nginx", "redis"]
    first += ["mysql", "postgres", "haproxy", "envoy_cluster", "apiserver", "etcd", "coredns"]
    middle = ["requests", "errors", "latency", "bytes", "connections", "memory", "cpu", "disk", "queue"]
    middle += ["cache_hits", "cache_misses", "duration", "restarts", "status", "info"]
    last = ["total", "seconds", "bytes", "ratio", "count", "sum", "bucket", "gauge"]  # 27,000 in all
    names: set[str] = set()
    while len(names) < count:
        names.add("_".join([rng.choice(first), rng.choice(middle), rng.choice(middle), rng.choice(last)]))
    return "".join(f"{n} 1\n" for n in sorted(names))


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seed = SEED.read_text()
    fixed = seed.replace("nvidia_gpu_temperature_celsius", "nvidia_smi_temperature_gpu").replace(
        "nvidia_gpu_", "nvidia_smi_"
    )
    many = "\n---\n".join(
        seed.replace("name: system-critical", f"name: system-critical-{i}").replace(
            "name: gpu-monitoring", f"name: gpu-monitoring-{i}"
        )
        for i in range(20)
    )
    with tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp:
        base = Path(tmp)
        scrape = [
            {"job_name": "node-exporter", "static_configs": [{"targets": [f"127.0.0.1:{NODE_PORT}"]}]},
            {"job_name": "nvidia-gpu", "static_configs": [{"targets": [f"127.0.0.1:{GPU_PORT}"]}]},
        ]
        with (
            NodeExporter(base / "node", NODE_PORT),
            GpuStandIn(base / "gpu", GPU_PORT) as gpu,
            PrometheusServer(base / "prometheus", scrape, port=PROMETHEUS_PORT) as prometheus,
        ):
            wait_for(
                lambda: (
                    has(prometheus.url, "nvidia_smi_temperature_gpu") and has(prometheus.url, "node_load1")
                ),
                60,
                "both exporters scraped",
                interval=0.2,
            )
            print(f"{repeats} checks each; Prometheus {prometheus.url} scraping 2 exporters every second.\n")
            print(
                "| rule set | rules | selectors | dead | queries | first check (s) | median of the rest (s) "
                "| worst (s) | event loop held, longest (s) |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            sets = (
                ("the seed's (desired/alert-rules.yaml)", seed),
                ("the seed's, GPU names corrected", fixed),
                ("the seed's x 20 groups", many),
                ("the seed's, among 10,000 more metric names", seed),
            )
            for name, text in sets:
                if "10,000" in name:
                    gpu.serve(GPU_METRICS + many_names(10_000))
                    wait_for(
                        lambda: has(prometheus.url, 'count({job="nvidia-gpu"}) > 10000'),
                        60,
                        "10,000 names scraped",
                    )
                desired = base / name.replace(" ", "-").replace("/", "-").replace(",", "")
                desired.mkdir()
                (desired / "rules.yaml").write_text(text)
                report, seconds, stall = asyncio.run(timed(prometheus.url, desired, repeats))
                print(
                    f"| {name} | {len(report.rules)} | {report.selectors} | {len(report.dead)} | "
                    f"{report.queries} | {seconds[0]:.3f} | {statistics.median(seconds[1:]):.3f} | "
                    f"{max(seconds):.3f} | {stall:.3f} |"
                )


if __name__ == "__main__":
    main()
