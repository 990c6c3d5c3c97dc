"""A string field gets the text that was written, whatever YAML 1.1 would read it as.

Unquoted `0022` is 18 to YAML 1.1, `1:30` is 90, `1.10` is 1.1, `no` is false, `2001-12-14`
a date. Every string-valued field is given such scalars: the container and the rendered files
carry exactly the text, or the loader refuses it at its line. Numbers that are not numbers
(`.inf`, `.nan`, overflowing values) are refused at their line, never a traceback later.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from downstream import render_everything
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.errors import InvalidDesiredState
from monop.runtime.createspec import create_spec
from monop.runtime.expand import expand

HEAD = "apiVersion: monop.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: x\n"
EXPORTER = HEAD.format(kind="Exporter") + "spec:\n  image: example/x:1\n  ports: ['9100:9100']\n"
RULES = HEAD.format(kind="AlertRuleGroup") + "spec:\n  rules:\n"

# YAML 1.1's implicit types, as a person writes them unquoted.
octal = st.integers(0, 0o7777).map(lambda n: "0" + format(n, "o"))
sexagesimal = st.tuples(st.integers(1, 99), st.integers(0, 59)).map(lambda t: f"{t[0]}:{t[1]:02d}")
trailing_zero = st.tuples(st.integers(0, 99), st.integers(1, 9)).map(lambda t: f"{t[0]}.{t[1]}0")
booleans = st.sampled_from(["yes", "no", "on", "off", "Yes", "NO", "On", "OFF", "true", "False", "y", "n"])
numbers = st.sampled_from(["1e3", "1_000", "0x1F", "+12", "-0", ".5", "1.", "0o17", "2001-12-14", "12:30:45"])
non_numbers = st.sampled_from([".inf", "-.inf", ".nan", ".NaN", "9" * 40])
written = st.one_of(octal, sexagesimal, trailing_zero, booleans, numbers, non_numbers)


def container(state: DesiredState) -> dict[str, Any]:
    [loaded] = state.resources
    return create_spec(expand(loaded.resource, loaded.base_dir), {})


def rules(state: DesiredState) -> dict[str, Any]:
    [group] = state.rule_groups
    return group.resource.to_prometheus()["groups"][0]["rules"][0]  # type: ignore[union-attr,no-any-return]


# (where in the document, the YAML with {v}, what the user wrote as the running config holds it)
FIELDS: list[tuple[str, str, Callable[[DesiredState], object]]] = [
    ("env map", EXPORTER + "  env: {{A: {v}}}\n", lambda s: container(s)["env"]["A"]),
    ("env list", EXPORTER + "  env: [{{name: A, value: {v}}}]\n", lambda s: container(s)["env"]["A"]),
    ("args", EXPORTER + "  args: [{v}]\n", lambda s: container(s)["command"][0]),
    ("command", EXPORTER + "  command: [{v}]\n", lambda s: container(s)["entrypoint"][0]),
    ("user", EXPORTER + "  user: {v}\n", lambda s: container(s)["user"]),
    ("label value", EXPORTER + "  labels: {{a: {v}}}\n", lambda s: container(s)["labels"]["a"]),
    ("label key", EXPORTER + "  labels: {{{v}: a}}\n", lambda s: next(iter(container(s)["labels"]))),
    (
        "healthcheck test",
        EXPORTER + "  healthcheck: {{test: [{v}]}}\n",
        lambda s: container(s)["healthconfig"]["Test"][1],
    ),
    (
        "metadata label",
        EXPORTER.replace("name: x\n", "name: x\n  labels: {{a: {v}}}\n"),
        lambda s: s.resources[0].resource.metadata.labels["a"],
    ),
    (
        "metadata annotation",
        EXPORTER.replace("name: x\n", "name: x\n  annotations: {{a: {v}}}\n"),
        lambda s: s.resources[0].resource.metadata.annotations["a"],
    ),
    (
        "rule label",
        RULES + "    - {{alert: A, expr: up, labels: {{a: {v}}}}}\n",
        lambda s: rules(s)["labels"]["a"],
    ),
    (
        "rule annotation",
        RULES + "    - {{alert: A, expr: up, annotations: {{a: {v}}}}}\n",
        lambda s: rules(s)["annotations"]["a"],
    ),
    ("rule alert name", RULES + "    - {{alert: {v}, expr: up}}\n", lambda s: rules(s)["alert"]),
    ("rule expr", RULES + "    - {{alert: A, expr: {v}}}\n", lambda s: rules(s)["expr"]),
]


def _load(text: str) -> DesiredState:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(text)
        return load(tmp, exists_on_host=lambda _: True)


@pytest.mark.parametrize(("where", "template", "held"), FIELDS, ids=[f[0] for f in FIELDS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=written)
def test_a_string_field_gets_the_text_as_written(
    where: str, template: str, held: Callable[[DesiredState], object], value: str
) -> None:
    text = template.format(v=value)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if value in row and "apiVersion" not in row)
    try:
        state = _load(text)
    except InvalidDesiredState as err:
        # Refused is fine when it is said at the line, in words (a job or env name cannot be `0022`).
        assert all(p.line == line for p in err.problems), [str(p) for p in err.problems]
        return
    assert held(state) == value
    assert value in render_everything(state) or where.startswith("metadata")


def test_the_issue_s_example_umask() -> None:
    state = _load(EXPORTER + "  env: {UMASK: 0022}\n")
    assert container(state)["env"] == {"UMASK": "0022"}


def test_restart_policy_no_is_the_word_no() -> None:
    assert container(_load(EXPORTER + "  restartPolicy: no\n"))["restart_policy"] == "no"


NUMERIC = [
    "  ports: ['{v}:80']\n",
    "  ports: [{{containerPort: {v}}}]\n",
    "  limits: {{cpus: {v}}}\n",
    "  limits: {{memory: {v}}}\n",
    "  healthcheck: {{test: 'true', interval: {v}}}\n",
    "  healthcheck: {{test: 'true', retries: {v}}}\n",
    "  scrape: {{port: {v}}}\n",
    "  scrape: {{interval: {v}}}\n",
    "  scrape: {{restartAfter: {v}}}\n",
]
NOT_NUMBERS = [".inf", "-.inf", ".nan", "9" * 30, "9" * 400 + "h", "1e400", "99999999999999999999Ei"]


@pytest.mark.parametrize("field", NUMERIC)
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_numbers_that_are_not_numbers_are_refused_at_their_line(field: str, value: str) -> None:
    text = EXPORTER.replace("  ports: ['9100:9100']\n", "") + field.format(v=value)
    try:
        state = _load(text)
    except InvalidDesiredState as err:
        [problem] = err.problems
        assert problem.line == len(text.splitlines()), str(problem)
        return
    render_everything(state)  # and whatever loads, renders: no traceback later


@pytest.mark.parametrize("value", [".inf", "9" * 400 + "h", "1e400s"])
def test_a_rule_for_that_overflows_is_refused_at_its_line(value: str) -> None:
    with pytest.raises(InvalidDesiredState) as err:
        _load(RULES + f"    - {{alert: A, expr: up, for: {value}}}\n")
    assert [p.line for p in err.value.problems] == [7]


def test_a_nul_byte_is_refused_at_its_line() -> None:
    text = EXPORTER + '  volumes: ["/data\\0/x:/x"]\n'
    with pytest.raises(InvalidDesiredState) as err:
        _load(text)
    [problem] = err.value.problems
    assert problem.line == len(text.splitlines()) and "NUL" in problem.message
    json.dumps(problem.to_json())
