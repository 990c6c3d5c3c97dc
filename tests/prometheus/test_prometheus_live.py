"""Targets against a real Prometheus (Debian's), scraping exporters that run as real containers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monop.prometheus import scrape as prometheus
from monop_testbed import images
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
    s.sd_dir.mkdir(parents=True)  # Prometheus watches the directory only if it exists when it starts
    # Prometheus's config is `monop render prometheus`, merged once, as a user's would be.
    rendered = s.monop("render", "prometheus")
    assert rendered.returncode == 0, rendered.stderr
    s.prometheus = PrometheusServer(
        tmp_path / "prometheus", yaml.safe_load(rendered.stdout)["scrape_configs"]
    )
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
        lambda: any(t["labels"]["job"] == "gamma" for t in stack.prometheus.targets()),  # type: ignore[union-attr]
        30,
        "Prometheus to pick gamma up",
        interval=0.5,
    )
    (stack.desired / "gamma.yaml").unlink()
    stack.publish()
    wait_for(
        lambda: not any(t["labels"]["job"] == "gamma" for t in stack.prometheus.targets()),  # type: ignore[union-attr]
        30,
        "gamma to leave Prometheus",
        interval=0.5,
    )
    assert stack.status()[1]["prometheus"]["stale"] == []


# A service whose metrics are at /custom/metrics only, under a job of its own.
SHOP = f"""\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: shop
spec:
  image: {images.METRICS}
  command: ["sh", "-c", "mkdir -p /www/custom && echo 'shop_up 1' > /www/custom/metrics && exec httpd -f -p {PORT + 5} -h /www"]
  ports: ["127.0.0.1:{PORT + 5}:{PORT + 5}"]
  scrape: {{port: {PORT + 5}, job: shop, path: /custom/metrics, interval: 3s}}
"""


def active(stack: Stack, job: str) -> dict[str, Any] | None:
    """Prometheus's active target whose job label is `job` (one per job here)."""
    assert stack.prometheus is not None
    return next((t for t in stack.prometheus.targets() if t["labels"].get("job") == job), None)


def scraped_as(stack: Stack, job: str, interval: str, url: str) -> bool:
    found = active(stack, job)
    return found is not None and (found["scrapeInterval"], found["scrapeUrl"]) == (interval, url)


def config_loaded_at(server: PrometheusServer) -> str:
    info = httpx.get(f"{server.url}/api/v1/status/runtimeinfo", timeout=5).json()["data"]
    assert info["reloadConfigSuccess"] is True
    return str(info["lastConfigTime"])


def test_a_new_job_interval_and_path_are_scraped_with_no_edit_of_prometheus(stack: Stack) -> None:
    assert stack.prometheus is not None
    alpha = f"http://127.0.0.1:{PORT}/metrics"
    wait_for(lambda: scraped_as(stack, "alpha", "1s", alpha), 30, "alpha scraped", interval=0.2)
    loaded = config_loaded_at(stack.prometheus)

    (stack.desired / "shop.yaml").write_text(SHOP)
    stack.publish()
    shop_url = f"http://127.0.0.1:{PORT + 5}/custom/metrics"
    wait_for(
        lambda: scraped_as(stack, "shop", "3s", shop_url) and active(stack, "shop")["health"] == "up",  # type: ignore[index]
        30,
        "shop scraped every 3s at its path",
        interval=0.2,
    )
    shop = active(stack, "shop")
    assert shop is not None and shop["scrapeTimeout"] == "3s"  # within its interval, or Prometheus drops it
    assert shop["labels"]["monop_resource"] == "BusinessService/shop"

    # Another interval and path for a job Prometheus already scrapes.
    text = (stack.desired / "alpha.yaml").read_text()
    (stack.desired / "alpha.yaml").write_text(
        text.replace(f"scrape: {{port: {PORT}}}", f"scrape: {{port: {PORT}, interval: 2s, path: /healthz}}")
    )
    stack.publish()
    healthz = f"http://127.0.0.1:{PORT}/healthz"
    wait_for(lambda: scraped_as(stack, "alpha", "2s", healthz), 30, "alpha at its new interval and path")
    assert config_loaded_at(stack.prometheus) == loaded  # the config was read once, at start
    assert stack.prometheus.ready()  # the same process: never restarted


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
    assert code == 3  # the containers are in sync, but nothing is known of the targets: could not tell
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
    with daemon_under_prometheus(tmp_path, podman_service, desired) as (daemon, _):
        restart = daemon.wait_event("container_restarted", 60, resource="BusinessService/alpha")
        assert restart["reason"].startswith(f"target 127.0.0.1:{PORT + 9} down for ")
        assert "connection refused" in restart["reason"]
        assert daemon.metric("monop_target_up", resource="BusinessService/alpha") == 0
        assert daemon.metric("monop_targets", health="Down") == 1
        assert daemon.metric("monop_prometheus_reachable") == 1


def test_prometheus_stores_the_target_labels_as_the_daemon_exports_them(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    """Prometheus scrapes the daemon (its own job in monop's files), as a user's would."""
    write_service(tmp_path / "desired", "alpha", PORT)
    with daemon_under_prometheus(tmp_path, podman_service, tmp_path / "desired") as (daemon, server):

        def stored() -> list[dict[str, str]]:
            answer = httpx.get(f"{server.url}/api/v1/query", params={"query": "monop_target_up"}, timeout=5)
            return [r["metric"] for r in answer.json()["data"]["result"]]

        wait_for(
            lambda: any(m.get("resource") == "BusinessService/alpha" for m in stored()),
            60,
            "Prometheus to store monop_target_up of alpha",
            interval=0.5,
        )
        [alpha] = [m for m in stored() if m.get("resource") == "BusinessService/alpha"]
        # job and instance are the daemon's, as Prometheus attaches them; the target's stand apart.
        assert alpha == {
            "__name__": "monop_target_up",
            "job": "monop",
            "instance": daemon.base_url.removeprefix("http://"),
            "monop_resource": "monop",  # the label monop's file gives its own target
            "resource": "BusinessService/alpha",
            "target_job": "alpha",
            "target_instance": f"127.0.0.1:{PORT}",
        }


@contextlib.contextmanager
def daemon_under_prometheus(
    tmp_path: Path, podman_service: PodmanService, desired: Path
) -> Iterator[tuple[DaemonProcess, PrometheusServer]]:
    """A ready `monop run` whose files a Prometheus reads, and which checks its targets there."""
    state_dir = tmp_path / "state"
    sd_dir = state_dir / "file_sd"
    sd_dir.mkdir(parents=True)  # Prometheus watches the directory only if it exists when it starts
    configs = prometheus.scrape_configs(sd_dir)["scrape_configs"]
    with PrometheusServer(tmp_path / "prometheus", configs) as server:
        env = {"MONOP_PROMETHEUS_URL": server.url, "MONOP_SCRAPE_ADDRESS": "127.0.0.1"}
        with DaemonProcess(
            podman_service.url, desired, state_dir, resync_interval="1s", extra_env=env
        ) as daemon:
            daemon.wait_ready()
            yield daemon, server


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
