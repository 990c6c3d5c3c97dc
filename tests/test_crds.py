"""crds/ is generated from the models and kept current."""

from __future__ import annotations

from pathlib import Path

import yaml

from monop.desired.loader import load
from monop.model.crd import all_crds


def test_crds_in_the_repository_are_current(repo: Path) -> None:
    generated = all_crds()
    on_disk = {p.name: yaml.safe_load(p.read_text()) for p in (repo / "crds").glob("*.yaml")}
    assert on_disk == generated, "crds/ is stale: run `monop crds`"


def test_crds_are_structural_enough_for_kubernetes() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            assert "$ref" not in node, path
            assert node.get("additionalProperties") is not False, path
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    for name, body in all_crds().items():
        assert body["metadata"]["name"] == body["spec"]["names"]["plural"] + ".monop.dev"
        walk(body, name)


def test_every_field_of_the_desired_state_is_in_its_crd(repo: Path) -> None:
    crds = {body["spec"]["names"]["kind"]: body for body in all_crds().values()}
    for loaded in load(repo / "desired", exists_on_host=lambda _: True).resources:
        schema = crds[loaded.resource.kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        spec_props = schema["properties"]["spec"]["properties"]
        written = loaded.resource.spec.model_dump(by_alias=True, exclude_unset=True)
        assert set(written) <= set(spec_props), loaded.key
