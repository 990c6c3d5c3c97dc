"""crds/ is generated from the models, is what a kube-apiserver accepts, and accepts what monop accepts.

The CRDs are checked by kubernetes-validate (Kubernetes' own OpenAPI schemas, offline) and by
the structural-schema rules apiextensions v1 enforces; every document of desired/ and of the
tests' fixtures is validated against its kind's openAPIV3Schema with jsonschema.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from monop.api.crd import all_crds
from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop_testbed import desired as testbed_desired
from monop_testbed import images
from monop_testbed.demo import STACK

KUBERNETES = "1.30.0"
REPO = Path(__file__).resolve().parents[2]


def test_crds_in_the_repository_are_current(repo: Path) -> None:
    generated = all_crds()
    on_disk = {p.name: yaml.safe_load(p.read_text()) for p in (repo / "crds").glob("*.yaml")}
    assert on_disk == generated, "crds/ is stale: run `monop crds`"


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_each_crd_is_a_valid_custom_resource_definition(name: str) -> None:
    body = yaml.safe_load((REPO / "crds" / name).read_text())
    kubernetes_validate.validate(body, KUBERNETES, strict=True)


def _structural_faults(node: dict[str, Any], path: str) -> list[str]:
    """The rules of a structural schema (apiextensions v1) that `node` breaks."""
    faults = []
    free = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if not node.get("type") and not free:
        faults.append(f"{path}: no type")
    if "$ref" in node or node.get("additionalProperties") is False:
        faults.append(f"{path}: $ref or additionalProperties: false")
    if "properties" in node and "additionalProperties" in node:
        faults.append(f"{path}: both properties and additionalProperties")
    for junction in ("anyOf", "oneOf", "allOf", "not"):
        for branch in node.get(junction, []) if junction != "not" else [node.get("not", {})]:
            if {"type", "additionalProperties", "default", "nullable", "description"} & set(branch):
                faults.append(f"{path}.{junction}: a branch sets what only the node may")
    for key, child in node.get("properties", {}).items():
        faults += _structural_faults(child, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            faults += _structural_faults(node[key], f"{path}.{key}")
    return faults


def _schema(kind: str) -> dict[str, Any]:
    crd = next(c for c in all_crds().values() if c["spec"]["names"]["kind"] == kind)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize("kind", ["Exporter", "CAdvisor", "BusinessService", "AlertRuleGroup"])
def test_each_crd_schema_is_structural(kind: str) -> None:
    assert _structural_faults(_schema(kind), kind) == []


def _json_schema(node: Any) -> Any:
    """OpenAPI v3.0 as Kubernetes reads it, in JSON Schema draft 4, with unknown fields refused.

    `nullable` allows null; int-or-string allows either; preserve-unknown-fields allows
    anything; elsewhere an unknown field is an error, as `kubectl apply --validate=strict` says.
    """
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes") and k != "nullable"
    }
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return {}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if "properties" in node and node.get("type") == "object":
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _crd_errors(document: dict[str, Any]) -> list[str]:
    schema = _json_schema(_schema(document["kind"]))
    schema["properties"]["metadata"] = {"type": "object"}
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def _fixture_documents() -> list[tuple[str, str]]:
    """(where, YAML text) of every desired document the repository and its tests hold."""
    out = [(str(p.relative_to(REPO)), p.read_text()) for p in sorted((REPO / "desired").glob("*.yaml"))]
    out.append(("monop_testbed.desired.service_yaml", testbed_desired.service_yaml("svc", 18080)))
    for name, text in STACK.items():
        filled = text.format(
            node_exporter=images.NODE_EXPORTER,
            metrics=images.METRICS,
            socket="/run/podman/podman.sock",
            cadvisor_volumes=json.dumps(["/:/rootfs:ro", "/sys:/sys:ro"]),
            prometheus=images.PROMETHEUS,
            alertmanager=images.ALERTMANAGER,
            prometheus_port=19090,
            alertmanager_port=19093,
            rules_dir="/var/lib/monop-demo/rules",
            sd_dir="/var/lib/monop-demo/file_sd",
            alertmanager_dir="/var/lib/monop-demo/alertmanager",
        )
        out.append((f"monop_testbed.demo.STACK[{name}]", filled))
    return out


@pytest.mark.parametrize(("where", "text"), _fixture_documents(), ids=lambda v: v if "\n" not in v else "")
def test_every_document_of_the_repository_validates_against_its_crd(where: str, text: str) -> None:
    for document in yaml.safe_load_all(text):
        assert _crd_errors(document) == [], where


def _monop_accepts(document: dict[str, Any]) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(yaml.safe_dump(document))
        try:
            load(tmp, exists_on_host=lambda _: True)
        except InvalidDesiredState:
            return False
        return True


def _exporter(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "monop.dev/v1alpha1",
        "kind": "Exporter",
        "metadata": {"name": "x"},
        "spec": {"image": "example/x:1", "ports": ["9100:9100"], **spec},
    }


def _service(**spec: Any) -> dict[str, Any]:
    return {**_exporter(**spec), "kind": "BusinessService"}


# Each shape is accepted by both monop and the CRD, or refused by both.
SHAPES = [
    (_exporter(env={"A": "1"}), True),
    (_exporter(env=[{"name": "A", "value": "1"}]), True),
    (_service(scrape={"port": 9100}), True),
    (_service(scrape=[{"port": 9100}, {"port": 9101, "path": "/m"}]), True),
    (_exporter(healthcheck={"test": "true"}), True),
    (_exporter(healthcheck={"test": ["CMD", "true"], "interval": "10s"}), True),
    (_exporter(healthcheck={"test": "true", "interval": 30}), False),
    (_exporter(limits={"cpus": 0.5, "memory": "256Mi"}), True),
    (_exporter(limits={"memory": 268435456}), True),
    (_exporter(limits={"cpus": 0}), False),
    (_exporter(privileged="yes"), False),
    (_exporter(scrape={"port": "9100"}), False),
    (_exporter(scrape={"port": 0}), False),
    (_exporter(scrape={"interval": "1m30s", "timeout": "10s"}), True),
    (_exporter(command="run"), False),
    (_exporter(args=["--a", "--b"]), True),
    (_exporter(restartPolicy="sometimes"), False),
    (_exporter(user=None), True),
    (_exporter(bogus=1), False),
    (_exporter(user=65534), True),
    (_exporter(user="nobody:nogroup"), True),
    (_exporter(restartPolicy="Always"), True),
    (_exporter(restartPolicy="OnFailure"), True),
    (_exporter(restartPolicy="never"), False),
    (
        _exporter(
            ports=[{"containerPort": 9100, "protocol": "TCP", "name": "metrics"}], scrape={"port": "metrics"}
        ),
        True,
    ),
    (_exporter(scrape={"port": "Metrics"}), False),
    (_exporter(scrape={"port": 70000}), False),
]


@pytest.mark.parametrize(("document", "valid"), SHAPES)
def test_monop_and_the_crd_accept_the_same_shapes(document: dict[str, Any], valid: bool) -> None:
    assert _monop_accepts(document) is valid
    assert (_crd_errors(document) == []) is valid, _crd_errors(document)


def test_a_status_monop_reports_validates_against_every_crd() -> None:
    from monop.reconcile.states import State
    from monop.reconcile.status import Observation, evaluate

    for seen in (
        Observation(State.IN_SYNC, running=True),
        Observation(State.DRIFTED, "image: a -> b", running=True, reconciling="recreating"),
        Observation(State.FAILED, stalled="manifest unknown", stalled_reason="ImagePullFailed"),
    ):
        status = {
            "state": seen.state.value,
            **evaluate(seen, (), 1_764_542_467.0).to_json(),
            "suspended": False,
            "lastAppliedRevision": "0123abc",
            "lastReconcileTime": "2025-11-30T22:41:07Z",
            "restartCount": 2,
        }
        for kind in ("Exporter", "CAdvisor", "BusinessService", "AlertRuleGroup"):
            document = {**_exporter(), "kind": kind, "status": status}
            if kind == "AlertRuleGroup":
                document["spec"] = {"rules": [{"alert": "A", "expr": "up == 0"}]}
            assert [e for e in _crd_errors(document) if e.startswith("status")] == []
    wrong = {**_exporter(), "status": {"sync": "Maybe", "conditions": [{"type": "Ready"}]}}
    assert len([e for e in _crd_errors(wrong) if e.startswith("status")]) >= 2


def test_printer_columns_read_fields_the_status_has() -> None:
    for crd in all_crds().values():
        version = crd["spec"]["versions"][0]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        for column in version["additionalPrinterColumns"]:
            path = column["jsonPath"]
            if path.startswith(".status."):
                assert path.removeprefix(".status.").split("[")[0].split(".")[0] in status, path
        assert crd["spec"]["names"]["shortNames"] and crd["spec"]["names"]["categories"] == ["monop"]
