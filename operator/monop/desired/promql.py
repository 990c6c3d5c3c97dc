"""Rule groups checked by promtool, Prometheus's own checker, with each error at its desired line.

`promtool check rules` (Debian's `prometheus` package has it) is run on the groups rendered
as Prometheus will read them; its errors name a rendered file, a group and a rule number,
which are mapped back to the desired file, the rule's line and the field (`expr`, `labels`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from monop.api.rules import AlertRuleGroupResource
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity

# `FILE: [LINE:COL: ]group "NAME", rule N, "RULE": MESSAGE`, or `FILE: MESSAGE` for the whole file.
_RULE_ERROR = re.compile(r'^(?:\d+:\d+: )?group ".*?", rule (\d+), ".*?": (.*)$')
# Which field of the rule promtool's message is about.
_FIELDS = (
    ("could not parse expression", "expr"),
    ("invalid recording rule name", "record"),
    ("invalid label", "labels"),
    ("invalid annotation", "annotations"),
    ("duration", "for"),
)


def render(group: AlertRuleGroupResource) -> str:
    """The rule file Prometheus reads for `group`: `groups: [{name, interval, rules}]`."""
    return yaml.safe_dump(group.to_prometheus(), sort_keys=False, width=10_000, allow_unicode=True)


def check_groups(groups: Sequence[LoadedResource]) -> list[Problem]:
    """promtool's errors about `groups`, each at its desired file and line.

    Without promtool, one warning says the PromQL was not checked. Raises nothing.
    """
    if not groups:
        return []
    promtool = shutil.which("promtool")
    if promtool is None:
        first = groups[0]
        message = "promtool is not installed (Debian: prometheus), so PromQL was not checked"
        return [Problem(first.file, None, None, None, message, Severity.WARNING)]
    with tempfile.TemporaryDirectory(prefix="monop-rules-") as tmp:
        files = {}
        for i, loaded in enumerate(groups):
            path = Path(tmp) / f"{i}.yml"
            path.write_text(render(group_of(loaded)), encoding="utf-8")
            files[str(path)] = loaded
        output = run(promtool, list(files))
    return [] if output is None else locate(output, files)


def run(promtool: str, paths: Sequence[str]) -> str | None:
    """promtool's output when it refuses any of `paths`, None when it accepts them all."""
    try:
        done = subprocess.run(
            [promtool, "check", "rules", *paths], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{paths[0]}: promtool could not run: {err}"
    return None if done.returncode == 0 else done.stderr + done.stdout


def locate(output: str, files: Mapping[str, LoadedResource]) -> list[Problem]:
    """promtool's error lines about `files` (rendered path -> its group), as located Problems."""
    problems = []
    for line in output.splitlines():
        path, sep, rest = line.strip().partition(": ")
        loaded = files.get(path)
        if not sep or loaded is None:
            continue
        field: tuple[str | int, ...] = ("spec", "rules")
        message = rest
        match = _RULE_ERROR.match(rest)
        if match is not None:
            number, message = int(match.group(1)), match.group(2)
            field = ("spec", "rules", number - 1)
            name = next((f for hint, f in _FIELDS if message.startswith(hint)), None)
            if name is not None:
                field = (*field, name)
        at = loaded.line_of(*field)
        problems.append(Problem(loaded.file, at, loaded.key, dotted(field), f"promtool: {message}"))
    if not problems:  # an answer not in the shape above: say it whole, at the first group
        first = next(iter(files.values()))
        text = "; ".join(line.strip() for line in output.splitlines() if line.strip())
        for path in files:
            text = text.replace(path, "rule file")
        problems.append(Problem(first.file, first.line, first.key, None, f"promtool: {text}"))
    return problems


def group_of(loaded: LoadedResource) -> AlertRuleGroupResource:
    """The rule group a loaded resource holds."""
    resource = loaded.resource
    assert isinstance(resource, AlertRuleGroupResource)
    return resource
