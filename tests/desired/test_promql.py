"""validate runs promtool on every rule group and says each refusal at the desired file and line."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop.prometheus.rules import sync

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian: prometheus) is needed"
)

GROUP = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata:
  name: g
spec:
  rules:
    - alert: Fine
      expr: up == 0
    - alert: Broken
      expr: {expr}
"""


def write(tree: Path, expr: str) -> Path:
    tree.mkdir(parents=True, exist_ok=True)
    path = tree / "rules.yaml"
    path.write_text(GROUP.format(expr=expr))
    return path


@pytest.mark.parametrize(
    "expr",
    ["'up == == 0 ('", "'sum(up'", "'rate(up[5x])'", "'up{job=\"a\"'", "'foo bar'", "'up offset'"],
)
def test_promql_prometheus_refuses_is_refused_at_its_expr(tmp_path: Path, expr: str) -> None:
    path = write(tmp_path / "d", expr)
    with pytest.raises(InvalidDesiredState) as err:
        load(tmp_path / "d", exists_on_host=lambda _: True, check_rules=True)
    [problem] = err.value.problems
    assert (problem.file, problem.line, problem.resource, problem.field) == (
        str(path),
        10,
        "AlertRuleGroup/g",
        "spec.rules[1].expr",
    )
    assert problem.message.startswith("promtool: could not parse expression")
    assert ".check" not in problem.message and "monop-rules-" not in problem.message


@pytest.mark.parametrize(
    "expr",
    [
        'up{job="node-exporter"} == 0',
        "100 - (avg by(instance) (irate(node_cpu_seconds_total{mode='idle'}[5m])) * 100) > 85",
        "'sum without (instance) (rate(http_requests_total[1m] offset 5m))'",
        "'histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))'",
    ],
)
def test_promql_prometheus_takes_passes(tmp_path: Path, expr: str) -> None:
    write(tmp_path / "d", expr)
    state = load(tmp_path / "d", exists_on_host=lambda _: True, check_rules=True)
    assert [g.key for g in state.rule_groups] == ["AlertRuleGroup/g"]


def test_monop_validate_says_where_promql_is_broken(tmp_path: Path) -> None:
    path = write(tmp_path / "d", "'up == == 0 ('")
    done = subprocess.run(
        [sys.executable, "-m", "monop", "validate", str(tmp_path / "d"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    [problem] = json.loads(done.stdout)["problems"]
    assert problem["file"] == str(path) and problem["line"] == 10
    assert problem["field"] == "spec.rules[1].expr"


def test_apply_s_rejection_names_the_desired_file_not_a_temporary_one(tmp_path: Path) -> None:
    path = write(tmp_path / "d", "'up == == 0 ('")
    state = load(tmp_path / "d", exists_on_host=lambda _: True)
    result = asyncio.run(sync(state.rule_groups, tmp_path / "rules", None))
    assert result.rejected["g"].startswith(f"{path}:10: AlertRuleGroup/g: spec.rules[1].expr: promtool: ")
    assert ".check" not in result.rejected["g"]
