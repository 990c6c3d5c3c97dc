"""Turning statuses and plans into text for people and JSON for scripts. Returns strings; prints nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monop.daemon.statestore import DaemonRecord, ResourceRecord
from monop.reconcile.diff import Reason
from monop.reconcile.execute import Outcome
from monop.reconcile.plan import Plan, Status
from monop.reconcile.states import State

if TYPE_CHECKING:  # httpx comes with it: apply and status without Prometheus need not import it
    from monop.prometheus.api import TargetReport

_COLOURS = {
    State.IN_SYNC: "32",  # green
    State.MISSING: "33",
    State.STOPPED: "33",
    State.DRIFTED: "33",
    State.ORPHAN: "33",
    State.UNHEALTHY: "31",
    State.CRASH_LOOP: "31",
    State.CONFLICT: "31",
    State.FAILED: "31",
    State.STALLED: "31",
}
COLUMNS = ("KIND", "NAME", "STATE", "TARGET", "RESTARTS", "SINCE", "IMAGE", "REASON")
# Which target health a row shows when a resource has several: the one most in need of attention.
_TARGET_ORDER = ("Down", "Empty", "Missing", "Stale", "Unknown", "Up")


def age(moment: datetime | None, now: datetime) -> str:
    """kubectl's AGE: 45s, 12m, 3h, 5d."""
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def since(status: Status) -> datetime | None:
    container = status.container
    if container is None:
        return None
    if container.state == "running":
        return container.started_at or container.created_at
    return container.finished_at or container.created_at


def status_table(
    statuses: Sequence[Status],
    now: datetime | None = None,
    colour: bool = False,
    records: Mapping[str, ResourceRecord] | None = None,
    targets: TargetReport | None = None,
) -> str:
    """One row per resource, stable columns separated by at least two spaces.

    TARGET is what Prometheus says of the resource's targets (`-` when not verified, `?` when
    Prometheus cannot be reached); RESTARTS counts the daemon's restarts, as kubectl's does.
    """
    now = now or datetime.now(UTC)
    records = records or {}
    rows = [
        (
            s.key.split("/", 1)[0],
            s.name,
            s.state.value,
            target_cell(targets, s.key),
            str(records[s.key].restart_count) if s.key in records else "-",
            age(since(s), now),
            s.image or (s.container.image if s.container else "") or "-",
            "; ".join([*(str(r) for r in s.reasons), *target_problems(targets, s.key)]) or "-",
        )
        for s in statuses
    ]
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in [COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        if colour and row is not COLUMNS:
            code = _COLOURS[State(row[2])]
            cells[2] = f"\033[{code}m{cells[2]}\033[0m"
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def target_cell(report: TargetReport | None, key: str) -> str:
    if report is None:
        return "-"
    if not report.reachable:
        return "?"
    healths = {t.health.value for t in report.of(key)}
    return next((h for h in _TARGET_ORDER if h in healths), "-")


def target_problems(report: TargetReport | None, key: str) -> list[str]:
    if report is None or not report.reachable:
        return []
    return [str(t) for t in report.of(key) if t.health.value != "Up"]


def prometheus_line(report: TargetReport | None) -> str:
    if report is None:
        return "prometheus: targets not verified (set prometheus_url)"
    if not report.reachable:
        return f"prometheus: UNREACHABLE, targets not verified: {report.error}"
    counts: dict[str, int] = {}
    for target in report.targets:
        counts[target.health.value] = counts.get(target.health.value, 0) + 1
    summary = ", ".join(f"{n} {h}" for h in _TARGET_ORDER[::-1] if (n := counts.get(h)))
    # Targets without a row of their own: monop itself, and stale ones.
    loose = [str(t) for t in report.targets if t.health.value != "Up" and "/" not in t.resource]
    loose += [
        f"{t.job} {t.instance} Stale"
        for t in report.targets
        if t.health.value == "Stale" and "/" in t.resource
    ]
    return f"prometheus: {report.url}: {summary or 'no targets'}" + (f"; {'; '.join(loose)}" if loose else "")


def status_json(
    status: Status, record: ResourceRecord | None = None, targets: TargetReport | None = None
) -> dict[str, Any]:
    container = status.container
    return {
        "kind": status.key.split("/", 1)[0],
        "name": status.name,
        "state": status.state.value,
        "inSync": status.state.ok,
        "reasons": [r.to_json() for r in status.reasons],
        "image": status.image or None,
        "since": _iso(since(status)),
        "container": None
        if container is None
        else {
            "id": container.id,
            "state": container.state,
            "exitCode": container.exit_code,
            "health": container.health,
            "imageId": container.image_id or None,
        },
        "health": None if status.health is None else status.health.to_json(),
        "daemon": None if record is None else record_json(record),
        "targets": None
        if targets is None or not targets.reachable
        else [t.to_json() for t in targets.of(status.key)],
    }


def record_json(record: ResourceRecord) -> dict[str, Any]:
    """What the daemon remembers of a resource, camelCased like the rest of the JSON."""
    return {
        "lastReconcileAt": record.last_reconcile_at,
        "lastResult": record.last_result,
        "lastAction": record.last_action,
        "lastReason": record.last_reason,
        "lastError": record.last_error,
        "restartCount": record.restart_count,
        "backoffUntil": record.backoff_until,
    }


def plan_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "action": a.kind.value,
            "resource": a.key,
            "pull": a.pull,
            "reasons": [r.to_json() for r in a.reasons],
        }
        for a in plan.actions
    ]


def outcome_line(outcome: Outcome) -> str:
    action = outcome.action
    result = "ok" if outcome.ok else f"FAILED: {outcome.error}"
    return f"{action.kind} {action.key}: {result} ({outcome.seconds:.2f}s)"


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "action": outcome.action.kind.value,
        "resource": outcome.action.key,
        "ok": outcome.ok,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def with_daemon(
    statuses: Sequence[Status], records: Mapping[str, ResourceRecord], now: float
) -> list[Status]:
    """Live states, told what the daemon knows: crash loops, retries pending, the last error."""
    out = []
    for status in statuses:
        record = records.get(status.key)
        if record is None or status.state.ok:
            out.append(status)
            continue
        reasons = list(status.reasons)
        state = status.state
        if record.state == State.CRASH_LOOP.value and status.state is State.STOPPED:
            state = State.CRASH_LOOP
        if record.backoff_until and record.backoff_until > now:
            reasons.append(Reason(f"next try in {max(1, round(record.backoff_until - now))}s"))
        if record.last_error:
            reasons.append(Reason("last error", None, record.last_error))
        out.append(replace(status, state=state, reasons=tuple(reasons)))
    return out


def stale_since(daemon: DaemonRecord, now: float) -> float | None:
    """When a running daemon last wrote its record, if that is longer ago than it writes one
    (twice its resync interval, and 10 s): its writes are failing (a full disk). None otherwise."""
    interval = daemon.resync_interval
    if interval is None or now - daemon.updated_at <= 2 * interval + 10:
        return None
    return daemon.updated_at


def _when(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def daemon_line(daemon: DaemonRecord | None, alive: bool, now: float) -> str:
    if daemon is None:
        return "daemon: no state recorded (is `monop run` running with this --state-dir?)"
    if not alive:
        return f"daemon: not running (last seen {age_s(now - daemon.updated_at)} ago, pid {daemon.pid})"
    parts = [f"daemon: running (pid {daemon.pid})", "ready" if daemon.ready else "NOT READY"]
    if not daemon.podman_reachable:
        parts.append("Podman unreachable")
    if daemon.last_full_reconcile_at:
        parts.append(f"last full reconcile {age_s(now - daemon.last_full_reconcile_at)} ago")
    if daemon.desired_error:
        parts.append(f"desired state REJECTED, last valid one in force: {daemon.desired_error}")
    for part, down in sorted(daemon.down.items()):
        parts.append(f"{part} DOWN since {_when(down.get('since'))}: {down.get('reason')}")
    stale = stale_since(daemon, now)
    if stale is not None:
        parts.append(
            f"its record is STALE: last written {age_s(now - stale)} ago ({_when(stale)}); see its log and /readyz"
        )
    line = ", ".join(parts)
    git = daemon.git
    if git:
        applied, newest = git.get("applied") or {}, git.get("newest") or {}
        words = [f"git: {git.get('url')} {git.get('branch')}"]
        words.append(
            f"applied {_short(applied.get('revision'))}" + (f" ({applied.get('subject')})" if applied else "")
        )
        if newest and newest.get("revision") != applied.get("revision"):
            words.append(f"newest {_short(newest.get('revision'))} differs")
        if git.get("held"):
            words.append(f"HELD at {_short(git['held'])} (monop resume to follow {git.get('branch')})")
        rejected = git.get("rejected")
        if rejected:
            words.append(f"REJECTED {_short(rejected.get('revision'))} by {rejected.get('author')}")
        line += "\n" + ", ".join(words)
    return line


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def age_s(seconds: float) -> str:
    return age(datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(max(0.0, seconds), UTC))
