"""The dashboards in `monop status`: each desired GrafanaDashboard with its panels' results.

The results are the running daemon's last panel check (kept in its state file), else a check
made now when prometheus_url is set (monop.prometheus.panels). A dashboard or panel that no
check has seen yet is `Unchecked`. The JSON is what the status page renders:
`[{name, title, uid, withData, checkedAt, panels: [{title, result, reason, error, file, line, queries}]}]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monop.daemon.statestore import DaemonRecord
    from monop.desired.state import DesiredState
    from monop.prometheus.panels import PanelReport
    from monop.settings import Settings

UNCHECKED = "Unchecked"


async def ask_panels(
    state: DesiredState, settings: Settings, daemon: DaemonRecord | None
) -> PanelReport | None:
    """The daemon's last report (`daemon`: its record while it runs), else a check now; None without one."""
    from monop.prometheus import panels

    if daemon is not None:
        return panels.from_json(daemon.dashboards) if daemon.dashboards else None
    if not settings.prometheus_url or not state.dashboards:
        return None
    from monop.prometheus import api as prom

    async with prom.connect(settings.prometheus_url) as api:
        assert api is not None
        report = await panels.check_state(state, api, settings.scrape_address, settings.instance)
    return report if report.reachable else None


def dashboards_json(state: DesiredState, report: PanelReport | None, url: str | None) -> list[dict[str, Any]]:
    """Each desired dashboard, its panels as `report` found them (Unchecked where it has none)."""
    checked = {b.uid: b for b in report.dashboards} if report is not None else {}
    why = (
        "not checked yet"
        if url
        else "not checked: set prometheus_url to have each panel's queries asked of Prometheus"
    )
    out = []
    for board in state.dashboards:
        found = checked.get(board.uid)
        titles = [p.title for p in board.panels if p.queries]
        if found is not None and [p.title for p in found.panels] == titles:
            body = found.to_json()
            body["checkedAt"] = report.checked_at if report is not None else None
            out.append(body)
            continue
        panels = [{"title": t, "result": UNCHECKED, "reason": why, "error": None} for t in titles]
        out.append(
            {
                "name": board.loaded.name,
                "uid": board.uid,
                "title": board.title,
                "withData": 0,
                "checkedAt": None,
                "panels": panels,
            }
        )
    return out


def dashboards_text(dashboards: Sequence[dict[str, Any]]) -> list[str]:
    """`dashboard TITLE (UID): N/M panels with data`, then a line per panel without: its result and why."""
    lines = []
    for board in dashboards:
        panels = board.get("panels") or []
        if panels and all(p.get("result") == UNCHECKED for p in panels):
            lines.append(
                f"dashboard {board['title']} ({board['uid']}): {len(panels)} panels, {panels[0]['reason']}"
            )
            continue
        data = sum(1 for p in panels if p.get("result") == "Data")
        lines.append(f"dashboard {board['title']} ({board['uid']}): {data}/{len(panels)} panels with data")
        for panel in panels:
            if panel.get("result") != "Data":
                lines.append(
                    f"  {panel.get('result')}: {panel.get('title') or '(untitled)'}: "
                    f"{panel.get('error') or panel.get('reason') or ''}"
                )
    return lines
