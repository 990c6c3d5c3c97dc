"""What monop tells Prometheus to scrape: jobs from the desired state, file_sd files, scrape_configs."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monop import prometheus
from monop.desired.loader import load

REPO = Path(__file__).resolve().parent.parent


def seed_jobs() -> list[prometheus.Job]:
    return prometheus.jobs(load(REPO / "desired"), "host.containers.internal", "127.0.0.1:9469")


def test_the_seeds_jobs_and_intervals_and_monop_itself() -> None:
    jobs = {job.name: job for job in seed_jobs()}
    assert {name: job.interval_s for name, job in jobs.items()} == {
        "business-services": 30.0,
        "cadvisor": 30.0,
        "monop": None,
        "node-exporter": 15.0,
        "nvidia-gpu": 15.0,
    }
    assert [(t.resource, t.instance) for t in jobs["business-services"].targets] == [
        ("BusinessService/business-dashboard", "host.containers.internal:9998"),
        ("BusinessService/business-metrics", "host.containers.internal:9999"),
    ]
    assert [t.instance for t in jobs["cadvisor"].targets] == ["host.containers.internal:8083"]
    assert [t.instance for t in jobs["monop"].targets] == ["127.0.0.1:9469"]


def test_a_wildcard_metrics_address_is_reached_through_the_scrape_address() -> None:
    assert prometheus.self_target("0.0.0.0:9469", "host.containers.internal").instance == (
        "host.containers.internal:9469"
    )


def test_sd_groups_label_the_resource_and_override_a_differing_path() -> None:
    [job] = [j for j in seed_jobs() if j.name == "business-services"]
    dashboard, metrics = job.targets
    odd = dataclasses.replace(metrics, path="/internal/metrics")
    groups = prometheus.sd_groups(prometheus.Job(job.name, (dashboard, odd)))
    assert groups == [
        {
            "targets": ["host.containers.internal:9998"],
            "labels": {"monop_resource": "BusinessService/business-dashboard"},
        },
        {
            "targets": ["host.containers.internal:9999"],
            "labels": {
                "monop_resource": "BusinessService/business-metrics",
                "__metrics_path__": "/internal/metrics",
            },
        },
    ]


def test_files_are_rewritten_only_when_they_change_and_stale_jobs_go(tmp_path: Path) -> None:
    jobs = seed_jobs()
    written = prometheus.write_sd_files(jobs, tmp_path)
    assert sorted(p.name for p in written) == [f"{j.name}.json" for j in jobs]
    inode = (tmp_path / "cadvisor.json").stat().st_ino
    assert prometheus.write_sd_files(jobs, tmp_path) == []  # nothing changed: nothing written
    assert (tmp_path / "cadvisor.json").stat().st_ino == inode
    fewer = [j for j in jobs if j.name != "nvidia-gpu"]
    assert prometheus.write_sd_files(fewer, tmp_path) == [tmp_path / "nvidia-gpu.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{j.name}.json" for j in fewer]
    assert json.loads((tmp_path / "cadvisor.json").read_text())[0]["targets"] == [
        "host.containers.internal:8083"
    ]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_prometheus_accepts_the_rendered_config_and_the_files(tmp_path: Path) -> None:
    """promtool, from the real Prometheus, checks the scrape_configs and every file_sd file."""
    sd_dir = tmp_path / "file_sd"
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "monop",
            "render",
            "prometheus",
            "-d",
            str(REPO / "desired"),
            "--sd-dir",
            str(sd_dir),
            "--rules-dir",
            str(tmp_path / "rules"),
            "--write",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(rendered.stdout)
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == [
        "gpu-monitoring.yml",
        "system-critical.yml",
    ]
    assert sorted(p.name for p in sd_dir.iterdir()) == sorted(
        f"{j['job_name']}.json" for j in yaml.safe_load(rendered.stdout)["scrape_configs"]
    )
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout + check.stderr
