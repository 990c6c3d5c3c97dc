"""Every message a user sees speaks their terms: what the field takes and what was found.

Each field of every kind is given values of every wrong kind; no message may name a Python
type (tuple, dict, int, float, str, NoneType, bool) or a class of monop's models.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from inspect import isclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from monop.api.rules import ALL_KINDS
from monop.desired.loader import load
from monop.desired.typed import annotation_at
from monop.errors import InvalidDesiredState

PYTHON_WORDS = re.compile(
    r"\b(tuple|dict|int|float|str|NoneType|bool|Input should|instance of|"
    r"Port|Volume|Device|Scrape|Probe|Healthcheck|Limits|Capabilities|EnvVar|Rule|Metadata)\b"
)
WRONG = ['"text"', "5", "1.5", "[1, 2]", "{a: 1}", "true", "null", ".inf", "[{a: [1]}]", "-1"]


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, info in model.model_fields.items():
        path = (*prefix, info.alias or name)
        yield path
        found = annotation_at(model, (info.alias or name,))
        inner = found[0] if found else None
        if isclass(inner) and issubclass(inner, BaseModel):
            yield from _paths(inner, path)


def _document(kind: str, path: tuple[str, ...], value: str) -> str:
    spec: dict[str, Any] = (
        {"rules": "[{alert: A, expr: up}]"} if kind == "AlertRuleGroup" else {"image": "example/x:1"}
    )
    lines = ["apiVersion: monop.dev/v1alpha1", f"kind: {kind}", "metadata:", "  name: x", "spec:"]
    lines += [f"  {k}: {v}" for k, v in spec.items() if k != path[0]]
    indent = "  "
    for part in path[:-1]:
        lines.append(f"{indent}{part}:")
        indent += "  "
    lines.append(f"{indent}{path[-1]}: {value}")
    return "\n".join(lines) + "\n"


CASES = [
    (kind, path)
    for kind, model in sorted(ALL_KINDS.items())
    for path in _paths(model.model_fields["spec"].annotation)  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("kind", "path"), CASES, ids=[f"{k}.{'.'.join(p)}" for k, p in CASES])
def test_no_message_names_a_python_type(kind: str, path: tuple[str, ...]) -> None:
    said = []
    for value in WRONG:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "r.yaml").write_text(_document(kind, path, value))
            try:
                load(tmp, exists_on_host=lambda _: True)
            except InvalidDesiredState as err:
                said += [p.message for p in err.problems]
    assert said, "at least one wrong value is refused"
    assert [m for m in said if PYTHON_WORDS.search(m)] == []


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('command: "a b"', "spec.command: should be a list of strings; got a string"),
        ("env: [1]", "spec.env[0]: should be a mapping; got 1"),
        ("ports: [[1]]", 'spec.ports[0]: should be a port ("8080:80/tcp") or a mapping with containerPort'),
        ("labels: {a: [1]}", "spec.labels.a: should be a string; got a list"),
        (
            "limits: {cpus: yes}",
            "spec.limits.cpus: should be a number of CPUs like 0.5 or 2, or millicores like 500m; got yes",
        ),
        (
            "scrape: {port: '9100'}",
            "spec.scrape.port: '9100' is a port number in quotes: write it without them",
        ),
        (
            "scrape: {port: [1]}",
            "spec.scrape.port: should be a port number, or the name of one of spec.ports",
        ),
        (
            "restartPolicy: never",
            "spec.restartPolicy: should be one of no, always, on-failure, unless-stopped; got 'never'",
        ),
    ],
)
def test_wrong_kinds_are_said_as_kubectl_says_them(field: str, message: str) -> None:
    text = f"apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {{name: x}}\nspec:\n  image: example/x:1\n  {field}\n"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(text)
        with pytest.raises(InvalidDesiredState) as err:
            load(tmp, exists_on_host=lambda _: True)
    shown = [str(p).split(": ", 2)[-1] for p in err.value.problems]
    assert any(s.startswith(message) for s in shown), shown
    assert all(p.line == 6 for p in err.value.problems)
