"""JSON Schemas (draft 2020-12) of each kind's documents, for editors: completion and checks as you type.

Generated from the same models as the CRDs (monop.api.crd), with every form a field takes
(`"9100:9100"` or a mapping; `500m` or 0.5) spelled out, and committed under `schemas/`.
A desired file names its kind's schema in its first line, which the YAML language server
(VS Code's YAML extension, neovim's yamlls) reads:

    # yaml-language-server: $schema=../schemas/exporter.json
"""

from __future__ import annotations

import json
from typing import Any

from monop.api.forms import editor_schemas
from monop.api.resources import API_VERSION
from monop.api.rules import ALL_KINDS

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Kind (`Exporter`) -> the JSON Schema of a whole document of that kind."""
    return {kind: json_schema(kind) for kind in sorted(ALL_KINDS)}


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind, named in any case (`exporter`); KeyError names the kinds there are."""
    found = next((k for k in ALL_KINDS if k.lower() == kind.lower()), None)
    if found is None:
        raise KeyError(f"no kind {kind!r}; the kinds are {', '.join(sorted(ALL_KINDS))}")
    with editor_schemas():
        body = ALL_KINDS[found].model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": DIALECT,
        "title": f"{found} ({API_VERSION})",
        **{k: v for k, v in _editor(body).items() if k != "title"},
    }


def file_name(kind: str) -> str:
    """`exporter.json`: where the schema of `kind` is kept under schemas/, as crds/ names its CRDs."""
    return f"{kind.lower()}.json"


def schema_files() -> dict[str, str]:
    """File name -> content of every file of `schemas/`, exactly as committed."""
    return {file_name(kind): json.dumps(body, indent=2) + "\n" for kind, body in json_schemas().items()}


def _editor(node: Any, names: bool = False) -> Any:
    """Kubernetes' int-or-string as JSON Schema says it; the other x-kubernetes keys mean nothing to an
    editor, nor do pydantic's titles made from Python names ("Hostpath"). `names`: `node` maps names to schemas."""
    if isinstance(node, list):
        return [_editor(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: _editor(v) for k, v in node.items()}
    out = {
        k: _editor(v, names=k in ("properties", "$defs"))
        for k, v in node.items()
        if not k.startswith("x-kubernetes") and k != "title"
    }
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    return out
