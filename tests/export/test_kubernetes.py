"""`monop export kubernetes`: every manifest is one a cluster accepts, nothing is dropped unsaid, no secret leaks.

Core kinds are checked by kubernetes-validate (Kubernetes' own OpenAPI schemas, strict: an
unknown field fails); the Prometheus Operator's kinds against the openAPIV3Schema of its
published CRDs (prometheus-operator-crds/, v0.93.0), with unknown fields refused as well.
"""

from __future__ import annotations

import json
import os
import re
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


def monop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


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


_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def inconsistencies(manifests: list[dict[str, Any]]) -> list[str]:
    """What a cluster would accept manifest by manifest but never wire together: the selectors and
    port names by which one manifest finds another (the API server checks none of them, except
    a Service's name and a workload's selector against its own template).
    """
    problems = []
    by: dict[str, list[dict[str, Any]]] = {}
    for manifest in manifests:
        by.setdefault(manifest["kind"], []).append(manifest)
    templates = []
    for workload in by.get("Deployment", []) + by.get("DaemonSet", []):
        name, template = workload["metadata"]["name"], workload["spec"]["template"]
        templates.append(template)
        if not _selects(workload["spec"]["selector"]["matchLabels"], template["metadata"]["labels"]):
            problems.append(f"{workload['kind']} {name}: its selector does not match its pod template")
        for container in template["spec"]["containers"]:
            names = {p["name"] for p in container.get("ports", [])}
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = container.get(kind, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in names:
                    problems.append(f"{workload['kind']} {name}: {kind} names port {port}, not declared")
    pods = lambda selector: [t for t in templates if _selects(selector, t["metadata"]["labels"])]  # noqa: E731
    for service in by.get("Service", []):
        name = service["metadata"]["name"]
        if not _DNS_1035.match(name):
            problems.append(f"Service {name}: not a DNS-1035 label (a letter first)")
        if not pods(service["spec"]["selector"]):
            problems.append(f"Service {name}: selects no pod")
    for monitor in by.get("ServiceMonitor", []):
        name = monitor["metadata"]["name"]
        services = [
            s
            for s in by.get("Service", [])
            if _selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        if not services:
            problems.append(f"ServiceMonitor {name}: selects no Service")
        have = {p["name"] for s in services for p in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint.get("port") not in have:
                problems.append(
                    f"ServiceMonitor {name}: port {endpoint.get('port')} is on no Service it selects"
                )
    for monitor in by.get("PodMonitor", []):
        name = monitor["metadata"]["name"]
        selected = pods(monitor["spec"]["selector"]["matchLabels"])
        if not selected:
            problems.append(f"PodMonitor {name}: selects no pod")
        # The operator keeps a target only for a port the pod declares (by name or by number).
        declared = [p for t in selected for c in t["spec"]["containers"] for p in c.get("ports", [])]
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            if "port" in endpoint and all(p["name"] != endpoint["port"] for p in declared):
                problems.append(
                    f"PodMonitor {name}: port {endpoint['port']} is declared on no pod it selects"
                )
            if "portNumber" in endpoint and all(
                p["containerPort"] != endpoint["portNumber"] for p in declared
            ):
                problems.append(
                    f"PodMonitor {name}: port {endpoint['portNumber']} is declared on no pod it selects"
                )
            if "port" not in endpoint and "portNumber" not in endpoint:
                problems.append(f"PodMonitor {name}: an endpoint names no port")
    return problems


def validate_all(manifests: list[dict[str, Any]]) -> None:
    """Each manifest as the API server checks it, then all of them as the controllers wire them."""
    for manifest in manifests:
        validate(manifest)
    assert inconsistencies(manifests) == []


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
    validate_all(manifests)
    for manifest in manifests:
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
        # Prometheus and Alertmanager as the seed runs them: containers beside the exporters.
        ("Deployment", "prometheus"),
        ("Service", "prometheus"),
        ("ServiceMonitor", "prometheus"),
        ("ConfigMap", "prometheus-files"),
        ("Deployment", "alertmanager"),
        ("Service", "alertmanager"),
        ("ServiceMonitor", "alertmanager"),
        ("PrometheusRule", "system-critical"),
        ("PrometheusRule", "gpu-monitoring"),
        ("AlertmanagerConfig", "alertmanager"),
        # The GrafanaDashboards, as the Grafana sidecar's ConfigMaps.
        ("ConfigMap", "dashboard-gpu-performance"),
        ("ConfigMap", "dashboard-media-pipeline"),
        ("ConfigMap", "dashboard-mobile-status"),
        ("ConfigMap", "dashboard-monop"),
        ("ConfigMap", "dashboard-system-overview"),
    } == kinds
    by = {(m["kind"], m["metadata"]["name"]): m for m in manifests}
    node = by[("DaemonSet", "node-exporter")]["spec"]["template"]["spec"]
    assert node["hostNetwork"] is True
    assert node["volumes"] == [{"name": "host", "hostPath": {"path": "/"}}]
    assert node["containers"][0]["volumeMounts"] == [{"name": "host", "mountPath": "/host", "readOnly": True}]
    # The seed's alert rules read up{job="node-exporter"}: the job survives the move.
    endpoint = by[("PodMonitor", "node-exporter")]["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "port-9100" and endpoint["interval"] == "15s"
    # Declared on the host network too (no hostPort: the API server sets the same): the
    # operator keeps a PodMonitor's target only for a port the pod declares.
    assert node["containers"][0]["ports"] == [{"name": "port-9100", "containerPort": 9100, "protocol": "TCP"}]
    assert {"action": "replace", "targetLabel": "job", "replacement": "node-exporter"} in endpoint[
        "relabelings"
    ]
    # business-dashboard publishes 8502 for its container's 8501: the Service keeps both numbers,
    # the container's port is named after its own.
    service = by[("Service", "business-dashboard")]["spec"]["ports"]
    assert {"name": "port-8502", "port": 8502, "targetPort": 8501, "protocol": "TCP"} in service
    dashboard = by[("Deployment", "business-dashboard")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "port-8501", "containerPort": 8501, "protocol": "TCP"} in dashboard["ports"]
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
        "desired/receivers.yaml:25: AlertReceiver/critical-alerts: spec.webhookConfigs[0].url: carried over as "
        "written, but host.containers.internal" in done.stderr
    )
    # cAdvisor's Podman socket is mounted as written, but said: a node of a cluster runs none.
    assert (
        "CAdvisor/cadvisor: spec.volumes[3]: carried over as written, but /run/podman/podman.sock"
        in done.stderr
    )
    # Above the AlertmanagerConfig, each receiver's leftover says which receiver it is.
    assert (
        "# AlertReceiver/warning-alerts: spec.webhookConfigs[0].url: carried over as written, but"
        in done.stdout
    )


LEFTOVERS = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: app
  labels: {"tier": "web", "bad label": "x"}
spec:
  image: localhost/app:1
  user: "1000:staff"
  restartPolicy: "no"
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
    startPeriod: 10s
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


def test_the_cross_manifest_check_can_fail() -> None:
    labels = {"app.kubernetes.io/name": "a"}
    template = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "a", "image": "a", "ports": [{"name": "web", "containerPort": 80}]}]
        },
    }
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "a"},
        "spec": {"selector": {"matchLabels": labels}, "template": template},
    }
    service = {
        "kind": "Service",
        "metadata": {"name": "9a", "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": "b"}, "ports": [{"name": "web", "port": 80}]},
    }
    service_monitor = {
        "kind": "ServiceMonitor",
        "metadata": {"name": "a"},
        "spec": {"selector": {"matchLabels": labels}, "endpoints": [{"port": "metrics"}]},
    }
    pod_monitor = {
        "kind": "PodMonitor",
        "metadata": {"name": "a"},
        "spec": {"selector": {"matchLabels": labels}, "podMetricsEndpoints": [{"portNumber": 9100}]},
    }
    template["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/", "port": "port-8081"}}
    assert inconsistencies([deployment, service, service_monitor, pod_monitor]) == [
        "Deployment a: livenessProbe names port port-8081, not declared",
        "Service 9a: not a DNS-1035 label (a letter first)",
        "Service 9a: selects no pod",
        "ServiceMonitor a: port metrics is on no Service it selects",
        "PodMonitor a: port 9100 is declared on no pod it selects",
    ]
    deployment["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "b"}}
    assert "Deployment a: its selector does not match its pod template" in inconsistencies([deployment])


# Edge cases a reviewer wrote (/tmp/review-kube t1-t3): a name starting with a digit, the name
# label set by the user, one container port published twice with the probe on the second,
# enabled and disabled scrape blocks, a host-network exporter, receivers with secrets.
EDGE_SHOP = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: 9shop
  labels:
    team: Payments_Team.v2
    "weird key": x
    app.kubernetes.io/name: shopfront
  annotations:
    note: "hello world: with spaces"
spec:
  image: docker.io/library/nginx:1.27
  command: ["/app", "--password=sup3rs3cretpw", "--x=$(HOME)"]
  env:
    DB_PASSWORD: "envsecret-xyz987"
    PLAIN: "hello $(USER)"
  secretEnvFrom: [{env_file}]
  ports:
    - "8080:80"
    - "127.0.0.1:9000:9000"
    - "5353:53/udp"
    - containerPort: 9100
      hostPort: 19101
      name: metrics
  volumes:
    - conf/app.conf:/etc/app/app.conf:ro
    - /var/lib/data:/data
  user: nobody
  restartPolicy: on-failure
  healthcheck:
    test: "curl -f http://localhost/ || exit 1"
    interval: 2s500ms
    retries: 0
  scrape:
    - job: shop
      port: metrics
      expect: [http_requests_total]
    - job: shop-admin
      port: 9000
      address: 10.1.1.1
  probe:
    path: /healthz
    port: 8080
---
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: my-exporter
spec:
  image: quay.io/prometheus/node-exporter:v1.8.2
  network: host
  args: ["--web.listen-address=:9101"]
  devices: [/dev/fuse]
  scrape:
    port: 9101
---
apiVersion: monop.dev/v1alpha1
kind: CAdvisor
metadata:
  name: cadvisor
spec:
  image: gcr.io/cadvisor/cadvisor:v0.49.1
  port: 8089
"""
EDGE_ALERTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata:
  name: root
spec:
  receiver: default
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: default
spec:
  webhookConfigs:
    - urlSecret: {env: HOOK_URL}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: team-slack
spec:
  matchers:
    - {name: team, value: "pay.*", matchType: "=~"}
  slackConfigs:
    - apiURL: {env: SLACK_URL}
      channel: "#alerts"
  emailConfigs:
    - {to: ops@example.com, from: am@example.com, smarthost: "smtp.example.com:587", authUsername: am, authPassword: {env: SMTP_PASSWORD}}
"""
EDGE_PORTS = """\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: proc-exporter
spec:
  image: quay.io/prometheus/node-exporter:v1.8.2
  ports: ["127.0.0.1:19100:9100"]
  volumes: ["/proc:/host/proc:ro"]
---
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: multi
spec:
  image: docker.io/library/nginx:1.27
  ports: ["8180:80", "8181:80", "9090:9090"]
  scrape:
    - {job: "off", port: 9090, enabled: false}
    - {job: "on", port: 9090, expect: [up]}
    - {job: own, port: 7070}
  probe: {port: 8181, path: /ready}
---
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: own-port
spec:
  image: docker.io/library/nginx:1.27
  scrape: {port: 7072}
  probe: {port: 7071}
"""


def edge_tree(tree: Path) -> Path:
    tree.mkdir()
    (tree / "conf").mkdir()
    (tree / "conf" / "app.conf").write_text("listen 80;\n")
    env_file = tree.parent / "app.env"
    env_file.write_text("API_KEY=file-secret-999\n")
    env_file.chmod(0o600)
    (tree / "shop.yaml").write_text(EDGE_SHOP.replace("{env_file}", str(env_file)))
    (tree / "alerting.yaml").write_text(EDGE_ALERTING)
    (tree / "ports.yaml").write_text(EDGE_PORTS)
    return tree


@pytest.mark.parametrize("which", ["desired", "edge cases"])
def test_every_export_is_consistent_across_manifests(which: str, repo: Path, tmp_path: Path) -> None:
    tree = repo / "desired" if which == "desired" else edge_tree(tmp_path / "desired")
    receivers = {
        "HOOK_URL": "https://hooks.example.org/1",
        "SLACK_URL": "https://slack/2",
        "SMTP_PASSWORD": "pw-3",
    }
    done = monop("export", "kubernetes", "-f", str(tree), "-n", "mon", "--label", "release=x", env=receivers)
    assert done.returncode == 0, done.stderr
    validate_all(documents(done.stdout))


def test_the_edge_cases_wire_up(tmp_path: Path) -> None:
    tree = edge_tree(tmp_path / "desired")
    receivers = {
        "HOOK_URL": "https://hooks.example.org/1",
        "SLACK_URL": "https://slack/2",
        "SMTP_PASSWORD": "pw-3",
    }
    done = monop("export", "kubernetes", "-f", str(tree), "-o", "json", env=receivers)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by = {(m["kind"], m["metadata"]["name"]): m for m in report["manifests"]}
    listed = {(x["resource"], x["field"]): x for x in report["notCarriedOver"]}
    # The user's app.kubernetes.io/name stays behind: the selectors match on the resource's name.
    shop = by[("Deployment", "9shop")]
    assert shop["metadata"]["labels"]["app.kubernetes.io/name"] == "9shop"
    assert shop["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "9shop"
    assert ("BusinessService/9shop", "metadata.labels.app.kubernetes.io/name") in listed
    # A Service's name starts with a letter; its monitor finds it by its labels.
    assert by[("Service", "svc-9shop")]["spec"]["selector"] == {"app.kubernetes.io/name": "9shop"}
    assert ("Service", "9shop") not in by
    # Podman's restart policy and a host path a Deployment's pod reads on whichever node.
    assert listed[("BusinessService/9shop", "spec.restartPolicy")]["message"].startswith("'on-failure'")
    assert listed[("BusinessService/9shop", "spec.volumes[1]")]["keptAsWritten"] is True
    # 8180:80 and 8181:80 are one container port: the probe on 8181 names it as declared.
    multi = by[("Deployment", "multi")]["spec"]["template"]["spec"]["containers"][0]
    assert multi["livenessProbe"]["httpGet"]["port"] == "port-80"
    assert [p["name"] for p in multi["ports"]] == ["port-80", "port-9090", "port-7070"]
    # The second scrape block (the first is disabled) is spec.scrape[1], as written.
    assert ("BusinessService/multi", "spec.scrape[1].expect") in listed
    assert ("BusinessService/multi", "spec.scrape[0].expect") not in listed
    # A host-network exporter declares the port its PodMonitor names.
    pod = by[("DaemonSet", "my-exporter")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["ports"] == [{"name": "port-9101", "containerPort": 9101, "protocol": "TCP"}]
    assert by[("PodMonitor", "my-exporter")]["spec"]["podMetricsEndpoints"][0]["port"] == "port-9101"


def test_out_removes_only_its_own_earlier_files(tmp_path: Path) -> None:
    tree = tmp_path / "desired"
    tree.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "kustomization.yaml"
    mine.write_text("resources: []\n")
    exporter = "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {{name: {}}}\nspec: {{image: localhost/x:1, ports: ['{}:9100']}}\n"
    (tree / "a.yaml").write_text(exporter.format("a", 9101))
    (tree / "b.yaml").write_text(exporter.format("b", 9102))
    assert monop("export", "kubernetes", "-f", str(tree), "--out", str(out)).returncode == 0
    assert {p.name for p in out.iterdir()} == {"exporter-a.yaml", "exporter-b.yaml", "kustomization.yaml"}
    assert (out / "exporter-a.yaml").read_text().startswith("# Written by `monop export kubernetes`")
    (tree / "b.yaml").unlink()
    done = monop("export", "kubernetes", "-f", str(tree), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"exporter-a.yaml", "kustomization.yaml"}
    assert f"removed: {out / 'exporter-b.yaml'}" in done.stdout
    assert mine.read_text() == "resources: []\n"


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--namespace", "Monitoring", "'Monitoring' is not a namespace"),
        ("--namespace", "mon.itoring", "'mon.itoring' is not a namespace"),
        ("--label", "app.kubernetes.io/name=stack", "app.kubernetes.io/name: the export sets it"),
    ],
)
def test_a_bad_namespace_or_label_is_a_usage_error(repo: Path, flag: str, value: str, said: str) -> None:
    done = monop("export", "kubernetes", "-f", str(repo / "desired"), flag, value)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert done.stdout == ""


def test_what_is_not_carried_over_is_listed_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(LEFTOVERS)
    done = monop("export", "kubernetes", "-f", str(tmp_path), "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    validate_all(report["manifests"])
    listed = {(x["resource"], x["field"]): x for x in report["notCarriedOver"]}
    assert set(listed) == {
        ("BusinessService/app", "metadata.labels.bad label"),
        ("BusinessService/app", "spec.user"),
        ("BusinessService/app", "spec.restartPolicy"),
        ("BusinessService/app", "spec.stopSignal"),
        ("BusinessService/app", "spec.network"),
        ("BusinessService/app", "spec.ports[0]"),
        ("BusinessService/app", "spec.healthcheck.interval"),
        ("BusinessService/app", "spec.scrape[0].expect"),
        ("BusinessService/app", "spec.scrape[0].restartAfter"),
        ("BusinessService/app", "spec.labels.team name"),
        ("AlertRuleGroup/app", "spec.tests"),
    }
    assert listed[("BusinessService/app", "spec.stopSignal")]["line"] == 10
    assert listed[("BusinessService/app", "spec.user")]["message"].startswith("'1000:staff' names a group")
    assert listed[("BusinessService/app", "spec.user")]["file"] == str(tmp_path / "app.yaml")
    # The same list on stderr, and on the workload itself as an annotation.
    assert f"{tmp_path}/app.yaml:10: BusinessService/app: spec.stopSignal: not carried over:" in done.stderr
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
    # The start period: checks that fail uncounted until one succeeds, as a startupProbe.
    assert "initialDelaySeconds" not in container["livenessProbe"]
    assert container["startupProbe"] == {**container["livenessProbe"], "failureThreshold": 5 + 3}
    assert container["ports"] == [{"name": "port-80", "containerPort": 80, "protocol": "TCP"}]
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
    validate_all(manifests)
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
    # Each Secret to make is said, with the one command that makes it from where the values are.
    made = run_kubectl_commands(done.stderr, tmp_path, env)
    assert made == {
        "app-env-file": ["--namespace", "apps", f"--from-env-file={env_file}"],
        "app-env": [
            "--namespace", "apps",
            "--from-literal=MONOP_SECRET_1=<value>",
            "--from-literal=DB_PASSWORD=<value>",
            "--from-literal=DATABASE_URL=<value>",
        ],
        "team-receiver": [
            "--namespace", "apps",
            f"--from-file=webhook-0-url={url_file}",
            f"--from-file=email-0-password={url_file}",
            "--from-literal=slack-0-api-url=https://hooks.slack.com/slack-env-555",
        ],
    }  # fmt: skip
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


def run_kubectl_commands(stderr: str, tmp_path: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """Run each `kubectl create secret` command of `stderr` in a shell as a user pastes it, with a
    stand-in kubectl (no cluster here) that records its arguments: Secret name -> the rest.
    Fails when one Secret is made twice (the second would fail: AlreadyExists).
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "kubectl-calls"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nprintf "%s\\0" "$@" >> {record}\nprintf "\\n" >> {record}\n')
    kubectl.chmod(0o755)
    prefix = "to make it: "
    commands = [line.removeprefix(prefix) for line in stderr.splitlines() if line.startswith(prefix)]
    work = tmp_path / "cwd"
    work.mkdir()
    for command in commands:
        subprocess.run(
            ["sh", "-c", command], check=True, cwd=work, env={**env, "PATH": f"{bin_dir}:{env['PATH']}"}
        )
    assert list(work.iterdir()) == []  # nothing redirected into a file
    made: dict[str, list[str]] = {}
    for call in record.read_text().splitlines():
        argv = call.split("\0")[:-1]
        assert argv[:3] == ["create", "secret", "generic"]
        assert argv[3] not in made, f"Secret {argv[3]} made twice"
        made[argv[3]] = argv[4:]
    return made


def export_exporter(tree: Path, spec: str) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    """Export one Exporter `x` with this spec (YAML flow): its manifests, each validated, and stderr."""
    (tree / "x.yaml").write_text(
        f"apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {{name: x}}\nspec: {spec}\n"
    )
    done = monop("export", "kubernetes", "-f", str(tree))
    assert done.returncode == 0, done.stderr
    by = {(m["kind"], m["metadata"]["name"]): m for m in documents(done.stdout)}
    validate_all(list(by.values()))
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
            "name": "port-9100",
            "containerPort": 9100,
            "protocol": "TCP",
            "hostPort": 9101,
            "hostIP": "127.0.0.1",
        }
    ]
    assert by[("PodMonitor", "x")]["spec"]["podMetricsEndpoints"][0]["port"] == "port-9100"
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
    """Workloads first (each with its Service and monitor), then rule groups, the Alertmanager config, the dashboards."""
    done = monop("export", "kubernetes", "-f", str(repo / "desired"))
    kinds = [m["kind"] for m in documents(done.stdout)]
    assert kinds[kinds.index("AlertmanagerConfig") + 1 :] == ["ConfigMap"] * 5  # the five dashboards
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
