"""`monop test rule GROUP/ALERT`: one alert's unit tests run by promtool, and the alerts it raises.

Each of the group's `tests:` that names the alert (`alert_rule_test[].alertname`) runs as
written (`promtool test rules`); its failure is promtool's own words, at the test's line.
To show what the alert would raise (labels, annotations with their templates rendered),
each evaluation is run once more expecting an alert that cannot exist: promtool then prints
the alerts it got, which are read back (`Labels:{...}`, `Annotations:{...}`, Go-quoted).
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monop.api.duration import format_duration
from monop.desired.promql import group_of, render
from monop.desired.ruletests import run_one, run_raw, test_file
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted

PROBE_LABEL = "monop_probe"  # the label of the alert expected so that promtool lists what it got
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class NoTests(Exception):
    """The alert has no unit test to run (or promtool is missing); the message says which."""


@dataclass(frozen=True)
class FiredAlert:
    labels: dict[str, str]
    annotations: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "annotations": self.annotations}


@dataclass(frozen=True)
class Evaluation:
    """The alerts firing at `eval_time` (seconds from the test's start)."""

    eval_time: float
    alerts: tuple[FiredAlert, ...]
    error: str | None = None  # promtool's output when it could not be read

    def to_json(self) -> dict[str, Any]:
        return {
            "evalTime": format_duration(self.eval_time),
            "alerts": [a.to_json() for a in self.alerts],
            "error": self.error,
        }


@dataclass(frozen=True)
class TestRun:
    """One test of the group that names the alert: passed, or promtool's failure."""

    index: int
    name: str | None
    file: str
    line: int
    field: str  # spec.tests[i]
    failure: str | None
    evaluations: tuple[Evaluation, ...]

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "passed": self.passed,
            "failure": self.failure,
            "evaluations": [e.to_json() for e in self.evaluations],
        }


def try_alert(loaded: LoadedResource, alert: str) -> list[TestRun]:
    """Run every test of `loaded`'s group that evaluates `alert`.

    Raises NoTests when the group has no rule `alert`, no test of it, or promtool is missing.
    """
    group = group_of(loaded)
    if not any(rule.alert == alert for rule in group.spec.rules):
        names = ", ".join(r.alert for r in group.spec.rules if r.alert) or "none"
        raise NoTests(f"AlertRuleGroup/{group.name} has no alert {alert}; its alerts: {names}")
    chosen = [
        (i, t) for i, t in enumerate(group.spec.tests) if any(a.alertname == alert for a in t.alert_rule_test)
    ]
    if not chosen:
        raise NoTests(
            f"AlertRuleGroup/{group.name} has no test of {alert}: add one to spec.tests with "
            f"alert_rule_test: [{{eval_time: 5m, alertname: {alert}, exp_alerts: [...]}}]"
        )
    promtool = shutil.which("promtool")
    if promtool is None:
        raise NoTests("promtool is not installed (Debian: prometheus), so the rule tests cannot run")
    runs = []
    with tempfile.TemporaryDirectory(prefix="monop-ruletrial-") as tmp:
        rules = Path(tmp) / "0.rules.yml"
        rules.write_text(render(group), encoding="utf-8")
        for i, test in chosen:
            body = test.to_promtool()
            failure = run_one(promtool, rules, test_file(group.spec.interval, body, rules))
            evaluations = []
            for j, case in enumerate(test.alert_rule_test):
                if case.alertname != alert:
                    continue
                probe = {k: v for k, v in body.items() if k != "promql_expr_test"}
                wanted = dict(body["alert_rule_test"][j])
                wanted["exp_alerts"] = [{"exp_labels": {PROBE_LABEL: "1"}}]
                probe["alert_rule_test"] = [wanted]
                output = run_raw(promtool, rules, test_file(group.spec.interval, probe, rules)) or ""
                evaluations.append(_read_got(case.eval_time, output))
            field: tuple[str | int, ...] = ("spec", "tests", i)
            runs.append(
                TestRun(
                    i,
                    test.name,
                    str(loaded.file),
                    loaded.line_of(*field),
                    dotted(field),
                    None if failure is None else f"promtool test rules: {failure}",
                    tuple(evaluations),
                )
            )
    return runs


def _read_got(eval_time: float, output: str) -> Evaluation:
    """The alerts in promtool's `got:[...]` block; an error when the block is not there."""
    _, found, got = output.partition("got:[")
    if not found:
        text = " ".join(line.strip() for line in output.splitlines() if line.strip())
        return Evaluation(eval_time, (), text or "promtool printed nothing")
    alerts = []
    labels: dict[str, str] | None = None
    for line in got.splitlines():
        line = line.strip()
        if line.startswith("Labels:{"):
            labels = _pairs(line)
        elif line.startswith("Annotations:{") and labels is not None:
            alerts.append(FiredAlert(labels, _pairs(line)))
            labels = None
        elif line.startswith("]"):
            break
    return Evaluation(eval_time, tuple(alerts))


def _pairs(line: str) -> dict[str, str]:
    """`Labels:{a="x", b="y \\"q\\""}` -> {a: x, b: y "q"}; Go's strconv.Quote escapes are Python's too."""
    return {name: str(ast.literal_eval(f'"{value}"')) for name, value in _PAIR.findall(line)}
