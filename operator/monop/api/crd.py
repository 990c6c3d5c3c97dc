"""CustomResourceDefinitions (apiextensions.k8s.io/v1) generated from the resource models.

Besides the spec's schema, each CRD declares what `monop get -o yaml` reports as `status`
(a status subresource: sync and health as Argo CD has them, Flux-style conditions, the
revisions), printer columns and short names, so the same objects read naturally in `kubectl get`.
"""

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
            "status": STATUS_SCHEMA,
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
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [SHORT_NAMES[kind]],
                "categories": ["monop"],  # `kubectl get monop` lists every kind
            },
            "versions": [
                {
                    "name": API_VERSION.split("/")[1],
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


SHORT_NAMES = {
    "Exporter": "exp",
    "CAdvisor": "cadv",
    "BusinessService": "bsvc",
    "AlertRuleGroup": "arg",
    "AlertReceiver": "arcv",  # monop.api.alerting
    "AlertRouting": "arout",
    "GrafanaDashboard": "gdash",  # monop.api.grafana
    "GrafanaDatasource": "gds",
}

_TIME = {"type": "string", "format": "date-time"}
_CONDITION = {
    # metav1.Condition, as Flux's and every other controller's status carries it.
    "type": "object",
    "required": ["type", "status", "reason", "message", "lastTransitionTime"],
    "properties": {
        "type": {"type": "string", "description": "Ready, Reconciling or Stalled."},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string", "description": "CamelCase: InSync, Drifted, CrashLoopBackOff, ..."},
        "message": {"type": "string"},
        "lastTransitionTime": _TIME,
    },
}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What monop last found and did; written by monop, never by a person.",
    "properties": {
        "state": {
            "type": "string",
            "description": "One word: InSync, Drifted, Missing, CrashLoopBackOff, ...",
        },
        "sync": {"type": "string", "enum": ["Synced", "OutOfSync", "Unknown"]},
        "health": {
            "type": "string",
            "enum": ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"],
        },
        "suspended": {"type": "boolean"},
        "conditions": {
            "type": "array",
            "items": _CONDITION,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
        "lastAppliedRevision": {"type": "string"},
        "lastAttemptedRevision": {"type": "string"},
        "lastReconcileTime": _TIME,
        "restartCount": {"type": "integer", "minimum": 0},
    },
}
PRINTER_COLUMNS = [
    {"name": "State", "type": "string", "jsonPath": ".status.state"},
    {"name": "Sync", "type": "string", "jsonPath": ".status.sync"},
    {"name": "Health", "type": "string", "jsonPath": ".status.health"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {
        "name": "Message",
        "type": "string",
        "priority": 1,  # -o wide only
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


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
    out = {k: _inline(v, defs) for k, v in node.items() if k not in _DROP}
    if isinstance(node.get("properties"), dict):
        # Field names are kept whatever they are: a panel's `title` is a field, not a schema's title.
        out["properties"] = {k: _inline(v, defs) for k, v in node["properties"].items()}
    return out
