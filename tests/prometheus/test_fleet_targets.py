"""A daemon's file_sd targets name its host in a fleet's tree (hosts/ folders or placements), only there."""

from __future__ import annotations

from pathlib import Path

from monop.desired.fleet import Host
from monop.desired.loader import load
from monop.prometheus.scrape import jobs, sd_groups
from monop_testbed.desired import service_yaml


def labels(tree: Path, host: str) -> list[dict[str, str]]:
    state = load(tree, host=Host(host))
    return [g["labels"] for job in jobs(state, "10.0.0.1", None) for g in sd_groups(job)]


def test_targets_carry_the_host_in_a_fleet_tree(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20640))
    assert "host" not in labels(tmp_path, "alpha")[0]  # one host: the files stay as they were
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    (tmp_path / "hosts" / "beta" / "db.yaml").write_text(service_yaml("db", 20641))
    assert [(g["job"], g["host"]) for g in labels(tmp_path, "alpha")] == [("web", "alpha")]
    assert [(g["job"], g["host"]) for g in labels(tmp_path, "beta")] == [("db", "beta"), ("web", "beta")]


def test_a_placement_alone_makes_a_fleet_tree(tmp_path: Path) -> None:
    placed = service_yaml("gpu", 20642) + "  placement:\n    matchLabels: {gpu: 'true'}\n"
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20643))
    (tmp_path / "gpu.yaml").write_text(placed)
    assert [(g["job"], g["host"]) for g in labels(tmp_path, "gamma")] == [("web", "gamma")]
