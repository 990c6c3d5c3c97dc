"""An AlertRuleGroup's `tests:` run by the real `promtool test rules`, a failure at its test's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState

GROUP = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: system-critical}
spec:
  interval: 1m
  rules:
    - alert: SystemDown
      expr: up{job="node-exporter"} == 0
      for: 1m
      labels: {severity: critical}
      annotations: {summary: "System is down"}
  tests:
    - name: fires when the node exporter is down
      interval: 1m
      input_series:
        - series: 'up{job="node-exporter", instance="host:9100"}'
          values: '0x10'
      alert_rule_test:
        - eval_time: 5m
          alertname: SystemDown
          exp_alerts:
            - exp_labels: {severity: SEVERITY, job: node-exporter, instance: "host:9100"}
              exp_annotations: {summary: "System is down"}
    - interval: 1m
      input_series:
        - series: 'up{job="node-exporter", instance="host:9100"}'
          values: '1x10'
      alert_rule_test:
        - eval_time: 5m
          alertname: SystemDown
"""


def test_passing_tests_let_the_group_through(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(GROUP.replace("SEVERITY", "critical"))
    state = load(tmp_path, check_rules=True)
    assert [g.name for g in state.rule_groups] == ["system-critical"]


def test_a_failing_test_refuses_the_group_with_promtools_words_at_the_test(tmp_path: Path) -> None:
    text = GROUP.replace("SEVERITY", "warning")
    (tmp_path / "rules.yaml").write_text(text)
    with pytest.raises(InvalidDesiredState) as caught:
        load(tmp_path, check_rules=True)
    [problem] = caught.value.problems
    assert problem.resource == "AlertRuleGroup/system-critical"
    assert problem.field == "spec.tests[0]"
    assert problem.line == next(i + 1 for i, line in enumerate(text.splitlines()) if "- name: fires" in line)
    assert problem.message.startswith("promtool test rules: ")
    assert 'severity="warning"' in problem.message and 'severity="critical"' in problem.message


def test_an_unknown_field_in_a_test_is_refused_as_any_other(tmp_path: Path) -> None:
    text = GROUP.replace("SEVERITY", "critical").replace(
        "eval_time: 5m\n          alertname: SystemDown\n          exp",
        "evaltime: 5m\n          alertname: SystemDown\n          exp",
    )
    (tmp_path / "rules.yaml").write_text(text)
    with pytest.raises(InvalidDesiredState) as caught:
        load(tmp_path, check_rules=True)
    messages = [f"{p.field}: {p.message}" for p in caught.value.problems]
    assert any("unknown field 'evaltime'" in m for m in messages), messages
