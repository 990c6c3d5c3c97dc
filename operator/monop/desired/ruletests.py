"""An AlertRuleGroup's `tests:` run by `promtool test rules`, each failure at its test's line.

Each test runs alone (one promtool call, about 50 ms), against the group's rule file as monop
writes it, so a failure is said at the test it is about with promtool's own words.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from monop.api.duration import format_duration
from monop.desired.promql import group_of, render
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity


def run_tests(groups: Sequence[LoadedResource]) -> list[Problem]:
    """promtool's failures of every group's tests, each at `spec.tests[i]`; a warning without promtool."""
    tested = [g for g in groups if group_of(g).spec.tests]
    if not tested:
        return []
    promtool = shutil.which("promtool")
    if promtool is None:
        first = tested[0]
        message = "promtool is not installed (Debian: prometheus), so the rule tests did not run"
        return [Problem(first.file, None, None, None, message, Severity.WARNING)]
    problems = []
    with tempfile.TemporaryDirectory(prefix="monop-ruletests-") as tmp:
        for n, loaded in enumerate(tested):
            group = group_of(loaded)
            rules = Path(tmp) / f"{n}.rules.yml"
            rules.write_text(render(group), encoding="utf-8")
            for i, test in enumerate(group.spec.tests):
                field: tuple[str | int, ...] = ("spec", "tests", i)
                failure = run_one(promtool, rules, test_file(group.spec.interval, test.to_promtool(), rules))
                if failure is not None:
                    message = f"promtool test rules: {failure}"
                    problems.append(
                        Problem(loaded.file, loaded.line_of(*field), loaded.key, dotted(field), message)
                    )
    return problems


def test_file(interval: float | None, test: dict[str, object], rules: Path) -> str:
    """promtool's unit-test file for one test of a group read from `rules`."""
    body: dict[str, object] = {"rule_files": [rules.name]}
    if interval is not None:
        body["evaluation_interval"] = format_duration(interval)
    body["tests"] = [test]
    return yaml.safe_dump(body, sort_keys=False, width=10_000, allow_unicode=True)


def run_one(promtool: str, rules: Path, text: str) -> str | None:
    """promtool's failure of one test file beside `rules`, as one line; None when it passes."""
    output = run_raw(promtool, rules, text)
    if output is None:
        return None
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Unit Testing:", "FAILED:"))]
    return " ".join(kept).replace(str(rules.parent) + "/", "") or "failed"


def run_raw(promtool: str, rules: Path, text: str) -> str | None:
    """promtool's whole output for one test file beside `rules` when it fails; None when it passes."""
    path = rules.with_name(rules.name.removesuffix(".rules.yml") + ".test.yml")
    path.write_text(text, encoding="utf-8")
    try:
        done = subprocess.run(
            [promtool, "test", "rules", path.name],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=rules.parent,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"could not run: {err}"
    return None if done.returncode == 0 else done.stdout + done.stderr
