"""What monop tells Prometheus to scrape: file_sd target files, and the one scrape_config that reads them.

Targets go in `<sd_dir>/<job>.json` (Prometheus's file_sd format), rewritten atomically and
only when their content changes. Each target carries its own job, interval, timeout, path and
scheme as target labels, which Prometheus (2.x) takes over the scrape_config's values, so one
scrape_config reading `<sd_dir>/*.json` follows every later change of the desired state: a new
job, another interval or path, with no edit of prometheus.yml and no restart.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monop.api.duration import format_duration
from monop.api.labels import DEFAULT_INSTANCE
from monop.api.targets import Target, targets
from monop.desired.state import DesiredState
from monop.files import write_atomic

SELF_JOB = "monop"
SELF_RESOURCE = "monop"
RESOURCE_LABEL = "monop_resource"
SCRAPE_CONFIG = "monop-targets"  # the one scrape pool: every target in monop's files
# On the targets of a monop instance other than `default`, so two instances can share one
# Prometheus (each its own scrape pool) and each knows its own targets.
INSTANCE_LABEL = "monop_instance"
# On the targets of a fleet's host (monop.desired.fleet), so one central Prometheus tells them apart.
HOST_LABEL = "host"
# Prometheus's default scrape_timeout: a target that asks only for an interval gets at most
# this, as a job with only `scrape_interval` would (a timeout past the interval drops the target).
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Job:
    name: str
    targets: tuple[Target, ...]
    instance: str = DEFAULT_INSTANCE  # the monop instance that keeps it
    host: str | None = None  # the fleet host that runs it, in a fleet's tree


def self_target(metrics_address: str, scrape_address: str) -> Target:
    """monop's own /metrics; a wildcard bind is reached through the scrape address."""
    host, _, port = metrics_address.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = scrape_address
    return Target(SELF_RESOURCE, SELF_JOB, host.strip("[]"), int(port), "/metrics")


def jobs(
    state: DesiredState,
    default_address: str,
    metrics_address: str | None,
    without: Collection[str] = (),
    instance: str = DEFAULT_INSTANCE,
) -> list[Job]:
    """Every scrape job, sorted by name, its targets sorted by address: stable files, stable diffs.

    monop's own job is there when `metrics_address` is: where its daemon serves /metrics.
    Resources whose key is in `without` (a container monop does not own holds their name) are left out.
    In a fleet's tree (hosts/ folders or placements), every target is labelled `host` with the
    host whose selection it is.
    """
    host = state.host if state.fleet else None
    by_job: dict[str, list[Target]] = {}
    for loaded in state.resources:
        if loaded.key in without:
            continue
        for target in targets(loaded.resource, default_address):
            by_job.setdefault(target.job, []).append(target)
    if metrics_address is not None:
        by_job.setdefault(SELF_JOB, []).append(self_target(metrics_address, default_address))
    return [
        Job(name, tuple(sorted(found, key=lambda t: (t.address, t.port, t.path))), instance, host)
        for name, found in sorted(by_job.items())
    ]


def target_labels(
    target: Target, instance: str = DEFAULT_INSTANCE, host: str | None = None
) -> dict[str, str]:
    """The target's file_sd labels: its own, then how Prometheus scrapes it (these win over the config's)."""
    labels = dict(target.labels)
    if host is not None:
        labels[HOST_LABEL] = host
    labels["job"] = target.job
    labels[RESOURCE_LABEL] = target.resource
    if instance != DEFAULT_INSTANCE:
        labels[INSTANCE_LABEL] = instance
    labels["__metrics_path__"] = target.path
    labels["__scheme__"] = target.scheme
    if target.interval_s:
        labels["__scrape_interval__"] = format_duration(target.interval_s)
    timeout = target.timeout_s or (min(target.interval_s, DEFAULT_TIMEOUT_S) if target.interval_s else None)
    if timeout:
        labels["__scrape_timeout__"] = format_duration(timeout)
    return labels


def sd_groups(job: Job) -> list[dict[str, Any]]:
    """The job's file_sd content: one group per target, with everything its scrape needs."""
    return [
        {"targets": [t.instance], "labels": target_labels(t, job.instance, job.host)} for t in job.targets
    ]


def config(sd_dir: Path, rules_dir: Path, instance: str = DEFAULT_INSTANCE) -> dict[str, Any]:
    """What prometheus.yml needs, whatever the desired state holds: `rule_files` and `scrape_configs`.

    Both read directories monop keeps, so a job or rule group added later needs no edit.
    """
    return {"rule_files": [str(rules_dir / "*.yml")], **scrape_configs(sd_dir, instance)}


def scrape_config_name(instance: str = DEFAULT_INSTANCE) -> str:
    """`monop-targets`, or `monop-targets-<instance>`: Prometheus refuses two pools of one name."""
    return SCRAPE_CONFIG if instance == DEFAULT_INSTANCE else f"{SCRAPE_CONFIG}-{instance}"


def scrape_configs(sd_dir: Path, instance: str = DEFAULT_INSTANCE) -> dict[str, Any]:
    """`scrape_configs:` for prometheus.yml: one, reading every file `write_sd_files` keeps.

    It depends on `sd_dir` and the instance alone, so it is merged into prometheus.yml once.
    """
    return {
        "scrape_configs": [
            {
                "job_name": scrape_config_name(instance),
                "file_sd_configs": [{"files": [str(sd_dir / "*.json")]}],
            }
        ]
    }


def write_sd_files(all_jobs: Iterable[Job], sd_dir: Path, keep: Collection[str] = ()) -> list[Path]:
    """Write each job's file where its content changed; remove files of jobs no longer desired.

    The targets of resources in `keep` (orphans monop leaves running) stay as the files have
    them. The directory is monop's: any other `*.json` in it is a job nothing desires any more.
    Returns the paths written or removed.
    """
    sd_dir.mkdir(parents=True, exist_ok=True)
    sd_dir.chmod(0o755)  # Prometheus, another user, reads it whatever monop's umask
    current = {path.name: _read_groups(path) for path in sd_dir.glob("*.json")}
    bodies: dict[str, list[dict[str, Any]]] = {f"{job.name}.json": sd_groups(job) for job in all_jobs}
    desired = {t.resource for job in all_jobs for t in job.targets}
    for name, groups in sorted(current.items()):
        for group in groups:
            resource = group.get("labels", {}).get(RESOURCE_LABEL)
            if resource in keep and resource not in desired:
                job = group["labels"].setdefault("job", name.removesuffix(".json"))
                bodies.setdefault(f"{job}.json", []).append(group)
    changed = []
    for name, groups in sorted(bodies.items()):
        path = sd_dir / name
        body = json.dumps(groups, indent=2, sort_keys=True) + "\n"
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == body:
                continue
        write_atomic(path, body, mode=0o644)  # Prometheus runs as another user
        changed.append(path)
    for stale in sorted(set(current) - set(bodies)):
        (sd_dir / stale).unlink()
        changed.append(sd_dir / stale)
    return changed


def _read_groups(path: Path) -> list[dict[str, Any]]:
    """A file's target groups; none when it cannot be read or is not file_sd's shape."""
    try:
        groups = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(groups, list):
        return []
    return [g for g in groups if isinstance(g, dict) and isinstance(g.get("labels"), dict)]
