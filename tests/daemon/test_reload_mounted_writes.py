"""Files monop writes reach the containers that mount them by a reload, never a recreate.

A real `monop run` on the test Podman keeps a real Prometheus container (Debian's binary, in a
local image) that mounts monop's rule files directory, and a real Alertmanager container that
mounts the directory of the alertmanager.yml monop writes. A changed rule group or receiver
is reloaded into the same container (same ID; the new rule in /api/v1/rules, the new receiver
in /api/v2/status); a change of the spec recreates it; a container that mounts such a file and
declares no reload gets a NotReloaded warning and is left alone. Ports 20201-20203.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.prometheus]

PROMETHEUS_PORT = 20201
ALERTMANAGER_PORT = 20202

PROMETHEUS = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: prometheus}}
spec:
  image: {image}
  args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus, --web.enable-lifecycle]
  ports: ["127.0.0.1:{port}:9090"]
  volumes:
    - prometheus.yml:/etc/prometheus/prometheus.yml:ro
    - {rules}:/etc/prometheus/rules:ro
  labels: {{tier: "{tier}"}}
  reload: {reload}
---
# Mounts the rule files and declares no reload: told of nothing, and warned about.
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: rules-reader}}
spec:
  image: {busybox}
  command: [sleep, "3600"]
  volumes: ["{rules}:/rules:ro"]
"""
PROMETHEUS_YML = """\
global: {evaluation_interval: 1s}
rule_files: [/etc/prometheus/rules/*.yml]
"""
RULES = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {{name: stack}}
spec:
  rules:
{rules}
"""
RULE = """\
    - alert: {name}
      expr: vector(1) > 2
"""

ALERTMANAGER = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: alertmanager}}
spec:
  image: {image}
  args: [--config.file=/etc/alertmanager/alertmanager.yml, --storage.path=/alertmanager, --cluster.listen-address=]
  ports: ["127.0.0.1:{port}:9093"]
  volumes: ["{config_dir}:/etc/alertmanager:ro"]
  reload: {{http: {{path: /-/reload, port: 9093}}}}
---
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec:
  receiver: team
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: team}}
spec:
  webhookConfigs:
    - url: http://127.0.0.1:{hook}/hook
"""


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None


def _rules(port: int) -> set[str]:
    answer = _get(f"http://127.0.0.1:{port}/api/v1/rules")
    if answer is None or answer.status_code != 200:
        return set()
    return {rule["name"] for group in answer.json()["data"]["groups"] for rule in group["rules"]}


def _running_config(port: int) -> str:
    answer = _get(f"http://127.0.0.1:{port}/api/v2/status")
    return "" if answer is None or answer.status_code != 200 else str(answer.json()["config"]["original"])


def _container_id(service: PodmanService, name: str) -> str | None:
    done = service.podman("inspect", "--format", "{{.Id}}", name, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _write_rules(desired: Path, *names: str) -> None:
    (desired / "rules.yaml").write_text(RULES.format(rules="".join(RULE.format(name=n) for n in names)))


@pytest.mark.parametrize(
    "reload", ["{http: {path: /-/reload, port: 9090}}", "{signal: SIGHUP}"], ids=["http", "signal"]
)
def test_a_rule_change_reloads_prometheus_a_spec_change_recreates_it_and_no_reload_warns(
    tmp_path: Path, podman_service: PodmanService, podman: Podman, reload: str
) -> None:
    image = images.build_prometheus(podman_service)
    busybox = images.build_busybox(podman_service)
    desired, state, rules = tmp_path / "desired", tmp_path / "state", tmp_path / "rules"
    desired.mkdir()
    rules.mkdir()

    def write_prometheus(tier: str) -> None:
        (desired / "prometheus.yaml").write_text(
            PROMETHEUS.format(
                image=image, busybox=busybox, port=PROMETHEUS_PORT, rules=rules, tier=tier, reload=reload
            )
        )

    (desired / "prometheus.yml").write_text(PROMETHEUS_YML)
    write_prometheus("one")
    _write_rules(desired, "FirstAlert")
    env = {"MONOP_RULES_DIR": str(rules)}
    with DaemonProcess(podman_service.url, desired, state, resync_interval="2s", extra_env=env) as daemon:
        daemon.wait_ready()
        wait_for(lambda: "FirstAlert" in _rules(PROMETHEUS_PORT), 90, "Prometheus to load FirstAlert")
        first = _container_id(podman_service, "prometheus")
        reader = _container_id(podman_service, "rules-reader")
        assert first and reader
        warned = len(
            daemon.events("mounted_file_changed_not_reloaded", resource="BusinessService/rules-reader")
        )
        reloads = len(daemon.events("container_reloaded", resource="BusinessService/prometheus"))

        _write_rules(desired, "FirstAlert", "SecondAlert")
        wait_for(lambda: "SecondAlert" in _rules(PROMETHEUS_PORT), 60, "Prometheus to load SecondAlert")
        assert _container_id(podman_service, "prometheus") == first, "a rule change recreated Prometheus"
        wait_for(
            lambda: len(daemon.events("container_reloaded", resource="BusinessService/prometheus")) > reloads,
            10,
            "the daemon to log the reload",
        )
        wait_for(
            lambda: (
                len(
                    daemon.events(
                        "mounted_file_changed_not_reloaded", resource="BusinessService/rules-reader"
                    )
                )
                > warned
            ),
            30,
            "the warning that rules-reader was not told",
        )
        assert _container_id(podman_service, "rules-reader") == reader, (
            "a container without reload was recreated"
        )
        assert (daemon.metric("monop_container_reloads_total", result="not_told") or 0) >= 1
        told = daemon.monop("events", "--for", "BusinessService/rules-reader")
        assert "NotReloaded" in told.stdout and "was not told" in told.stdout, told.stdout + told.stderr
        reloaded = daemon.monop("events", "--for", "BusinessService/prometheus")
        assert "Reloaded" in reloaded.stdout, reloaded.stdout + reloaded.stderr
        assert not daemon.events("container_recreated")
        diff = daemon.monop("diff", "-d", str(desired))
        assert diff.returncode == 0, f"the written rule file showed as drift: {diff.stdout}{diff.stderr}"

        write_prometheus("two")  # a label: the spec changed
        wait_for(
            lambda: _container_id(podman_service, "prometheus") not in (None, first),
            90,
            "Prometheus recreated for its new spec",
        )
        wait_for(lambda: "SecondAlert" in _rules(PROMETHEUS_PORT), 60, "the new Prometheus to load the rules")
        assert _container_id(podman_service, "rules-reader") == reader
        assert daemon.tracebacks() == 0


def test_a_receiver_change_reloads_the_alertmanager_container(
    tmp_path: Path, podman_service: PodmanService, podman: Podman
) -> None:
    image = images.build_alertmanager(podman_service)
    desired, state, config_dir = tmp_path / "desired", tmp_path / "state", tmp_path / "alertmanager"
    desired.mkdir()
    config_dir.mkdir()
    # Alertmanager exits without a config: the directory holds one before monop writes its own.
    (config_dir / "alertmanager.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")

    def write(hook: int) -> None:
        (desired / "alertmanager.yaml").write_text(
            ALERTMANAGER.format(image=image, port=ALERTMANAGER_PORT, config_dir=config_dir, hook=hook)
        )

    write(20290)
    env = {"MONOP_ALERTMANAGER_CONFIG": str(config_dir / "alertmanager.yml")}
    with DaemonProcess(podman_service.url, desired, state, resync_interval="2s", extra_env=env) as daemon:
        daemon.wait_ready()
        wait_for(
            lambda: "127.0.0.1:20290/hook" in _running_config(ALERTMANAGER_PORT),
            90,
            "Alertmanager to run the receiver monop wrote",
        )
        first = _container_id(podman_service, "alertmanager")
        reloads = len(daemon.events("container_reloaded", resource="BusinessService/alertmanager"))
        write(20291)
        wait_for(
            lambda: "127.0.0.1:20291/hook" in _running_config(ALERTMANAGER_PORT),
            60,
            "Alertmanager to run the edited receiver",
        )
        assert _container_id(podman_service, "alertmanager") == first, (
            "a receiver change recreated Alertmanager"
        )
        wait_for(
            lambda: (
                len(daemon.events("container_reloaded", resource="BusinessService/alertmanager")) > reloads
            ),
            10,
            "the daemon to log the reload",
        )
        assert not daemon.events("container_recreated")
        assert daemon.tracebacks() == 0


def test_apply_reloads_a_prometheus_container_whose_rules_it_rewrote(
    tmp_path: Path, podman_service: PodmanService, podman: Podman
) -> None:
    image = images.build_prometheus(podman_service)
    desired, state, rules = tmp_path / "desired", tmp_path / "state", tmp_path / "rules"
    desired.mkdir()
    rules.mkdir()
    (desired / "prometheus.yml").write_text(PROMETHEUS_YML)
    only_prometheus = PROMETHEUS.split("---")[0]
    (desired / "prometheus.yaml").write_text(
        only_prometheus.format(
            image=image, port=20203, rules=rules, tier="one", reload="{http: {path: /-/reload, port: 9090}}"
        )
    )
    _write_rules(desired, "FirstAlert")
    apply = DaemonProcess(podman_service.url, desired, state, extra_env={"MONOP_RULES_DIR": str(rules)}).monop
    first_apply = apply("apply", "-d", str(desired))
    assert first_apply.returncode == 0, first_apply.stdout + first_apply.stderr
    wait_for(lambda: "FirstAlert" in _rules(20203), 60, "Prometheus to load FirstAlert")
    first = _container_id(podman_service, "prometheus")

    _write_rules(desired, "FirstAlert", "SecondAlert")
    done = apply("apply", "-d", str(desired))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reloaded BusinessService/prometheus: " in done.stdout
    assert "SecondAlert" in _rules(20203)  # verified before apply returned
    assert _container_id(podman_service, "prometheus") == first


def test_a_refused_reload_is_an_error_and_a_warning_event_never_a_recreate(
    tmp_path: Path, podman_service: PodmanService, podman: Podman
) -> None:
    image = images.build_prometheus(podman_service)
    desired, state, rules = tmp_path / "desired", tmp_path / "state", tmp_path / "rules"
    desired.mkdir()
    rules.mkdir()
    (desired / "prometheus.yml").write_text(PROMETHEUS_YML)
    # Without --web.enable-lifecycle Prometheus answers /-/reload with 403 (validate warns of it).
    spec = PROMETHEUS.split("---")[0].replace(", --web.enable-lifecycle]", "]")
    (desired / "prometheus.yaml").write_text(
        spec.format(
            image=image, port=20204, rules=rules, tier="one", reload="{http: {path: /-/reload, port: 9090}}"
        )
    )
    _write_rules(desired, "FirstAlert")
    env = {"MONOP_RULES_DIR": str(rules)}
    with DaemonProcess(podman_service.url, desired, state, resync_interval="2s", extra_env=env) as daemon:
        daemon.wait_ready()
        wait_for(lambda: _container_id(podman_service, "prometheus") is not None, 60, "Prometheus created")
        wait_for(lambda: _get("http://127.0.0.1:20204/-/ready") is not None, 60, "Prometheus ready")
        first = _container_id(podman_service, "prometheus")
        _write_rules(desired, "FirstAlert", "SecondAlert")
        failed = daemon.wait_event("container_reload_failed", 30, resource="BusinessService/prometheus")
        assert "--web.enable-lifecycle" in failed["error"]
        assert _container_id(podman_service, "prometheus") == first
        assert (daemon.metric("monop_container_reloads_total", result="failed") or 0) >= 1
        events = daemon.monop("events", "--for", "BusinessService/prometheus").stdout
        assert "ReloadFailed" in events
        assert not daemon.events("container_recreated")


def test_alertmanager_yml_mounted_as_a_file_is_said_to_need_its_directory(
    tmp_path: Path, podman_service: PodmanService, podman: Podman
) -> None:
    image = images.build_alertmanager(podman_service)
    desired, state, config_dir = tmp_path / "desired", tmp_path / "state", tmp_path / "alertmanager"
    desired.mkdir()
    config_dir.mkdir()
    config = config_dir / "alertmanager.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    text = ALERTMANAGER.replace(
        '"{config_dir}:/etc/alertmanager:ro"',
        '"{config_dir}/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"',
    )
    (desired / "alertmanager.yaml").write_text(
        text.format(image=image, port=20205, config_dir=config_dir, hook=20292)
    )
    env = {"MONOP_ALERTMANAGER_CONFIG": str(config)}
    with DaemonProcess(podman_service.url, desired, state, resync_interval="2s", extra_env=env) as daemon:
        daemon.wait_ready()
        wait_for(lambda: _running_config(20205) != "", 60, "Alertmanager ready")
        (desired / "alertmanager.yaml").write_text(
            text.format(image=image, port=20205, config_dir=config_dir, hook=20293)
        )
        failed = daemon.wait_event("container_reload_failed", 60, resource="BusinessService/alertmanager")
        assert "mounted as a file" in failed["error"] and "mount its directory" in failed["error"]
        assert "127.0.0.1:20293/hook" not in _running_config(20205)  # indeed, it still runs the old file
        assert not daemon.events("container_recreated")
