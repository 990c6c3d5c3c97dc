"""`monop export kubernetes`: every manifest is one a cluster accepts, nothing is dropped unsaid, no secret leaks.

Core kinds are checked by kubernetes-validate (Kubernetes' own OpenAPI schemas, strict: an
unknown field fails); the Prometheus Operator's kinds against the openAPIV3Schema of its
published CRDs (prometheus-operator-crds/, v0.93.0), with unknown fields refused as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monop.export.pods import quantity_bytes, quantity_cpus

KUBERNETES = "1.30.0"
CRDS = Path(__file__).resolve().parent / "prometheus-operator-crds"
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "AlertmanagerConfig"}


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, timeout=120)


class _CrdLoader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (an enum value of matchType) as YAML 1.1's `value` tag: keep it text."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _strict(node: Any) -> Any:
    """The schema with unknown fields refused wherever the CRD lists the fields (the API server would prune them)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def operator_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema of that version of that CRD."""
    out = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.load(path.read_text(encoding="utf-8"), _CrdLoader)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}
            out[(f"{group}/{version['name']}", kind)] = schema
    return out


def validate(manifest: dict[str, Any]) -> None:
    """Raise when a cluster (with the Prometheus Operator's CRDs) would refuse `manifest`."""
    if manifest["kind"] in OPERATOR_KINDS:
        schema = operator_schemas()[(manifest["apiVersion"], manifest["kind"])]
        # Not jsonschema.validate: it checks the schema first, and Python's re refuses Go's
        # `^(?i)...` in a pattern of a field the export never writes.
        jsonschema.Draft7Validator(schema).validate(manifest)
    else:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_the_crds_are_the_published_ones() -> None:
    # The four kinds the export writes, at the versions it writes them.
    assert set(operator_schemas()) == {
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"),
    }


def test_the_checks_can_fail() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "web", "intervall": "30s"}]},
    }
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor)
    monitor["spec"]["endpoints"] = [{"port": "web", "interval": "30 s"}]
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(service)


def test_the_repositorys_desired_state_exports_whole_and_valid(repo: Path) -> None:
    done = monop(
        "export", "kubernetes", "-f", str(repo / "desired"), "--namespace", "monitoring",
        "--label", "release=kube-prometheus-stack",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifests = documents(done.stdout)
    for manifest in manifests:
        validate(manifest)
        assert manifest["metadata"]["namespace"] == "monitoring"
        # What the Prometheus's serviceMonitorSelector and ruleSelector match.
        assert manifest["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert {
        ("DaemonSet", "node-exporter"),
        ("PodMonitor", "node-exporter"),
        ("DaemonSet", "cadvisor"),
        ("PodMonitor", "cadvisor"),
        ("DaemonSet", "nvidia-gpu-exporter"),
        ("PodMonitor", "nvidia-gpu-exporter"),
        ("Deployment", "business-metrics"),
        ("Service", "business-metrics"),
        ("ServiceMonitor", "business-metrics"),
        ("Deployment", "business-dashboard"),
        ("Service", "business-dashboard"),
        ("ServiceMonitor", "business-dashboard"),
        ("PrometheusRule", "system-critical"),
        ("PrometheusRule", "gpu-monitoring"),
        ("AlertmanagerConfig", "alertmanager"),
    } == kinds
    by = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    node = by[("DaemonSet", "node-exporter")]["spec"]["template"]["spec"]
    assert node["hostNetwork"] is True
    assert node["volumes"] == [{"name": "host", "hostPath": {"path": "/"}}]
    assert node["containers"][0]["volumeMounts"] == [{"name": "host", "mountPath": "/host", "readOnly": True}]
    # The seed's alert rules read up{job="node-exporter"}: the job survives the move.
    endpoint = by[("PodMonitor", "node-exporter")]["spec"]["podMetricsEndpoints"][0]
    assert endpoint["portNumber"] == 9100 and endpoint["interval"] == "15s"
    assert "ports" not in node["containers"][0]  # on the host network: the process's own port
    assert {"action": "replace", "targetLabel": "job", "replacement": "node-exporter"} in endpoint[
        "relabelings"
    ]
    # business-dashboard publishes 8502 for its container's 8501: the Service keeps both numbers.
    service = by[("Service", "business-dashboard")]["spec"]["ports"]
    assert {"name": "port-8502", "port": 8502, "targetPort": 8501, "protocol": "TCP"} in service
    gpu = by[("DaemonSet", "nvidia-gpu-exporter")]["spec"]["template"]["spec"]
    assert {"name": "dev-nvidia0", "hostPath": {"path": "/dev/nvidia0"}} in gpu["volumes"]
    rules = by[("PrometheusRule", "system-critical")]["spec"]["groups"][0]
    assert rules["name"] == "system-critical"
    assert rules["rules"][0] == {
        "alert": "SystemDown",
        "expr": 'up{job="node-exporter"} == 0',
        "for": "1m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "System is down"},
    }
    # What has no place in a cluster is said, on stderr, at its line.
    assert (
        "desired/nvidia-gpu-exporter.yaml:15: Exporter/nvidia-gpu-exporter: spec.devices[0]: not carried over: the device cgroup rule (rwm)"
        in done.stderr
    )
    assert (
        "desired/receivers.yaml:25: AlertReceiver/critical-alerts: spec.webhookConfigs[0].url: not carried over: host.containers.internal"
        in done.stderr
    )


LEFTOVERS = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: app
  labels: {"tier": "web", "bad label": "x"}
spec:
  image: localhost/app:1
  user: nobody
  stopSignal: SIGINT
  stopTimeout: 20s
  network: backend
  init: true
  ports: ["127.0.0.1:8080:80"]
  extraHosts: ["db:10.0.0.5", "cache:10.0.0.5"]
  limits: {memory: 256Mi, cpus: 0.5}
  healthcheck:
    test: wget -q -O- localhost/healthz
    interval: 1s500ms
  labels: {"com.example.team": "web", "team name": "web"}
  scrape:
    port: 8080
    expect: [app_up]
    restartAfter: 5m
---
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata:
  name: app
spec:
  rules:
    - {alert: AppDown, expr: "up == 0"}
  tests:
    - input_series: [{series: "up", values: "0"}]
      alert_rule_test: [{eval_time: 1m, alertname: AppDown, exp_alerts: [{}]}]
"""


def test_what_is_not_carried_over_is_listed_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(LEFTOVERS)
    done = monop("export", "kubernetes", "-f", str(tmp_path), "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for manifest in report["manifests"]:
        validate(manifest)
    listed = {(x["resource"], x["field"]): x for x in report["notCarriedOver"]}
    assert set(listed) == {
        ("BusinessService/app", "metadata.labels.bad label"),
        ("BusinessService/app", "spec.user"),
        ("BusinessService/app", "spec.stopSignal"),
        ("BusinessService/app", "spec.network"),
        ("BusinessService/app", "spec.ports[0]"),
        ("BusinessService/app", "spec.healthcheck.interval"),
        ("BusinessService/app", "spec.scrape[0].expect"),
        ("BusinessService/app", "spec.scrape[0].restartAfter"),
        ("BusinessService/app", "spec.labels.team name"),
        ("AlertRuleGroup/app", "spec.tests"),
    }
    assert listed[("BusinessService/app", "spec.stopSignal")]["line"] == 9
    assert listed[("BusinessService/app", "spec.user")]["file"] == str(tmp_path / "app.yaml")
    # The same list on stderr, and on the workload itself as an annotation.
    assert f"{tmp_path}/app.yaml:9: BusinessService/app: spec.stopSignal: not carried over:" in done.stderr
    by = {(m["kind"], m["metadata"]["name"]): m for m in report["manifests"]}
    deployment = by[("Deployment", "app")]
    assert (
        "spec.stopSignal: the kubelet stops a container with SIGTERM, not SIGINT"
        in (deployment["metadata"]["annotations"]["monop.dev/not-carried-over"])
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # What does carry over: each in Kubernetes' words.
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"com.example.team": "web"}
    assert pod["shareProcessNamespace"] is True
    assert pod["terminationGracePeriodSeconds"] == 20
    assert pod["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["db", "cache"]}]
    assert container["resources"] == {"limits": {"memory": "256Mi", "cpu": "500m"}}
    assert container["livenessProbe"]["exec"]["command"] == ["/bin/sh", "-c", "wget -q -O- localhost/healthz"]
    assert container["livenessProbe"]["periodSeconds"] == 2
    assert container["ports"] == [{"name": "port-8080", "containerPort": 80, "protocol": "TCP"}]
    assert by[("Service", "app")]["spec"]["ports"][0] == {
        "name": "port-8080",
        "port": 8080,
        "targetPort": 80,
        "protocol": "TCP",
    }
    assert by[("ServiceMonitor", "app")]["spec"]["endpoints"][0]["port"] == "port-8080"
    assert by[("Deployment", "app")]["metadata"]["labels"]["tier"] == "web"


SECRETS = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: app
spec:
  image: localhost/app:1
  env:
    DB_PASSWORD: hunter2-db-password
    DATABASE_URL: postgres://app:url-password-42@db/app
    MODE: "$(literal)"
  args: ["--token=arg-token-1234", "--password", "hunter2-db-password", "--name=$(MODE)"]
  secretEnvFrom: {env_file}
  ports: ["9999:9999"]
  healthcheck:
    test: ["wget", "--header=Authorization: Bearer health-token-31", "-q", "-O-", "localhost:9999/"]
  probe: {{path: "/health?token=probe-secret-88", port: 9999}}
---
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata:
  name: routing
spec:
  receiver: team
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: team
spec:
  webhookConfigs:
    - urlSecret: {{file: {url_file}}}
  slackConfigs:
    - apiURL: {{env: SLACK_URL}}
  emailConfigs:
    - {{to: a@example.org, from: b@example.org, smarthost: "smtp.example.org:587", authPassword: {{file: {url_file}}}}}
"""
SECRET_VALUES = (
    "probe-secret-88",
    "health-token-31",
    "hunter2-db-password",
    "url-password-42",
    "arg-token-1234",
    "file-secret-999",
    "hook-token-777",
    "slack-env-555",
)


def test_secrets_become_references_never_values(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    env_file = private / "app.env"
    env_file.write_text("API_KEY=file-secret-999\n")
    url_file = private / "hook-url"
    url_file.write_text("https://hooks.example.org/hook-token-777\n")
    for path in (env_file, url_file):
        path.chmod(0o600)
    tree = tmp_path / "desired"
    tree.mkdir()
    (tree / "app.yaml").write_text(SECRETS.format(env_file=env_file, url_file=url_file))
    out = tmp_path / "out"
    env = {**os.environ, "SLACK_URL": "https://hooks.slack.com/slack-env-555"}
    done = subprocess.run(
        [sys.executable, "-m", "monop", "export", "kubernetes", "-f", str(tree), "--out", str(out), "-n", "apps"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = {path.name: path.read_text() for path in out.iterdir()}
    assert set(written) == {"businessservice-app.yaml", "alertrouting-routing.yaml"}
    everything = done.stdout + done.stderr + "".join(written.values())
    for value in SECRET_VALUES:
        assert value not in everything
    manifests = [doc for text in written.values() for doc in documents(text)]
    for manifest in manifests:
        validate(manifest)
    by = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    container = by[("Deployment", "app")]["spec"]["template"]["spec"]["containers"][0]
    env_by_name = {e["name"]: e for e in container["env"]}
    assert env_by_name["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "app-env", "key": "DB_PASSWORD"}},
    }
    assert env_by_name["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "app-env",
        "key": "DATABASE_URL",
    }
    assert env_by_name["MODE"] == {"name": "MODE", "value": "$$(literal)"}  # as Podman sets it: literal
    assert container["envFrom"] == [{"secretRef": {"name": "app-env-file"}}]
    # A secret in args is read from the Secret through Kubernetes' $(VAR); a `$(` of the user's stays as written.
    assert container["args"] == [
        "--token=$(MONOP_SECRET_1)",
        "--password",
        "$(DB_PASSWORD)",
        "--name=$$(MODE)",
    ]
    assert env_by_name["MONOP_SECRET_1"]["valueFrom"]["secretKeyRef"] == {
        "name": "app-env",
        "key": "MONOP_SECRET_1",
    }
    receiver = by[("AlertmanagerConfig", "routing")]["spec"]["receivers"][0]
    assert receiver["webhookConfigs"][0]["urlSecret"] == {"name": "team-receiver", "key": "webhook-0-url"}
    assert receiver["slackConfigs"][0]["apiURL"] == {"name": "team-receiver", "key": "slack-0-api-url"}
    assert receiver["emailConfigs"][0]["authPassword"] == {"name": "team-receiver", "key": "email-0-password"}
    # Each Secret to make is said, with the command that makes it from where the value is.
    assert (
        f"kubectl create secret generic app-env-file --namespace apps --from-env-file={env_file}"
        in done.stderr
    )
    assert (
        f"kubectl create secret generic team-receiver --namespace apps --from-file=webhook-0-url={url_file}"
        in done.stderr
    )
    assert (
        'kubectl create secret generic team-receiver --namespace apps --from-literal=slack-0-api-url="$SLACK_URL"'
        in done.stderr
    )
    assert (
        "BusinessService/app: needs Secret app-env key DB_PASSWORD: the value of spec.env.DB_PASSWORD"
        in done.stderr
    )
    # An exec probe cannot read a Secret: the healthcheck that holds one stays behind, said so;
    # the HTTP probe takes its place.
    assert "BusinessService/app: spec.healthcheck.test: not carried over: it holds a secret" in done.stderr
    assert "exec" not in container["livenessProbe"]
    # Whatever else holds a secret is masked, and said so.
    assert container["livenessProbe"]["httpGet"]["path"] == "/health?token=<secret>"
    assert (
        "BusinessService/app: Deployment spec.template.spec.containers[0].livenessProbe.httpGet.path: "
        "not carried over: it holds a secret, masked here" in done.stderr
    )


def export_exporter(tree: Path, spec: str) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    """Export one Exporter `x` with this spec (YAML flow): its manifests, each validated, and stderr."""
    (tree / "x.yaml").write_text(
        f"apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {{name: x}}\nspec: {spec}\n"
    )
    done = monop("export", "kubernetes", "-f", str(tree))
    assert done.returncode == 0, done.stderr
    by = {(m["kind"], m["metadata"]["name"]): m for m in documents(done.stdout)}
    for manifest in by.values():
        validate(manifest)
    return by, done.stderr


def test_a_file_of_the_desired_tree_becomes_a_config_map(tmp_path: Path) -> None:
    (tmp_path / "textfile.prom").write_text("node_role 1\n")
    by, _ = export_exporter(
        tmp_path,
        "{image: localhost/x:1, ports: ['9100:9100'], volumes: ['./textfile.prom:/text/role.prom:ro']}",
    )
    assert by[("ConfigMap", "x-files")]["data"] == {"textfile.prom": "node_role 1\n"}
    # Nothing of the host: a Deployment, its file from the ConfigMap.
    pod = by[("Deployment", "x")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["volumeMounts"] == [
        {
            "name": "text-role-prom",
            "mountPath": "/text/role.prom",
            "readOnly": True,
            "subPath": "textfile.prom",
        }
    ]


def test_a_node_level_exporter_on_a_bridge_keeps_its_host_port(tmp_path: Path) -> None:
    by, stderr = export_exporter(
        tmp_path, "{image: localhost/x:1, ports: ['127.0.0.1:9101:9100'], volumes: ['/proc:/host/proc:ro']}"
    )
    assert set(by) == {("DaemonSet", "x"), ("PodMonitor", "x")}
    container = by[("DaemonSet", "x")]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [
        {
            "name": "port-9101",
            "containerPort": 9100,
            "protocol": "TCP",
            "hostPort": 9101,
            "hostIP": "127.0.0.1",
        }
    ]
    assert by[("PodMonitor", "x")]["spec"]["podMetricsEndpoints"][0]["port"] == "port-9101"
    assert stderr == ""  # nothing left behind


def test_dashboards_become_the_grafana_sidecars_config_maps() -> None:
    from monop.desired.state import DesiredState
    from monop.export.kubernetes import Dashboard, export

    result = export(
        DesiredState((), "desired"),
        "monitoring",
        [Dashboard("monop", {"monop.json": '{"title": "monop"}'}, "desired/dash.yaml", 3, folder="Fleet")],
    )
    (config_map,) = result.manifests
    validate(config_map)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Fleet"}
    assert config_map["data"] == {"monop.json": '{"title": "monop"}'}


def test_a_label_kubernetes_refuses_is_a_usage_error(repo: Path) -> None:
    done = monop("export", "kubernetes", "-f", str(repo / "desired"), "--label", "release=kube prometheus")
    assert done.returncode == 2
    assert "release=kube prometheus: not a Kubernetes label" in done.stderr
    assert done.stdout == ""


def test_an_invalid_desired_state_exports_nothing(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec: {}\n"
    )
    done = monop("export", "kubernetes", "-f", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "x.yaml:4: Exporter/x: spec.image" in done.stderr


@pytest.mark.parametrize(
    ("value", "quantity"),
    [(256 * 2**20, "256Mi"), (2**30, "1Gi"), (1536, "1536"), (3 * 2**10, "3Ki"), (1000, "1000")],
)
def test_memory_as_a_quantity(value: int, quantity: str) -> None:
    assert quantity_bytes(value) == quantity


@pytest.mark.parametrize(("value", "quantity"), [(0.5, "500m"), (2.0, "2"), (1.25, "1250m"), (0.001, "1m")])
def test_cpus_as_a_quantity(value: float, quantity: str) -> None:
    assert quantity_cpus(value) == quantity


def test_kinds_in_stream_order(repo: Path) -> None:
    """Workloads first (each with its Service and monitor), then rule groups, then the Alertmanager config."""
    done = monop("export", "kubernetes", "-f", str(repo / "desired"))
    kinds = [m["kind"] for m in documents(done.stdout)]
    assert kinds.index("AlertmanagerConfig") == len(kinds) - 1
    assert max(i for i, k in enumerate(kinds) if k in ("DaemonSet", "Deployment")) < kinds.index(
        "PrometheusRule"
    )
    assert Counter(kinds)["PrometheusRule"] == 2


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}\.json", fullmatch=True), st.text(), max_size=3))
@settings(max_examples=200, deadline=None)
def test_file_contents_survive_the_yaml_whatever_they_hold(files: dict[str, str]) -> None:
    from monop.desired.state import DesiredState
    from monop.export.kubernetes import Dashboard, export, render

    result = export(DesiredState((), "desired"), None, [Dashboard("d", files, "desired/d.yaml", 1)])
    (config_map,) = documents(render(result))
    assert config_map.get("data") == files
