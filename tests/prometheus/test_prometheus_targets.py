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

from monop.api.targets import Target
from monop.desired.loader import load
from monop.prometheus import scrape as prometheus
from monop_testbed.desired import write_service

REPO = Path(__file__).resolve().parents[2]


def seed_jobs() -> list[prometheus.Job]:
    return prometheus.jobs(load(REPO / "desired"), "host.containers.internal", "127.0.0.1:9469")


def test_the_seeds_jobs_and_intervals_and_monop_itself() -> None:
    jobs = {job.name: job for job in seed_jobs()}
    assert {name: [t.interval_s for t in job.targets] for name, job in jobs.items()} == {
        "alertmanager": [None],
        "business-services": [30.0, 30.0],
        "cadvisor": [30.0],
        "monop": [None],
        "node-exporter": [15.0],
        "nvidia-gpu": [15.0],
        "prometheus": [None],
    }
    assert [(t.resource, t.instance) for t in jobs["business-services"].targets] == [
        ("BusinessService/business-dashboard", "host.containers.internal:9998"),
        ("BusinessService/business-metrics", "host.containers.internal:9999"),
    ]
    assert [t.instance for t in jobs["cadvisor"].targets] == ["host.containers.internal:8083"]
    assert [t.instance for t in jobs["monop"].targets] == ["127.0.0.1:9469"]
    assert [t.instance for t in jobs["prometheus"].targets] == ["host.containers.internal:9090"]


def test_a_wildcard_metrics_address_is_reached_through_the_scrape_address() -> None:
    assert prometheus.self_target("0.0.0.0:9469", "host.containers.internal").instance == (
        "host.containers.internal:9469"
    )


TARGET = Target("Exporter/x", "x", "127.0.0.1", 9100, "/metrics")


@pytest.mark.parametrize(
    ("target", "scrape"),
    [
        # No interval asked: the scrape_config's (Prometheus's global) interval and timeout.
        (TARGET, {"__metrics_path__": "/metrics", "__scheme__": "http"}),
        (
            dataclasses.replace(TARGET, path="/internal/metrics", scheme="https", interval_s=15),
            {
                "__metrics_path__": "/internal/metrics",
                "__scheme__": "https",
                "__scrape_interval__": "15s",
                "__scrape_timeout__": "10s",  # Prometheus's default, as for a job with only an interval
            },
        ),
        # A timeout past the interval drops the target, so an interval alone bounds it.
        (
            dataclasses.replace(TARGET, interval_s=2.5),
            {
                "__metrics_path__": "/metrics",
                "__scheme__": "http",
                "__scrape_interval__": "2s500ms",
                "__scrape_timeout__": "2s500ms",
            },
        ),
        (
            dataclasses.replace(TARGET, interval_s=90, timeout_s=20),
            {
                "__metrics_path__": "/metrics",
                "__scheme__": "http",
                "__scrape_interval__": "1m30s",
                "__scrape_timeout__": "20s",
            },
        ),
    ],
)
def test_each_target_carries_how_it_is_scraped(target: Target, scrape: dict[str, str]) -> None:
    labelled = dataclasses.replace(target, labels=(("job", "mine"), ("team", "a")))
    [group] = prometheus.sd_groups(prometheus.Job("x", (labelled,)))
    assert group == {
        "targets": ["127.0.0.1:9100"],
        # The job label is the desired job even where a user label says otherwise.
        "labels": {"job": "x", "monop_resource": "Exporter/x", "team": "a", **scrape},
    }


def test_the_scrape_config_is_the_same_whatever_the_desired_state(tmp_path: Path) -> None:
    """Merged into prometheus.yml once: nothing in it may depend on the jobs or the rule groups."""
    write_service(tmp_path / "other", "solo", 19999)  # one job, no rule group
    rendered = [
        render_prometheus(tree, tmp_path / "sd", tmp_path / "rules").stdout
        for tree in (REPO / "desired", tmp_path / "other")
    ]
    assert rendered[0] == rendered[1]
    config = yaml.safe_load(rendered[0])
    assert config["rule_files"] == [str(tmp_path / "rules" / "*.yml")]
    assert config["scrape_configs"] == [
        {"job_name": "monop-targets", "file_sd_configs": [{"files": [str(tmp_path / "sd" / "*.json")]}]}
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


def test_an_orphan_left_running_keeps_its_targets_and_anything_else_goes(tmp_path: Path) -> None:
    jobs = seed_jobs()
    prometheus.write_sd_files(jobs, tmp_path)
    without_metrics = [
        dataclasses.replace(
            j, targets=tuple(t for t in j.targets if t.resource != "BusinessService/business-metrics")
        )
        for j in jobs
    ]
    without_gpu = [j for j in without_metrics if j.name != "nvidia-gpu"]
    kept = ["BusinessService/business-metrics", "Exporter/no-such"]
    written = prometheus.write_sd_files(without_gpu, tmp_path, keep=kept)
    assert written == [tmp_path / "nvidia-gpu.json"]  # business-metrics's group stayed where it was
    business = json.loads((tmp_path / "business-services.json").read_text())
    assert [g["labels"]["monop_resource"] for g in business] == [
        "BusinessService/business-dashboard",
        "BusinessService/business-metrics",
    ]
    # Once it is not kept (pruned), its target goes.
    assert prometheus.write_sd_files(without_gpu, tmp_path) == [tmp_path / "business-services.json"]
    business = json.loads((tmp_path / "business-services.json").read_text())
    assert [g["labels"]["monop_resource"] for g in business] == ["BusinessService/business-dashboard"]


def test_a_kept_orphan_whose_job_is_gone_keeps_its_file(tmp_path: Path) -> None:
    jobs = seed_jobs()
    prometheus.write_sd_files(jobs, tmp_path)
    fewer = [j for j in jobs if j.name != "nvidia-gpu"]
    assert prometheus.write_sd_files(fewer, tmp_path, keep=["Exporter/nvidia-gpu-exporter"]) == []
    [group] = json.loads((tmp_path / "nvidia-gpu.json").read_text())
    assert group["labels"]["job"] == "nvidia-gpu"


def render_prometheus(
    tree: Path, sd_dir: Path, rules_dir: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "monop", "render", "prometheus",
            "-d", str(tree), "--sd-dir", str(sd_dir), "--rules-dir", str(rules_dir), *more,
        ],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_prometheus_accepts_the_rendered_config_and_the_files(tmp_path: Path) -> None:
    """promtool, from the real Prometheus, checks the scrape_configs and every file_sd file."""
    sd_dir = tmp_path / "file_sd"
    rendered = render_prometheus(REPO / "desired", sd_dir, tmp_path / "rules", "--write")
    config = tmp_path / "prometheus.yml"
    config.write_text(rendered.stdout)
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == [
        "gpu-monitoring.yml",
        "system-critical.yml",
    ]
    assert sorted(p.name for p in sd_dir.iterdir()) == sorted(f"{j.name}.json" for j in seed_jobs())
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout + check.stderr
