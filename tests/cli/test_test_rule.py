"""`monop test rule GROUP/ALERT`: the alert's unit tests run by the real promtool, and the alerts it raises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GROUP = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: system-critical}
spec:
  rules:
    - alert: SystemDown
      expr: up{job="node-exporter"} == 0
      for: 1m
      labels: {severity: critical}
      annotations:
        summary: 'System {{ $labels.instance }} is down'
        description: 'up is {{ $value }} for "{{ $labels.job }}"'
    - alert: Untested
      expr: up == 2
  tests:
    - name: fires when the node exporter is down
      interval: 1m
      input_series:
        - series: 'up{job="node-exporter", instance="host:9100"}'
          values: '0x10'
      alert_rule_test:
        - eval_time: 30s
          alertname: SystemDown
        - eval_time: 5m
          alertname: SystemDown
          exp_alerts:
            - exp_labels: {severity: SEVERITY, job: node-exporter, instance: "host:9100"}
              exp_annotations:
                summary: System host:9100 is down
                description: 'up is 0 for "node-exporter"'
"""


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, timeout=60)


def test_a_passing_test_shows_the_alert_with_its_annotations_rendered(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(GROUP.replace("SEVERITY", "critical"))
    done = monop("test", "rule", "system-critical/SystemDown", "-d", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        'AlertRuleGroup/system-critical SystemDown: test "fires when the node exporter is down" passed\n'
        "  at 30s: no alert\n"
        "  at 5m: SystemDown firing\n"
        "    labels: alertname=SystemDown instance=host:9100 job=node-exporter severity=critical\n"
        "    annotations:\n"
        '      description: up is 0 for "node-exporter"\n'
        "      summary: System host:9100 is down\n"
    )
    as_json = json.loads(
        monop("test", "rule", "system-critical/SystemDown", "-d", str(tmp_path), "-o", "json").stdout
    )
    [run] = as_json["tests"]
    assert run["passed"] and run["field"] == "spec.tests[0]"
    assert run["evaluations"][1]["alerts"][0]["annotations"]["summary"] == "System host:9100 is down"


def test_a_failing_test_is_said_at_its_line_in_promtools_words_and_exits_1(tmp_path: Path) -> None:
    text = GROUP.replace("SEVERITY", "warning")
    (tmp_path / "rules.yaml").write_text(text)
    done = monop("test", "rule", "system-critical/SystemDown", "-d", str(tmp_path))
    assert done.returncode == 1
    line = text.splitlines().index("    - name: fires when the node exporter is down") + 1
    assert done.stderr.startswith(
        f"{tmp_path / 'rules.yaml'}:{line}: AlertRuleGroup/system-critical: spec.tests[0]: promtool test rules: "
    )
    assert 'severity="warning"' in done.stderr  # promtool's exp and got
    assert "FAILED" in done.stdout and "severity=critical" in done.stdout  # what it does raise


def test_no_such_alert_or_no_test_of_it_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(GROUP.replace("SEVERITY", "critical"))
    nope = monop("test", "rule", "system-critical/Nope", "-d", str(tmp_path))
    assert nope.returncode == 2
    assert "AlertRuleGroup/system-critical has no alert Nope; its alerts: SystemDown, Untested" in nope.stderr
    untested = monop("test", "rule", "system-critical/Untested", "-d", str(tmp_path))
    assert untested.returncode == 2 and "has no test of Untested" in untested.stderr
    group = monop("test", "rule", "other/SystemDown", "-d", str(tmp_path))
    assert (
        group.returncode == 2 and "no AlertRuleGroup other; the groups are: system-critical" in group.stderr
    )
    bare = monop("test", "rule", "SystemDown", "-d", str(tmp_path))
    assert bare.returncode == 2 and "is not GROUP/ALERT" in bare.stderr
