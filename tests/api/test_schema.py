"""schemas/ holds the JSON Schema of each kind, generated from the models, for editors.

The committed files are what the models generate; each is a valid draft 2020-12 schema;
every document of desired/ (and of the tests' fixtures) validates against its kind's
schema with the real jsonschema validator; each desired/ file names its schema in its first
line; and the schema takes the forms monop takes (`"9100:9100"`, `500m`, `user: 65534`)
and refuses what monop refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_crds import _exporter, _fixture_documents, _monop_accepts, _service

from monop.api.schema import file_name, json_schema, json_schemas, schema_files
from monop.desired.loader import load

REPO = Path(__file__).resolve().parents[2]


def test_schemas_in_the_repository_are_current() -> None:
    on_disk = {p.name: p.read_text() for p in (REPO / "schemas").glob("*.json")}
    assert on_disk == schema_files(), "schemas/ is stale: run `monop schema --write`"


@pytest.mark.parametrize("kind", sorted(json_schemas()))
def test_each_schema_is_a_valid_draft_2020_12_schema(kind: str) -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema(kind))


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(json_schema(document["kind"]))
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize(("where", "text"), _fixture_documents(), ids=lambda v: v if "\n" not in v else "")
def test_every_document_of_the_repository_validates_against_its_schema(where: str, text: str) -> None:
    for document in yaml.safe_load_all(text):
        assert _errors(document) == [], where


@pytest.mark.parametrize("path", sorted((REPO / "desired").glob("*.yaml")), ids=lambda p: p.name)
def test_each_desired_file_names_its_kinds_schema_in_its_first_line(path: Path) -> None:
    [kind] = {d["kind"] for d in yaml.safe_load_all(path.read_text())}
    first = path.read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../schemas/{file_name(kind)}"
    assert (path.parent / "../schemas" / file_name(kind)).resolve().is_file()


def test_monop_reads_the_desired_files_with_their_schema_line() -> None:
    assert len(load(REPO / "desired", exists_on_host=lambda _: True).resources) == 7


def _rules(**rule: Any) -> dict[str, Any]:
    return {
        "apiVersion": "monop.dev/v1alpha1",
        "kind": "AlertRuleGroup",
        "metadata": {"name": "g"},
        "spec": {"rules": [{"alert": "A", "expr": "up", **rule}]},
    }


# Each shape is accepted by both monop and the schema, or refused by both.
SHAPES = [
    (_exporter(ports=["127.0.0.1:8080:80/udp", 9101, {"containerPort": 9102, "protocol": "TCP"}]), True),
    (_exporter(volumes=["/sys:/sys:ro", {"hostPath": "/proc", "containerPath": "/host/proc"}]), True),
    (_exporter(devices=["/dev/null", {"hostPath": "/dev/zero"}]), True),
    (_exporter(env={"A": "1", "B": 2, "C": True}), True),
    (_exporter(env=[{"name": "A", "value": "1"}, {"name": "B"}]), True),
    (_exporter(env=["A=1"]), False),
    (_exporter(healthcheck={"test": "true", "interval": "10s"}), True),
    (_exporter(healthcheck={"test": ["CMD", "true"], "startPeriod": "1m"}), True),
    (_exporter(healthcheck={"test": "true", "interval": "30s1m"}), False),
    (_exporter(healthcheck={"test": "true", "interval": "1.5s"}), False),
    (_exporter(user=65534), True),
    (_exporter(user="nobody:nogroup"), True),
    (_exporter(limits={"cpus": "500m", "memory": "256Mi"}), True),
    (_exporter(limits={"cpus": 0.5, "memory": 268435456}), True),
    (_exporter(limits={"cpus": 0}), False),
    (_exporter(limits={"cpu": 1}), False),
    (_exporter(restartPolicy="Always"), True),
    (_exporter(restartPolicy="on-failure"), True),
    (_exporter(restartPolicy="sometimes"), False),
    (_exporter(stopSignal="SIGINT", stopTimeout="30s"), True),
    (_exporter(stopSignal=2), True),
    (_exporter(ports=[{"containerPort": 9100, "name": "metrics"}], scrape={"port": "metrics"}), True),
    (_exporter(scrape={"port": "9100"}), False),
    (_exporter(scrape={"port": 70000}), False),
    (_exporter(scrape={"interval": "1m30s", "timeout": "10s", "restartAfter": "3m"}), True),
    (_service(scrape={"port": 9100}), True),
    (_service(scrape=[{"port": 9100}, {"port": 9100, "path": "/other"}]), True),
    (_service(probe={"port": 9100, "path": "/healthz"}), True),
    (_exporter(resources={"limits": {"memory": "1Gi"}}), False),
    (_exporter(command="run"), False),
    ({**_exporter(), "metadata": {"name": "Bad_Name"}}, False),
    ({**_exporter(), "apiVersion": "v1"}, False),
    (_rules(**{"for": "5m", "labels": {"severity": "page"}}), True),
    (_rules(**{"for": "5m1h"}), False),
]


@pytest.mark.parametrize(("document", "valid"), SHAPES)
def test_monop_and_the_schema_accept_the_same_shapes(document: dict[str, Any], valid: bool) -> None:
    assert _monop_accepts(document) is valid
    assert (_errors(document) == []) is valid, _errors(document)


def test_a_kind_is_named_in_any_case_and_an_unknown_one_names_the_kinds() -> None:
    assert json_schema("exporter") == json_schema("Exporter")
    with pytest.raises(
        KeyError,
        match="the kinds are AlertReceiver, AlertRouting, AlertRuleGroup, BusinessService, CAdvisor, Exporter",
    ):
        json_schema("Pod")
