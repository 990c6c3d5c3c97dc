"""AlertRuleGroup documents: loaded beside the containers, checked, and rendered for Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop.prometheus.rules import render

HEAD = "apiVersion: monop.dev/v1alpha1\nkind: AlertRuleGroup\nmetadata: {name: g}\nspec:\n  rules:\n"


def errors(tmp_path: Path, rules: str) -> list[str]:
    (tmp_path / "g.yaml").write_text(HEAD + rules)
    with pytest.raises(InvalidDesiredState) as err:
        load(tmp_path)
    return [str(p).replace(str(tmp_path) + "/", "") for p in err.value.problems]


def test_rule_groups_are_not_containers(repo: Path) -> None:
    state = load(repo / "desired", exists_on_host=lambda _: True)
    assert [g.key for g in state.rule_groups] == [
        "AlertRuleGroup/gpu-monitoring",
        "AlertRuleGroup/system-critical",
    ]
    assert all(r.key.split("/")[0] != "AlertRuleGroup" for r in state.resources)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            "    - {alert: A, record: b, expr: up}\n",
            "g.yaml:6: AlertRuleGroup/g: spec.rules[0]: a rule has exactly one of alert or record",
        ),
        (
            "    - {record: 'not a name', expr: up}\n",
            "g.yaml:6: AlertRuleGroup/g: spec.rules[0].record: 'not a name' is not a valid Prometheus metric name",
        ),
        (
            "    - {alert: A, expr: up, for: soon}\n",
            "g.yaml:6: AlertRuleGroup/g: spec.rules[0].for: 'soon' is not a duration",
        ),
        (
            "    - {alert: A, expr: up, labels: {'bad-name': x}}\n",
            "g.yaml:6: AlertRuleGroup/g: spec.rules[0].labels: label name 'bad-name' is not a valid Prometheus label name",
        ),
        ("    []\n", "g.yaml:5: AlertRuleGroup/g: spec.rules: a group needs at least one rule"),
    ],
)
def test_bad_rules_name_file_line_and_field(tmp_path: Path, rules: str, expected: str) -> None:
    [problem] = errors(tmp_path, rules)
    assert problem.startswith(expected), problem


def test_the_rendered_file_is_what_prometheus_reads_with_quotes_intact(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(
        HEAD
        + """    - alert: Idle
      expr: node_cpu_seconds_total{mode='idle'} > 0 and on() up{job="node"} == 1
      for: 90s
      labels: {severity: warning}
"""
    )
    [group] = load(tmp_path).rule_groups
    text = render(group)
    assert text.startswith(f"# Written by monop from {tmp_path}/g.yaml")
    assert yaml.safe_load(text) == {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {
                        "alert": "Idle",
                        "expr": "node_cpu_seconds_total{mode='idle'} > 0 and on() up{job=\"node\"} == 1",
                        "for": "1m30s",
                        "labels": {"severity": "warning"},
                    }
                ],
            }
        ]
    }
