"""Two monop instances sharing one real Prometheus: each its own scrape pool, each its own targets."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monop.desired.loader import load
from monop.prometheus import api as prom
from monop.prometheus import scrape as prometheus
from monop.prometheus.api import TargetHealth
from monop_testbed.desired import write_service
from monop_testbed.podman_service import wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed"),
]


def render(tree: Path, sd_dir: Path, rules_dir: Path, instance: str) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable, "-m", "monop", "render", "prometheus", "--write", "--instance", instance,
            "-d", str(tree), "--sd-dir", str(sd_dir), "--rules-dir", str(rules_dir),
        ],
        capture_output=True, text=True, env={**os.environ, "MONOP_PROMETHEUS_URL": ""}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: dict[str, object] = yaml.safe_load(done.stdout)
    return loaded


def test_two_instances_share_one_prometheus_without_calling_each_others_targets_stale(
    tmp_path: Path,
) -> None:
    trees = {"default": tmp_path / "a", "b": tmp_path / "b"}
    write_service(trees["default"], "alpha", 19731)
    write_service(trees["b"], "beta", 19732)
    configs = [
        render(tree, tmp_path / name / "file_sd", tmp_path / name / "rules", name)
        for name, tree in trees.items()
    ]
    pools = [c for config in configs for c in config["scrape_configs"]]  # type: ignore[attr-defined]
    assert [p["job_name"] for p in pools] == ["monop-targets", "monop-targets-b"]
    with PrometheusServer(tmp_path / "prometheus", pools) as server:
        wait_for(lambda: len(server.targets()) == 4, 60, "both instances' targets and daemons")

        async def report(name: str) -> set[tuple[str, TargetHealth]]:
            jobs = prometheus.jobs(
                load(trees[name]), "host.containers.internal", "127.0.0.1:9469", instance=name
            )
            async with prom.connect(server.url) as api:
                assert api is not None
                found = await prom.verify(jobs, api, name)
            return {(t.resource, t.health) for t in found.targets if t.health is TargetHealth.STALE}

        # Each sees the other's targets in Prometheus, and calls none of them its own stale one.
        assert asyncio.run(report("default")) == set()
        assert asyncio.run(report("b")) == set()
