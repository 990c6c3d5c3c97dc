"""CustomResourceDefinitions (apiextensions.k8s.io/v1) generated from the resource models."""

from __future__ import annotations

from typing import Any

from monop.api.resources import API_VERSION, GROUP, Strict
from monop.api.rules import ALL_KINDS

_DROP = {"title", "default"}


def crd(kind: str, model: type[Strict]) -> dict[str, Any]:
    """The CRD of one kind, with the spec's schema inlined as Kubernetes requires (no $ref)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    body = _inline(schema, defs)
    props = body["properties"]
    # The API server owns apiVersion, kind and metadata; the CRD describes only the rest.
    openapi = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": props["spec"],
        },
    }
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": API_VERSION.split("/")[1],
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi},
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, for every kind."""
    return {f"{kind.lower()}.yaml": crd(kind, model) for kind, model in sorted(ALL_KINDS.items())}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    any_of = node.get("anyOf")
    if any_of and {"type": "null"} in any_of:
        # OpenAPI v3 spells "X or null" as X with nullable: true.
        rest = [option for option in any_of if option != {"type": "null"}]
        node = {k: v for k, v in node.items() if k != "anyOf"}
        node = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}), **node, "nullable": True}
        return _inline(node, defs)
    if "prefixItems" in node:
        node = {k: v for k, v in node.items() if k != "prefixItems"}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), int | float) and not isinstance(node.get(exclusive), bool):
            # JSON Schema 2020-12 (pydantic) writes the bound in exclusiveMinimum; OpenAPI v3.0,
            # which apiextensions v1 follows, writes it in minimum with exclusiveMinimum: true.
            node = {**node, bound: node[exclusive], exclusive: True}
    if node.get("additionalProperties") is False:
        # Structural schemas forbid it; unknown fields are pruned by Kubernetes and refused by monop.
        node = {k: v for k, v in node.items() if k != "additionalProperties"}
    return {k: _inline(v, defs) for k, v in node.items() if k not in _DROP}
