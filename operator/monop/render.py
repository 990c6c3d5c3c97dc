"""Turning statuses and plans into text for people and JSON for scripts. Returns strings; prints nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monop.apply import Outcome
from monop.plan import Plan, Status
from monop.states import State

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
}
COLUMNS = ("KIND", "NAME", "STATE", "SINCE", "IMAGE", "REASON")


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


def status_table(statuses: Sequence[Status], now: datetime | None = None, colour: bool = False) -> str:
    """One row per resource, stable columns separated by at least two spaces."""
    now = now or datetime.now(UTC)
    rows = [
        (
            s.key.split("/", 1)[0],
            s.name,
            s.state.value,
            age(since(s), now),
            s.image or (s.container.image if s.container else "") or "-",
            "; ".join(str(r) for r in s.reasons) or "-",
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


def status_json(status: Status) -> dict[str, Any]:
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
