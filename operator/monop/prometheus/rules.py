"""AlertRuleGroups become Prometheus rule files: checked before they replace anything, then loaded.

Each group is `<rules_dir>/<name>.yml`. A changed file is first written beside the real one
under a name Prometheus's `*.yml` never matches, checked with `promtool check rules` where
promtool is installed (and its `tests` run by `promtool test rules`), and only then renamed into place. Prometheus is asked to reload; if it
refuses, the previous files are put back and it reloads those. A bad expression therefore
never replaces a good file, and a group Prometheus did not load is drift.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from monop.desired import promql
from monop.desired.promql import group_of as group_of  # re-exported: the daemon reads it here
from monop.desired.ruletests import run_tests
from monop.desired.state import LoadedResource
from monop.errors import PrometheusUnreachable, Severity
from monop.files import write_atomic
from monop.prometheus.api import PrometheusAPI

SUFFIX = ".yml"


class RuleState(StrEnum):
    LOADED = "Loaded"  # the file is current and Prometheus has the group
    WRITTEN = "Written"  # the file is current; Prometheus not asked (unreachable or not configured)
    NOT_LOADED = "NotLoaded"  # the file is current but Prometheus does not have the group
    NOT_WRITTEN = "NotWritten"  # the file is missing or older than the desired state
    REJECTED = "Rejected"  # promtool or Prometheus refused it; the previous file stays


@dataclass(frozen=True)
class RuleStatus:
    name: str
    state: RuleState
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in (RuleState.LOADED, RuleState.WRITTEN)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "error": self.error}

    def __str__(self) -> str:
        return f"{self.name} {self.state}" + (f": {self.error}" if self.error else "")


@dataclass(frozen=True)
class SyncResult:
    written: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rejected: dict[str, str] = field(default_factory=dict)  # group -> why
    reload_error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def render(loaded: LoadedResource) -> str:
    """The rule file's text. YAML quoting keeps any PromQL quotes (`mode='idle'`, `mode="idle"`) intact."""
    body = promql.render(group_of(loaded))
    return f"# Written by monop from {loaded.file}; edit that file, not this one.\n{body}"


def check(path: Path) -> str | None:
    """promtool's complaint about a rule file, None when it passes (or promtool is not installed)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    # One complaint a line, so promql.locate can put each at its desired file and line.
    return "\n".join(line for line in lines if not line.startswith("Checking ")) or "promtool check failed"


async def sync(groups: Sequence[LoadedResource], rules_dir: Path, api: PrometheusAPI | None) -> SyncResult:
    """Make the rule files equal to the desired groups; reload Prometheus if anything changed."""
    if not groups and not rules_dir.exists():
        return SyncResult()
    rules_dir.mkdir(parents=True, exist_ok=True)
    rules_dir.chmod(0o755)  # Prometheus runs as another user
    previous = {p.name: p.read_text(encoding="utf-8") for p in rules_dir.glob(f"*{SUFFIX}")}
    wanted = {f"{group_of(g).name}{SUFFIX}": (render(g), g) for g in groups}
    written, rejected = [], {}
    for name, (body, group) in wanted.items():
        if previous.get(name) == body:
            continue
        candidate = rules_dir / f".{name}.check"  # never matched by the *.yml Prometheus reads
        write_atomic(candidate, body, mode=0o644)
        problem = await asyncio.to_thread(check, candidate)
        if problem is not None:
            # Said at the desired file and line, not the candidate's name nobody wrote.
            problem = "; ".join(str(p) for p in promql.locate(problem, {str(candidate): group}))
        else:
            # The group's own unit tests (spec.tests), as validate runs them: a failing one refuses it.
            failed = await asyncio.to_thread(run_tests, [group])
            problem = "; ".join(str(p) for p in failed if p.severity is Severity.ERROR) or None
        if problem is not None:
            candidate.unlink()
            rejected[name.removesuffix(SUFFIX)] = problem
            continue
        os.replace(candidate, rules_dir / name)
        written.append(name)
    removed = [name for name in previous if name not in wanted]
    for name in removed:
        (rules_dir / name).unlink()
    reload_error = None
    if (written or removed) and api is not None:
        reload_error, refused = await _reload(api)
        if refused and reload_error is not None:
            # Prometheus refused the new files: put the previous ones back and load those again.
            for name in written:
                rejected[name.removesuffix(SUFFIX)] = reload_error
                if name in previous:
                    write_atomic(rules_dir / name, previous[name], mode=0o644)
                else:
                    (rules_dir / name).unlink()
            for name in removed:
                write_atomic(rules_dir / name, previous[name], mode=0o644)
            await _reload(api)
            written, removed = [], []
    return SyncResult(
        tuple(n.removesuffix(SUFFIX) for n in written),
        tuple(n.removesuffix(SUFFIX) for n in removed),
        rejected,
        reload_error,
    )


async def _reload(api: PrometheusAPI) -> tuple[str | None, bool]:
    """Why the reload failed (None if it did not), and whether Prometheus refused the files.

    Unreachable, or reloads not enabled: the files stay, and load at Prometheus's next reload.
    """
    try:
        refusal = await api.reload()
    except PrometheusUnreachable as err:
        return f"cannot reload Prometheus: {err}", False
    return refusal, refusal is not None


async def statuses(
    groups: Sequence[LoadedResource],
    rules_dir: Path,
    api: PrometheusAPI | None,
    rejected: dict[str, str] | None = None,
) -> list[RuleStatus]:
    """Each desired group's state: its file, and whether Prometheus loaded it."""
    loaded: set[str] | None = None
    if api is not None:
        try:
            loaded = await api.rule_groups()
        except PrometheusUnreachable:
            loaded = None
    out = []
    for g in groups:
        name = group_of(g).name
        path = rules_dir / f"{name}{SUFFIX}"
        current = path.exists() and path.read_text(encoding="utf-8") == render(g)
        if rejected and name in rejected and not current:
            out.append(RuleStatus(name, RuleState.REJECTED, rejected[name]))
        elif not current:
            out.append(RuleStatus(name, RuleState.NOT_WRITTEN, f"{path} is not the desired group"))
        elif loaded is None:
            out.append(RuleStatus(name, RuleState.WRITTEN))
        elif name in loaded:
            out.append(RuleStatus(name, RuleState.LOADED))
        else:
            out.append(
                RuleStatus(
                    name,
                    RuleState.NOT_LOADED,
                    f"Prometheus has no group {name}: does its rule_files read {rules_dir}?",
                )
            )
    return out
