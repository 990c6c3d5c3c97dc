"""The routing analysis: table-driven cases at their lines, and properties checked against Alertmanager's matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monop.api.alerting import Matcher
from monop.desired.loader import load
from monop.desired.routing import contradiction, implies, output_labels
from monop.errors import InvalidDesiredState, Problem, Severity

ROUTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec:
  receiver: default
{extra}---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: default}}
spec:
  webhookConfigs: [{{url: "http://127.0.0.1:5001/default"}}]
"""


def receiver(name: str, matchers: str, extra: str = "") -> str:
    return f"""---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: {name}}}
spec:
  matchers: {matchers}
{extra}  webhookConfigs: [{{url: "http://127.0.0.1:5001/{name}"}}]
"""


RULES = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: rules}
spec:
  rules:
    - alert: Down
      expr: up == 0
      labels: {severity: critical}
    - alert: Busy
      expr: sum by (instance) (rate(cpu[5m])) > 1
      labels: {severity: warning}
    - alert: TotalErrors
      expr: sum(rate(errors_total[5m])) > 10
      labels: {severity: warning, team: web}
"""


def analysed(tmp_path: Path, text: str) -> list[Problem]:
    (tmp_path / "alerting.yaml").write_text(text)
    try:
        state = load(tmp_path)
    except InvalidDesiredState as err:
        return list(err.problems)
    return list(state.warnings)


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


CASES = [
    pytest.param(
        receiver("a-all", "[]") + receiver("b-pager", "[{name: severity, value: critical}]"),
        "b-pager",
        "matchers: [{name: severity, value: critical}]",
        "the route of AlertReceiver/a-all",
        Severity.ERROR,
        id="a catch-all route before a narrower one",
    ),
    pytest.param(
        receiver("a-crit", '[{name: severity, value: "crit.*", matchType: "=~"}]')
        + receiver("b-critical", "[{name: severity, value: critical}, {name: team, value: db}]"),
        "b-critical",
        "name: team, value: db",
        "the route of AlertReceiver/a-crit",
        Severity.ERROR,
        id="an earlier regex takes every value of a later literal",
    ),
    pytest.param(
        receiver("a", "[{name: severity, value: critical}, {name: severity, value: warning}]"),
        "a",
        "value: warning",
        'severity="critical" and severity="warning" never hold together',
        Severity.ERROR,
        id="contradicting matchers",
    ),
    pytest.param(
        receiver("a", '[{name: severity, value: "crit.*"}]'),
        "a",
        "crit.*",
        "looks like a regular expression: for a regex write matchType: '=~'",
        Severity.WARNING,
        id="a regex written with =",
    ),
    pytest.param(
        receiver("a", '[{name: env, value: "prod|staging"}]'),
        "a",
        "prod|staging",
        "looks like a regular expression",
        Severity.WARNING,
        id="an alternation written with =",
    ),
]


@pytest.mark.parametrize(("body", "name", "needle", "message", "severity"), CASES)
def test_what_loses_notifications_is_reported_at_its_line(
    tmp_path: Path, body: str, name: str, needle: str, message: str, severity: Severity
) -> None:
    text = ROUTING.format(extra="") + body
    found = [p for p in analysed(tmp_path, text) if p.resource == f"AlertReceiver/{name}"]
    assert [(p.line, p.severity) for p in found if message in p.message] == [
        (line_of(text, needle), severity)
    ], found


def test_continue_lets_a_later_route_see_the_same_alerts(tmp_path: Path) -> None:
    text = (
        ROUTING.format(extra="")
        + receiver("a-all", "[]", "  continue: true\n")
        + receiver("b-pager", "[{name: severity, value: critical}]")
    )
    assert analysed(tmp_path, text) == []


def test_a_receiver_no_desired_rule_reaches_is_a_warning_naming_the_rules_labels(tmp_path: Path) -> None:
    text = ROUTING.format(extra="") + receiver("pager", "[{name: severity, value: page}]") + RULES
    [problem] = analysed(tmp_path, text)
    assert problem.severity is Severity.WARNING and problem.line == line_of(text, "value: page")
    assert "severity=critical, severity=warning" in problem.message


INHIBIT = """\
  inhibitRules:
    - sourceMatch: [{{name: severity, value: critical}}]
      targetMatch: [{{name: {target}, value: {value}}}]
      equal: [{equal}]
"""


@pytest.mark.parametrize(
    ("target", "value", "equal", "muted"),
    [
        ("severity", "warning", "instance", False),  # Down carries every label of `up`
        ("team", "web", "cluster", False),  # Down may carry `cluster`: its labels are up's
        ("team", "web", "alertname", False),
    ],
)
def test_an_inhibit_rule_is_judged_by_the_labels_the_rules_can_carry(
    tmp_path: Path, target: str, value: str, equal: str, muted: bool
) -> None:
    text = ROUTING.format(extra=INHIBIT.format(target=target, value=value, equal=equal)) + RULES
    found = [p for p in analysed(tmp_path, text) if p.field and "inhibitRules" in p.field]
    assert bool(found) is muted, found


def test_an_inhibit_rule_whose_equal_label_neither_side_carries_mutes_every_target(tmp_path: Path) -> None:
    rules = RULES.replace("expr: up == 0", "expr: count(up == 0) > 0")
    text = ROUTING.format(extra=INHIBIT.format(target="team", value="web", equal="instance")) + rules
    [problem] = [p for p in analysed(tmp_path, text) if p.field and "inhibitRules" in p.field]
    assert problem.severity is Severity.ERROR
    assert problem.field == "spec.inhibitRules[0].equal[0]" and problem.line == line_of(
        text, "equal: [instance]"
    )
    assert "mutes every target alert" in problem.message and "TotalErrors" in problem.message


@pytest.mark.parametrize(
    ("expr", "labels"),
    [
        ("up == 0", None),
        ("sum(rate(x[5m])) > 1", frozenset()),
        ("sum by (instance, job) (rate(x[5m])) > 1", frozenset({"instance", "job"})),
        ("sum(rate(x[5m])) by (instance) > 1", frozenset({"instance"})),
        ("100 - (avg by(instance) (irate(node_cpu_seconds_total[5m])) * 100) > 85", frozenset({"instance"})),
        ("sum without (pod) (x) > 1", None),
        ("count(up == 0) > 0 or vector(0)", frozenset()),
        ("sum(a) / on() group_left sum(b)", frozenset()),
        ("rate(x[5m]) > sum(y)", None),
    ],
)
def test_output_labels_are_known_only_where_aggregations_say(
    expr: str, labels: frozenset[str] | None
) -> None:
    assert output_labels(expr) == labels


# Properties: what the analysis claims must hold for Alertmanager's own matching of real label sets.
NAMES = st.sampled_from(["severity", "team"])
VALUES = st.sampled_from(["", "critical", "warning", "web", "crit", "a|b"])
REGEXES = st.sampled_from(["crit.*", ".*", "critical|warning", "web", "(crit|warn).*", "", ".+"])


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    kind = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(REGEXES if kind.endswith("~") else VALUES)
    return Matcher(name=draw(NAMES), value=value, matchType=kind)  # type: ignore[call-arg]


LABELSETS = st.dictionaries(NAMES, VALUES | st.sampled_from(["criticality", "b", "warn"]), max_size=2)


@settings(max_examples=300, deadline=None)
@given(st.lists(matchers(), max_size=3), st.lists(matchers(), max_size=3), st.lists(LABELSETS, max_size=30))
def test_implies_is_sound(narrow: list[Matcher], wide: list[Matcher], samples: list[dict[str, str]]) -> None:
    if implies(narrow, wide):
        for labels in samples:
            if all(m.matches(labels) for m in narrow):
                assert all(m.matches(labels) for m in wide), (narrow, wide, labels)


@settings(max_examples=300, deadline=None)
@given(st.lists(matchers(), max_size=3), st.lists(LABELSETS, max_size=30))
def test_a_contradiction_admits_no_label_set(found: list[Matcher], samples: list[dict[str, str]]) -> None:
    if contradiction(found) is not None:
        for labels in samples:
            assert not all(m.matches(labels) for m in found), (found, labels)
