"""What monop tells Prometheus to scrape: file_sd target files, and the scrape_configs that read them.

One job per scrape job of the desired state, plus `monop` itself. Targets go in
`<sd_dir>/<job>.json` (Prometheus's file_sd format), rewritten atomically and only when their
content changes, so Prometheus follows the desired state without its config being edited.
A target whose path or scheme differs from its job's carries `__metrics_path__` / `__scheme__`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monop.desired.state import DesiredState
from monop.files import write_atomic
from monop.model.duration import format_duration
from monop.model.targets import Target, targets

SELF_JOB = "monop"
SELF_RESOURCE = "monop"
RESOURCE_LABEL = "monop_resource"


@dataclass(frozen=True)
class Job:
    name: str
    targets: tuple[Target, ...]

    @property
    def interval_s(self) -> float | None:
        """The shortest interval any of its targets asks for (one interval per job in Prometheus)."""
        asked = [t.interval_s for t in self.targets if t.interval_s]
        return min(asked) if asked else None

    @property
    def timeout_s(self) -> float | None:
        asked = [t.timeout_s for t in self.targets if t.timeout_s]
        return min(asked) if asked else None

    @property
    def path(self) -> str:
        return self.targets[0].path

    @property
    def scheme(self) -> str:
        return self.targets[0].scheme


def self_target(metrics_address: str, scrape_address: str) -> Target:
    """monop's own /metrics; a wildcard bind is reached through the scrape address."""
    host, _, port = metrics_address.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = scrape_address
    return Target(SELF_RESOURCE, SELF_JOB, host.strip("[]"), int(port), "/metrics")


def jobs(state: DesiredState, default_address: str, metrics_address: str | None) -> list[Job]:
    """Every scrape job, sorted by name, its targets sorted by address: stable files, stable diffs.

    monop's own job is there when `metrics_address` is: where its daemon serves /metrics.
    """
    by_job: dict[str, list[Target]] = {}
    for loaded in state.resources:
        for target in targets(loaded.resource, default_address):
            by_job.setdefault(target.job, []).append(target)
    if metrics_address is not None:
        by_job.setdefault(SELF_JOB, []).append(self_target(metrics_address, default_address))
    return [
        Job(name, tuple(sorted(found, key=lambda t: (t.address, t.port, t.path))))
        for name, found in sorted(by_job.items())
    ]


def sd_groups(job: Job) -> list[dict[str, Any]]:
    """The job's file_sd content: one group per target, labelled with the resource it belongs to."""
    groups = []
    for target in job.targets:
        labels = {RESOURCE_LABEL: target.resource, **dict(target.labels)}
        if target.path != job.path:
            labels["__metrics_path__"] = target.path
        if target.scheme != job.scheme:
            labels["__scheme__"] = target.scheme
        groups.append({"targets": [target.instance], "labels": labels})
    return groups


def config(all_jobs: Sequence[Job], sd_dir: Path, rules_dir: Path | None) -> dict[str, Any]:
    """What prometheus.yml needs: `rule_files` (when there are rule groups) and `scrape_configs`."""
    out = {"rule_files": [str(rules_dir / "*.yml")]} if rules_dir is not None else {}
    return {**out, **scrape_configs(all_jobs, sd_dir)}


def scrape_configs(all_jobs: Sequence[Job], sd_dir: Path) -> dict[str, Any]:
    """`scrape_configs:` for prometheus.yml, reading the files `write_sd_files` keeps."""
    configs = []
    for job in all_jobs:
        config: dict[str, Any] = {"job_name": job.name}
        if job.interval_s:
            config["scrape_interval"] = format_duration(job.interval_s)
        if job.timeout_s:
            config["scrape_timeout"] = format_duration(job.timeout_s)
        if job.path != "/metrics":
            config["metrics_path"] = job.path
        if job.scheme != "http":
            config["scheme"] = job.scheme
        config["file_sd_configs"] = [{"files": [str(sd_dir / f"{job.name}.json")]}]
        configs.append(config)
    return {"scrape_configs": configs}


def write_sd_files(all_jobs: Iterable[Job], sd_dir: Path) -> list[Path]:
    """Write each job's file where its content changed; remove files of jobs no longer desired.

    The directory is monop's: any other `*.json` in it is a job nothing desires any more.
    Returns the paths written or removed.
    """
    sd_dir.mkdir(parents=True, exist_ok=True)
    sd_dir.chmod(0o755)  # Prometheus, another user, reads it whatever monop's umask
    changed = []
    wanted = set()
    for job in all_jobs:
        path = sd_dir / f"{job.name}.json"
        wanted.add(path.name)
        body = json.dumps(sd_groups(job), indent=2, sort_keys=True) + "\n"
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == body:
                continue
        write_atomic(path, body, mode=0o644)  # Prometheus runs as another user
        changed.append(path)
    for stale in sd_dir.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
            changed.append(stale)
    return changed
