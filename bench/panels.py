"""Benchmark: the panel check of the five dashboards in desired/, against a real Prometheus.

Debian's node exporter and a GPU stand-in (the node exporter's textfile collector serving the
`nvidia_smi_*` names nvidia_gpu_exporter serves: there is no GPU here) are scraped every second
by Debian's Prometheus, all on loopback. The dashboards are the repository's desired/ (System
Overview, GPU Performance, Media Pipeline, Mobile Status, monop): no cAdvisor, business service
or monop daemon is scraped here, so their panels are NoData and each is explained by the
dead-selector check, the costly case. Each check is a fresh lookup (no answer of Prometheus kept
from the check before), timed from the first query to the report: the first check, the median
and the worst of REPEATS. The reference, in the same run against the same Prometheus: the
dead-selector check of desired/alert-rules.yaml (bench/deadrules.py's first row).

Usage: bench/run (all benchmarks), or .venv/bin/python bench/panels.py [REPEATS].
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from monop.desired.loader import load
from monop.prometheus import deadrules, panels
from monop.prometheus.api import PrometheusAPI
from monop.prometheus.series import SeriesLookup
from monop_testbed.exporters import GpuStandIn, NodeExporter
from monop_testbed.podman_service import wait_for
from monop_testbed.prometheus_server import PrometheusServer

NODE_PORT, GPU_PORT, PROMETHEUS_PORT = 20810, 20811, 20812
DESIRED = Path(__file__).resolve().parent.parent / "desired"
JOBS = {"node-exporter": "Exporter/node-exporter", "nvidia-gpu": "Exporter/nvidia-gpu-exporter"}


def has(url: str, expr: str) -> bool:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return bool(body["data"]["result"])


async def timed(
    url: str, repeats: int, once: Callable[[PrometheusAPI], Awaitable[int]]
) -> tuple[int, list[float]]:
    """(queries of the last check, seconds of each check)."""
    api = PrometheusAPI(url)
    seconds, queries = [], 0
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            queries = await once(api)
            seconds.append(time.perf_counter() - start)
    finally:
        await api.close()
    return queries, seconds


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    state = load(DESIRED)
    found: dict[str, panels.PanelReport] = {}

    async def panel_check(api: PrometheusAPI) -> int:
        report = await panels.check_state(state, api, "127.0.0.1", "default")
        assert report.reachable, report.error
        found["last"] = report
        return report.queries

    async def rule_check(api: PrometheusAPI) -> int:
        report = await deadrules.check(state.rule_groups, SeriesLookup(api), JOBS)
        assert report.reachable, report.error
        return report.queries

    with tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp:
        base = Path(tmp)
        scrape = [
            {"job_name": "node-exporter", "static_configs": [{"targets": [f"127.0.0.1:{NODE_PORT}"]}]},
            {"job_name": "nvidia-gpu", "static_configs": [{"targets": [f"127.0.0.1:{GPU_PORT}"]}]},
        ]
        with (
            NodeExporter(base / "node", NODE_PORT),
            GpuStandIn(base / "gpu", GPU_PORT),
            PrometheusServer(base / "prometheus", scrape, port=PROMETHEUS_PORT) as prometheus,
        ):
            wait_for(
                lambda: (
                    has(prometheus.url, "rate(node_cpu_seconds_total[1m])")
                    and has(prometheus.url, "nvidia_smi_temperature_gpu")
                ),
                60,
                "both exporters scraped twice",
                interval=0.2,
            )
            load1 = os.getloadavg()[0]
            print(
                f"{repeats} checks each; Prometheus {prometheus.url} scraping 2 exporters every second; "
                f"load average {load1:.1f} on {os.cpu_count()} cores.\n"
            )
            print(
                "| check | dashboards | panels | with data | queries | first (s) | median of the rest (s) | worst (s) |"
            )
            print("|---|---|---|---|---|---|---|---|")
            queries, seconds = asyncio.run(timed(prometheus.url, repeats, panel_check))
            report = found["last"]
            boards = report.dashboards
            n_panels = sum(len(b.panels) for b in boards)
            data = sum(b.with_data for b in boards)
            print(
                f"| panels of desired/'s dashboards | {len(boards)} | {n_panels} | {data} | {queries} | "
                f"{seconds[0]:.3f} | {statistics.median(seconds[1:]):.3f} | {max(seconds):.3f} |"
            )
            queries, seconds = asyncio.run(timed(prometheus.url, repeats, rule_check))
            print(
                f"| reference: dead selectors of desired/alert-rules.yaml | - | - | - | {queries} | "
                f"{seconds[0]:.3f} | {statistics.median(seconds[1:]):.3f} | {max(seconds):.3f} |"
            )
            print()
            for board in boards:
                print(f"- {board.title}: {board.with_data}/{len(board.panels)} panels with data")


if __name__ == "__main__":
    main()
