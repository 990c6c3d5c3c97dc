"""Targets against a real Prometheus (Debian's), scraping exporters that run as real containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monop import prometheus
from monop.desired.loader import load
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = [pytest.mark.podman, pytest.mark.prometheus]

PORT = 19400


class Stack:
    """A desired tree, the file_sd files monop writes for it, and a Prometheus reading them."""

    def __init__(self, root: Path, podman_service: PodmanService) -> None:
        self.desired = root / "desired"
        self.sd_dir = root / "file_sd"
        self.service = podman_service
        self.prometheus: PrometheusServer | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "MONOP_PODMAN_URL": self.service.url,
            "MONOP_SCRAPE_ADDRESS": "127.0.0.1",
            "MONOP_SD_DIR": str(self.sd_dir),
            "MONOP_RULES_DIR": str(self.sd_dir.parent / "rules"),
            "MONOP_STATE_DIR": str(self.sd_dir.parent / "state"),
        }
        if self.prometheus is not None:
            env["MONOP_PROMETHEUS_URL"] = self.prometheus.url
        return env

    def monop(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monop", *args, "-d", str(self.desired)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def publish(self) -> None:
        """apply, then write the file_sd files, as the daemon does after each change."""
        assert self.monop("apply").returncode == 0
        assert self.monop("render", "prometheus", "--write").returncode == 0

    def status(self) -> tuple[int, dict[str, Any]]:
        done = self.monop("status", "--json")
        return done.returncode, json.loads(done.stdout)

    def targets(self) -> dict[str, dict[str, Any]]:
        """resource name -> its one target's report."""
        _, shown = self.status()
        return {r["name"]: r["targets"][0] for r in shown["resources"] if r["targets"]}


@pytest.fixture
def stack(tmp_path: Path, podman: object, podman_service: PodmanService) -> Iterator[Stack]:
    s = Stack(tmp_path, podman_service)
    write_service(s.desired, "alpha", PORT, metrics="app_up 1")
    write_service(s.desired, "beta", PORT + 1, metrics="app_up 1")
    jobs = prometheus.jobs(load(s.desired, default_address="127.0.0.1"), "127.0.0.1", "127.0.0.1:9469")
    configs = prometheus.scrape_configs(jobs, s.sd_dir)["scrape_configs"]
    # Jobs a later test adds to the desired state must already be in Prometheus's config, as a
    # user's would be after pasting `monop render prometheus` once.
    configs.append({"job_name": "gamma", "file_sd_configs": [{"files": [str(s.sd_dir / "gamma.json")]}]})
    s.prometheus = PrometheusServer(tmp_path / "prometheus", configs)
    s.publish()
    with s.prometheus:
        yield s


def all_up(stack: Stack, names: set[str]) -> bool:
    targets = stack.targets()
    return set(targets) >= names and all(targets[n]["health"] == "Up" for n in names)


def test_targets_are_up_after_apply(stack: Stack) -> None:
    wait_for(lambda: all_up(stack, {"alpha", "beta"}), 30, "alpha and beta Up", interval=0.5)
    code, shown = stack.status()
    assert code == 0 and shown["prometheus"]["reachable"] is True
    assert stack.targets()["alpha"]["instance"] == f"127.0.0.1:{PORT}"


def test_a_stopped_exporter_turns_its_target_down(stack: Stack) -> None:
    wait_for(lambda: all_up(stack, {"alpha", "beta"}), 30, "alpha and beta Up", interval=0.5)
    stack.service.podman("stop", "beta")
    wait_for(lambda: stack.targets()["beta"]["health"] == "Down", 30, "beta Down", interval=0.5)
    beta = stack.targets()["beta"]
    assert "connection refused" in beta["error"]
    assert stack.targets()["alpha"]["health"] == "Up"
    table = stack.monop("status")
    assert table.returncode == 1
    assert f"target beta 127.0.0.1:{PORT + 1} Down" in table.stdout


def test_a_job_removed_from_the_desired_state_leaves_prometheus(stack: Stack) -> None:
    write_service(stack.desired, "gamma", PORT + 2)
    stack.publish()
    assert stack.prometheus is not None
    wait_for(
        lambda: any(t["scrapePool"] == "gamma" for t in stack.prometheus.targets()),  # type: ignore[union-attr]
        30,
        "Prometheus to pick gamma up",
        interval=0.5,
    )
    (stack.desired / "gamma.yaml").unlink()
    stack.publish()
    wait_for(
        lambda: not any(t["scrapePool"] == "gamma" for t in stack.prometheus.targets()),  # type: ignore[union-attr]
        30,
        "gamma to leave Prometheus",
        interval=0.5,
    )
    assert stack.status()[1]["prometheus"]["stale"] == []


def test_a_target_nothing_desires_is_stale(stack: Stack) -> None:
    groups = json.loads((stack.sd_dir / "alpha.json").read_text())
    groups.append({"targets": ["127.0.0.1:19499"], "labels": {"monop_resource": "BusinessService/old"}})
    (stack.sd_dir / "alpha.json").write_text(json.dumps(groups))  # as a stale file would say

    def stale() -> list[dict[str, Any]]:
        return stack.status()[1]["prometheus"]["stale"]  # type: ignore[no-any-return]

    wait_for(lambda: stale(), 30, "the stale target to be reported", interval=0.5)
    assert stale()[0]["instance"] == "127.0.0.1:19499" and stale()[0]["resource"] == "BusinessService/old"
    assert stack.status()[0] == 1


def test_an_expected_family_without_samples_is_empty(stack: Stack) -> None:
    # Serves the family's TYPE line and no sample, as an exporter that sees no GPU does.
    write_service(stack.desired, "alpha", PORT, metrics="# TYPE gpu_temp_celsius gauge\\napp_up 1")
    text = (stack.desired / "alpha.yaml").read_text()
    (stack.desired / "alpha.yaml").write_text(
        text.replace(
            f"scrape: {{port: {PORT}}}", f"scrape: {{port: {PORT}, expect: [gpu_temp_celsius, app_up]}}"
        )
    )
    write_service(stack.desired, "beta", PORT + 1)
    text = (stack.desired / "beta.yaml").read_text()
    (stack.desired / "beta.yaml").write_text(
        text.replace(f"scrape: {{port: {PORT + 1}}}", f"scrape: {{port: {PORT + 1}, expect: [app_up]}}")
    )
    stack.publish()
    wait_for(lambda: stack.targets()["alpha"]["health"] == "Empty", 30, "alpha Empty", interval=0.5)
    alpha = stack.targets()["alpha"]
    assert alpha["missingFamilies"] == ["gpu_temp_celsius"]
    assert "no samples of gpu_temp_celsius" in alpha["error"]
    wait_for(lambda: stack.targets()["beta"]["health"] == "Up", 30, "beta Up with app_up", interval=0.5)


def test_prometheus_stopped_is_unreachable_not_every_target_down(stack: Stack) -> None:
    wait_for(lambda: all_up(stack, {"alpha", "beta"}), 30, "alpha and beta Up", interval=0.5)
    assert stack.prometheus is not None
    stack.prometheus.stop()
    code, shown = stack.status()
    assert shown["prometheus"]["reachable"] is False
    assert all(r["targets"] is None for r in shown["resources"])
    assert code == 0  # the containers are in sync; nothing is known of the targets
    table = stack.monop("status")
    assert "prometheus: UNREACHABLE" in table.stdout
    assert " Down" not in table.stdout


def test_the_daemon_restarts_a_container_whose_target_stays_down(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    """Opt-in remediation: the container runs, but Prometheus cannot scrape it for restartAfter."""
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT)
    text = (desired / "alpha.yaml").read_text()
    # It serves on PORT; the scrape goes to a port nothing listens on, so the target stays Down.
    (desired / "alpha.yaml").write_text(
        text.replace(f"scrape: {{port: {PORT}}}", f"scrape: {{port: {PORT + 9}, restartAfter: 2s}}")
    )
    state_dir = tmp_path / "state"
    sd_dir = state_dir / "file_sd"
    sd_dir.mkdir(parents=True)  # Prometheus watches the directory only if it exists when it starts
    configs = [{"job_name": "alpha", "file_sd_configs": [{"files": [str(sd_dir / "alpha.json")]}]}]
    with PrometheusServer(tmp_path / "prometheus", configs) as server:
        env = {"MONOP_PROMETHEUS_URL": server.url, "MONOP_SCRAPE_ADDRESS": "127.0.0.1"}
        with DaemonProcess(
            podman_service.url, desired, state_dir, resync_interval="1s", extra_env=env
        ) as daemon:
            daemon.wait_ready()
            restart = daemon.wait_event("container_restarted", 60, resource="BusinessService/alpha")
            assert restart["reason"].startswith(f"target 127.0.0.1:{PORT + 9} down for ")
            assert "connection refused" in restart["reason"]
            assert daemon.metric("monop_target_up", resource="BusinessService/alpha") == 0
            assert daemon.metric("monop_targets", health="Down") == 1
            assert daemon.metric("monop_prometheus_reachable") == 1


RULES = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {{name: system}}
spec:
  rules:
    - alert: SystemDown
      expr: {expr}
      for: 1m
"""


def test_the_daemon_keeps_rule_groups_loaded_and_refuses_a_broken_one(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT)
    (desired / "rules.yaml").write_text(RULES.format(expr='up{job="alpha"} == 0'))
    state_dir = tmp_path / "state"
    rules_dir = state_dir / "rules"
    rules_dir.mkdir(parents=True)
    with PrometheusServer(tmp_path / "prometheus", [], rules_dir=rules_dir) as server:

        def loaded() -> list[str]:
            groups = httpx.get(f"{server.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
            return [r["query"] for g in groups for r in g["rules"]]

        env = {"MONOP_PROMETHEUS_URL": server.url, "MONOP_SCRAPE_ADDRESS": "127.0.0.1"}
        with DaemonProcess(
            podman_service.url, desired, state_dir, resync_interval="1s", extra_env=env
        ) as daemon:
            daemon.wait_ready()
            daemon.wait_event("prometheus_reloaded")
            assert loaded() == ['up{job="alpha"} == 0']

            (desired / "rules.yaml").write_text(RULES.format(expr="up == == 0"))
            rejected = daemon.wait_event("rule_group_rejected", group="system")
            assert "parse error" in rejected["error"]
            assert loaded() == ['up{job="alpha"} == 0']  # the previous rule stays in force
            code, shown = daemon.status()
            assert code == 1
            [group] = shown["ruleGroups"]
            assert group["state"] == "Rejected" and "parse error" in group["error"]

            (desired / "rules.yaml").write_text(RULES.format(expr="up == 0"))
            wait_for(lambda: loaded() == ["up == 0"], 30, "the fixed rule loaded", interval=0.2)
