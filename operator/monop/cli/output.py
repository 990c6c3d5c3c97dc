"""Turning statuses and plans into text for people and JSON for scripts. Returns strings; prints nothing.

Every table goes through `table()` (rich, no box: columns two spaces apart, as kubectl's), coloured
only when asked (`use_colour`: a terminal without NO_COLOR, or --colour). Every time in a JSON
document is RFC 3339 in UTC (`rfc3339`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monop import times
from monop.api.labels import REVISION, SPEC_HASH
from monop.daemon.statestore import DaemonRecord, ResourceRecord
from monop.reconcile.diff import Reason
from monop.reconcile.execute import Outcome
from monop.reconcile.plan import Plan, Status
from monop.reconcile.states import State

if TYPE_CHECKING:  # httpx comes with it: apply and status without Prometheus need not import it
    from monop.api.targets import Target
    from monop.prometheus.api import TargetReport

# Styles by cell text, in whichever column they appear (STATE, TARGET, SYNC, HEALTH, events' TYPE).
STYLES = {
    State.IN_SYNC.value: "green",
    State.MISSING.value: "yellow",
    State.STOPPED.value: "yellow",
    State.DRIFTED.value: "yellow",
    State.ORPHAN.value: "yellow",
    State.UNHEALTHY.value: "red",
    State.CRASH_LOOP.value: "red",
    State.CONFLICT.value: "red",
    State.FAILED.value: "red",
    "Stalled": "red",  # State.STALLED, once the planner has it
    "Up": "green",
    "Down": "red",
    "Empty": "red",
    "Missing": "yellow",
    "Stale": "yellow",
    "Synced": "green",
    "OutOfSync": "yellow",
    "Healthy": "green",
    "Progressing": "yellow",
    "Degraded": "red",
    "Suspended": "magenta",
    "Warning": "yellow",
}
COLUMNS = ("KIND", "NAME", "STATE", "TARGET", "RESTARTS", "SINCE", "IMAGE", "REASON")
WIDE_COLUMNS = (*COLUMNS[:-1], "CONTAINER", "SYNC", "HEALTH", "REVISION", "REASON")


def use_colour(flag: bool | None = None) -> bool:
    """--colour/--no-colour if given; else colour on a terminal, unless NO_COLOR is set (no-color.org)."""
    if flag is not None:
        return flag
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, colour: bool = False, headers: bool = True
) -> str:
    """Columns two spaces apart, never wrapped; the cells in STYLES coloured when `colour`."""
    if not colour:
        return _plain_table(header, rows, headers=headers)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, show_header=headers, pad_edge=False, padding=(0, 1), header_style="bold")
    for name in header:
        grid.add_column(name, no_wrap=True, overflow="ignore")
    for row in rows:
        grid.add_row(*(Text(cell, style=STYLES.get(cell, "") if colour else "") for cell in row))
    width = sum(max([len(h), *(len(r[i]) for r in rows)]) + 2 for i, h in enumerate(header))
    out = io.StringIO()
    console = Console(
        file=out,
        width=width + 10,
        color_system="standard" if colour else None,
        force_terminal=colour,
        no_color=not colour,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, headers: bool) -> str:
    """`table` without colour, as rich lays it out, made directly: rich took 0.9 s for 1,000 rows."""
    from rich.cells import cell_len

    lines = [header, *rows] if headers else list(rows)
    if not lines:
        return ""
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell + " " * (width - cell_len(cell)) for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def rfc3339(moment: float | datetime | None) -> str | None:
    """An epoch (seconds) or an aware datetime as RFC 3339 in UTC (`2026-11-30T22:31:02Z`); None stays None."""
    return times.rfc3339(moment.timestamp() if isinstance(moment, datetime) else moment)


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
    *,
    wide: bool = False,
    headers: bool = True,
    suspended: Mapping[str, Any] | None = None,
) -> str:
    """One row per resource, stable columns separated by at least two spaces.

    TARGET is what Prometheus says of the resource's targets (`-` when not verified, `?` when
    Prometheus cannot be reached); RESTARTS counts the daemon's restarts, as kubectl's does.
    `wide` adds the container's ID, the sync and health axes and the revision it came from.
    """
    now = now or datetime.now(UTC)
    records = records or {}
    suspended = suspended or {}
    rows = []
    for s in statuses:
        record = records.get(s.key)
        reasons = [*(str(r) for r in s.reasons), *target_problems(targets, s.key)]
        if s.key in suspended:
            reasons.insert(0, suspended_reason(suspended[s.key], now.timestamp()))
        row = [
            s.key.split("/", 1)[0],
            s.name,
            s.state.value,
            target_cell(targets, s.key),
            str(record.restart_count) if record is not None else "-",
            age(since(s), now),
            s.image or (s.container.image if s.container else "") or "-",
        ]
        if wide:
            row += [
                s.container.id[:12] if s.container else "-",
                str(_field(record, "sync") or axes(s, s.key in suspended)[0]),
                str(_field(record, "health_status") or axes(s, s.key in suspended)[1]),
                _short(s.container.labels.get(REVISION) if s.container else None),
            ]
        rows.append([*row, "; ".join(reasons) or "-"])
    return table(WIDE_COLUMNS if wide else COLUMNS, rows, colour=colour, headers=headers)


def suspended_reason(suspension: Any, now: float) -> str:
    who = f" by {suspension.by}" if getattr(suspension, "by", "") else ""
    return f"SUSPENDED{who} {age_s(now - suspension.since)} ago: not repaired until `monop resume {suspension.key}`"


def _field(record: ResourceRecord | None, name: str) -> Any:
    """A field of the daemon's record that older state files lack (conditions, sync, ...)."""
    return getattr(record, name, None) if record is not None else None


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
    status: Status,
    record: ResourceRecord | None = None,
    targets: TargetReport | None = None,
    suspended: Any = None,
) -> dict[str, Any]:
    container = status.container
    labels = container.labels if container else {}
    return {
        "kind": status.key.split("/", 1)[0],
        "name": status.name,
        "state": status.state.value,
        "inSync": status.state.ok,
        "sync": _field(record, "sync") or axes(status, suspended is not None)[0],
        "healthStatus": _field(record, "health_status") or axes(status, suspended is not None)[1],
        "conditions": [
            c.to_json() if hasattr(c, "to_json") else c for c in _field(record, "conditions") or []
        ],
        "lastAppliedRevision": _field(record, "last_applied_revision"),
        "lastAttemptedRevision": _field(record, "last_attempted_revision"),
        "suspended": suspended is not None,
        "suspendedSince": rfc3339(suspended.since) if suspended is not None else None,
        "reasons": [r.to_json() for r in status.reasons],
        "image": status.image or None,
        "since": rfc3339(since(status)),
        "specHash": labels.get(SPEC_HASH),
        "revision": labels.get(REVISION),
        "container": None
        if container is None
        else {
            "id": container.id,
            "name": container.name,
            "state": container.state,
            "exitCode": container.exit_code,
            "health": container.health,
            "image": container.image or None,
            "imageId": container.image_id or None,
            "created": rfc3339(container.created_at),
            "started": rfc3339(container.started_at),
            "finished": rfc3339(container.finished_at),
        },
        "health": None if status.health is None else _health_json(status.health.to_json()),
        "daemon": None if record is None else record_json(record),
        "targets": None
        if targets is None or not targets.reachable
        else [t.to_json() for t in targets.of(status.key)],
    }


def axes(status: Status, suspended: bool) -> tuple[str, str]:
    """Sync and health as the state alone says them, for a resource the daemon has no record of."""
    from monop.reconcile.status import Observation, health_of, sync_of

    seen = Observation(
        status.state,
        running=status.container is not None and status.container.state == "running",
        suspended=suspended,
    )
    return sync_of(seen).value, health_of(seen).value


def scrape_json(target: Target) -> dict[str, Any]:
    """Where Prometheus is to scrape a resource (from its `scrape`), as describe shows it."""
    from monop.api.duration import format_duration

    return {
        "job": target.job,
        "url": f"{target.scheme}://{target.instance}{target.path}",
        "interval": format_duration(target.interval_s) if target.interval_s else None,
    }


def _health_json(health: dict[str, Any]) -> dict[str, Any]:
    times = ("startedAt", "checkedAt", "started_at", "checked_at")
    return {k: rfc3339(v) if k in times and isinstance(v, int | float) else v for k, v in health.items()}


def record_json(record: ResourceRecord) -> dict[str, Any]:
    """What the daemon remembers of a resource, camelCased like the rest of the JSON."""
    return {
        "lastReconcileAt": rfc3339(record.last_reconcile_at),
        "lastResult": record.last_result,
        "lastAction": record.last_action,
        "lastReason": record.last_reason,
        "lastError": record.last_error,
        "restartCount": record.restart_count,
        "backoffUntil": rfc3339(record.backoff_until),
    }


def daemon_json(daemon: DaemonRecord, running: bool, now: float) -> dict[str, Any]:
    """The daemon's record, its times in RFC 3339 (it stores epoch seconds)."""
    from dataclasses import asdict

    body = asdict(daemon)
    for key in ("started_at", "updated_at", "last_full_reconcile_at", "rules_checked_at"):
        body[key] = rfc3339(body.get(key))
    for loop in body.get("crash_loops", {}).values():
        if isinstance(loop, dict):
            loop["last"] = rfc3339(loop.get("last"))
            loop["restarts"] = [rfc3339(t) for t in loop.get("restarts", [])]
    for down in body.get("down", {}).values():
        down["since"] = rfc3339(down.get("since"))
    for commit in (body.get("git") or {}).values():
        if isinstance(commit, dict) and isinstance(commit.get("time"), int | float):
            commit["time"] = rfc3339(commit["time"])
    stale = stale_since(daemon, now) if running else None
    return {**body, "running": running, "staleSince": rfc3339(stale)}


def plan_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "action": a.kind.value,
            "resource": a.key,
            "pull": a.pull,
            "reasons": [r.to_json() for r in a.reasons],
            # Held back (CrashLoopBackOff, Suspended, Stalled): `until` in RFC 3339, None when a person acts.
            "deferred": None
            if a.deferred is None
            else {
                "reason": a.deferred.reason.value,
                "until": rfc3339(a.deferred.until),
                "detail": a.deferred.detail or None,
            },
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
            words.append(
                f"HELD at {_short(git['held'])} (`monop rollback --release` to follow {git.get('branch')})"
            )
        rejected = git.get("rejected")
        if rejected:
            words.append(f"REJECTED {_short(rejected.get('revision'))} by {rejected.get('author')}")
        line += "\n" + ", ".join(words)
    return line


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def age_s(seconds: float) -> str:
    return age(datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(max(0.0, seconds), UTC))


EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")


def events_table(
    events: Sequence[Mapping[str, Any]], *, colour: bool = False, headers: bool = True, now: float
) -> str:
    """kubectl's `get events` columns: age, Normal/Warning, reason, KIND/NAME, message."""
    rows = [
        (
            _ago(e.get("time"), now),
            str(e.get("type") or "-"),
            str(e.get("reason") or "-"),
            str(e.get("resource") or "-"),
            str(e.get("message") or ""),
        )
        for e in events
    ]
    return table(EVENT_COLUMNS, rows, colour=colour, headers=headers)


def _ago(when: object, now: float) -> str:
    moment = times.parse_rfc3339(when)
    return "-" if moment is None else age_s(now - moment)


def describe(body: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: float | None = None) -> str:
    """`monop describe KIND/NAME`, from `status_json`'s document: kubectl describe's shape."""
    now = time_now() if now is None else now
    dash = "-"
    container = body.get("container") or {}
    daemon = body.get("daemon") or {}
    lines = [
        f"Name:          {body['name']}",
        f"Kind:          {body['kind']}",
        f"State:         {body['state']}",
        f"Sync:          {body.get('sync') or dash}",
        f"Health:        {body.get('healthStatus') or dash}",
        f"Suspended:     {'yes, since ' + body['suspendedSince'] if body.get('suspended') else 'no'}",
        f"Spec hash:     {body.get('specHash') or dash}",
        f"Revision:      {body.get('revision') or dash}",
    ]
    if body.get("lastAppliedRevision") or body.get("lastAttemptedRevision"):
        lines.append(f"Last applied:  {body.get('lastAppliedRevision') or dash}")
        lines.append(f"Last attempted: {body.get('lastAttemptedRevision') or dash}")
    lines.append("Reasons:" + ("" if body.get("reasons") else f"       {dash}"))
    lines += [f"  {Reason(**r)}" for r in body.get("reasons") or []]
    lines.append("Container:" + ("" if container else f"     {dash}"))
    if container:
        lines += [
            f"  ID:          {container.get('id')}",
            f"  Name:        {container.get('name')}",
            f"  Image:       {container.get('image') or body.get('image') or dash}",
            f"  Image ID:    {container.get('imageId') or dash}",
            f"  State:       {container.get('state')}"
            + (f" (exit code {container['exitCode']})" if container.get("state") != "running" else ""),
            f"  Health:      {container.get('health') or dash}",
            f"  Started:     {container.get('started') or dash}",
        ]
    scrape = body.get("scrape") or []
    lines.append("Scrape:" + ("" if scrape else "         -"))
    for s in scrape:
        every = f" every {s['interval']}" if s.get("interval") else ""
        lines.append(f"  job {s['job']}: {s['url']}{every}")
    targets = body.get("targets")
    unverified = "not verified (set prometheus_url)" if targets is None else "none"
    lines.append("Targets:" + ("" if targets else "       " + unverified))
    for t in targets or []:
        problem = f": {t['error']}" if t.get("error") else ""
        lines.append(f"  {t['job']} {t['instance']}: {t['health']}{problem}")
    conditions = body.get("conditions") or []
    lines.append("Conditions:" + ("" if conditions else f"    {dash}"))
    if conditions:
        rows = [
            (
                str(c.get("type")),
                str(c.get("status")),
                str(c.get("reason")),
                str(c.get("lastTransitionTime") or dash),
                str(c.get("message") or ""),
            )
            for c in conditions
        ]
        text = table(("TYPE", "STATUS", "REASON", "LAST TRANSITION", "MESSAGE"), rows)
        lines += ["  " + line for line in text.splitlines()]
    lines.append(
        "Daemon:" + ("" if daemon else "        no record (is `monop run` running with this state_dir?)")
    )
    if daemon:
        lines += [
            f"  Last reconcile: {daemon.get('lastReconcileAt') or dash} ({daemon.get('lastResult') or dash})",
            f"  Last action:    {daemon.get('lastAction') or dash}: {daemon.get('lastReason') or dash}",
            f"  Last error:     {daemon.get('lastError') or dash}",
            f"  Restarts:       {daemon.get('restartCount')}",
            f"  Backoff until:  {daemon.get('backoffUntil') or dash}",
        ]
    lines.append("Events:" + ("" if events else "        none"))
    if events:
        text = events_table(events, now=now)
        lines += ["  " + line for line in text.splitlines()]
    return "\n".join(lines)


def time_now() -> float:
    import time

    return time.time()
