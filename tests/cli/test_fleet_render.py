"""`monop render desired --host` shows one host's selection; `monop render prometheus --fleet`
writes a central Prometheus's config that promtool accepts, every host's targets at its address."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monop_testbed.desired import service_yaml


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    tree = tmp_path / "desired"
    (tree / "hosts" / "beta").mkdir(parents=True)
    (tree / "web.yaml").write_text(service_yaml("web", 20630, metrics="shared 1"))
    (tree / "hosts" / "beta" / "web.yaml").write_text(service_yaml("web", 20631, metrics="beta 1"))
    gpu = service_yaml("gpu", 20632) + "  placement:\n    matchLabels: {gpu: 'true'}\n"
    (tree / "gpu.yaml").write_text(gpu)
    return tree


def selection(tree: Path, *args: str) -> list[dict[str, object]]:
    done = monop("render", "desired", "-d", str(tree), "--host-name", "alpha", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_render_desired_shows_each_hosts_selection_with_the_override_in_place(tree: Path) -> None:
    alpha = selection(tree, "--host-labels", '{"gpu": "true"}')
    assert [(d["metadata"]["name"], d["spec"]["env"]["METRICS"]) for d in alpha] == [  # type: ignore[index]
        ("gpu", "app_up 1"),
        ("web", "shared 1"),
    ]
    beta = selection(tree, "--host", "beta")
    assert [(d["metadata"]["name"], d["spec"]["env"]["METRICS"]) for d in beta] == [("web", "beta 1")]  # type: ignore[index]
    done = monop("render", "desired", "-d", str(tree), "--host", "beta")
    assert f"# from {tree}/hosts/beta/web.yaml:1" in done.stdout


def test_render_desired_refuses_a_tree_broken_for_another_host(tree: Path) -> None:
    (tree / "hosts" / "beta" / "clash.yaml").write_text(service_yaml("clash", 20631))
    done = monop("render", "desired", "-d", str(tree), "--host-name", "alpha")
    assert done.returncode == 1 and not done.stdout
    assert f"{tree}/hosts/beta/" in done.stderr
    assert "spec.ports[0]: on host beta: host port 20631/tcp is also published by" in done.stderr


SECRET_SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {name: db}
spec:
  image: localhost/x:1
  env: {DB_PASSWORD: hunter2hunter2, DSN: "postgres://app:s3cr3tpass@db/app"}
  args: ["--token", "tok-abcdef123"]
"""
DATASOURCE = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDatasource
metadata: {name: prometheus}
spec: {url: "http://prometheus:9090", isDefault: true}
"""


def test_render_desired_masks_secrets_as_plan_does(tree: Path) -> None:
    (tree / "db.yaml").write_text(SECRET_SERVICE)
    done = monop("render", "desired", "-d", str(tree), "--host-name", "alpha")
    assert done.returncode == 0, done.stderr
    for value in ("hunter2hunter2", "s3cr3tpass", "tok-abcdef123"):
        assert value not in done.stdout
    db = next(d for d in yaml.safe_load_all(done.stdout) if d and d["metadata"]["name"] == "db")
    assert db["spec"]["env"] == {"DB_PASSWORD": "<secret>", "DSN": "postgres://app:<secret>@db/app"}
    assert db["spec"]["args"] == ["--token", "<secret>"]


def test_render_desired_shows_grafanas_resources_too(tree: Path) -> None:
    (tree / "datasource.yaml").write_text(DATASOURCE)
    kinds = [d["kind"] for d in selection(tree)]
    assert "GrafanaDatasource" in kinds


def fleet_render(tree: Path, addresses: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """`render prometheus --fleet` as host alpha (metrics port 9469), and its static_configs."""
    done = monop("render", "prometheus", "--fleet", "-d", str(tree), "--host-name", "alpha",
                 "--metrics-address", "0.0.0.0:9469", "--fleet-addresses", addresses)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done, yaml.safe_load(done.stdout)["scrape_configs"][0]["static_configs"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_render_prometheus_fleet_names_each_host_and_promtool_accepts_it(tree: Path, tmp_path: Path) -> None:
    done, groups = fleet_render(tree, '{"alpha": "10.0.0.1", "beta": "[fd00::2]:9470"}')
    seen = {(g["labels"]["host"], g["labels"]["job"], g["targets"][0]) for g in groups}
    assert seen == {
        ("alpha", "monop", "10.0.0.1:9469"),
        ("alpha", "web", "10.0.0.1:20630"),
        ("beta", "monop", "[fd00::2]:9470"),
        ("beta", "web", "[fd00::2]:20631"),
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(done.stdout)
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_render_prometheus_fleet_takes_in_fleet_addresses_hosts_and_says_what_it_cannot_place(
    tree: Path,
) -> None:
    done, groups = fleet_render(tree, '{"gamma": "10.0.0.3"}')
    gamma = {(g["labels"]["job"], g["targets"][0]) for g in groups if g["labels"]["host"] == "gamma"}
    assert gamma == {("monop", "10.0.0.3:9469"), ("web", "10.0.0.3:20630")}
    # gamma's and beta's gpu label is their daemons': the gpu service is neither placed nor dropped silently.
    assert "warning: host gamma: left out, placed by host labels not known here" in done.stderr
    assert "BusinessService/gpu" in done.stderr


def test_render_desired_of_a_host_the_tree_does_not_name_warns(tree: Path) -> None:
    done = monop("render", "desired", "-d", str(tree), "--host-name", "alpha", "--host", "nosuch")
    assert done.returncode == 0, done.stderr
    assert "warning: the desired state names no host nosuch (hosts it names: beta)" in done.stderr
    quiet = monop("render", "desired", "-d", str(tree), "--host-name", "alpha", "--host", "beta")
    assert "names no host" not in quiet.stderr
