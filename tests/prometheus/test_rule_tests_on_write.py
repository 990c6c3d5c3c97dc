"""A rule group whose unit tests fail never replaces its rule file (the daemon's write path)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monop.desired.loader import load
from monop.prometheus import rules as rulefiles

GROUP = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: system-critical}
spec:
  rules:
    - alert: SystemDown
      expr: up == 0
      labels: {severity: critical}
  tests:
    - input_series: [{series: 'up{instance="a"}', values: '0x5'}]
      alert_rule_test:
        - eval_time: 2m
          alertname: SystemDown
          exp_alerts: [{exp_labels: {instance: a, severity: SEVERITY}}]
"""


def test_a_group_whose_tests_fail_is_rejected_and_the_previous_file_stays(tmp_path: Path) -> None:
    desired, rules_dir = tmp_path / "desired", tmp_path / "rules"
    desired.mkdir()
    (desired / "rules.yaml").write_text(GROUP.replace("SEVERITY", "critical"))
    first = asyncio.run(rulefiles.sync(load(desired).rule_groups, rules_dir, None))
    assert first.written == ("system-critical",)
    good = (rules_dir / "system-critical.yml").read_text()

    # The daemon loads without running the tests (validate does): the write path must run them.
    (desired / "rules.yaml").write_text(
        GROUP.replace("SEVERITY", "page").replace("up == 0", "up == 0 or up == 2")
    )
    result = asyncio.run(rulefiles.sync(load(desired).rule_groups, rules_dir, None))
    assert result.written == ()
    assert "promtool test rules" in result.rejected["system-critical"]
    assert "spec.tests[0]" in result.rejected["system-critical"]
    assert (rules_dir / "system-critical.yml").read_text() == good
