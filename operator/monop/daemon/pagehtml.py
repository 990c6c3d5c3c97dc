"""The status page's HTML, rendered from `monop status -o json`'s document: pure, every text escaped.

Resource names, messages, errors and URLs are user text: each goes through `_e` (html.escape,
quotes too) before it meets markup, and into a `<bdi>` where it stands as text (`_u`), so a
right-to-left override in a name cannot reorder the text around it. Each resource row carries
`data-resource`, `data-state`, `data-sync` and `data-health`, for scripts and the browser
tests. The template (`page.html`, beside this file) holds the style and the polling script;
the Content-Security-Policy allows those two by their hashes, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from monop.reconcile.diff import Reason

if TYPE_CHECKING:
    from monop.daemon.page import Activity

POLL_S = 2  # seconds between two looks at the JSON
EVENTS_SHOWN = 20

_GOOD = {"InSync", "Synced", "Healthy", "Up", "Loaded", "Written", "True", "Data", "Normal", "Ready"}
_WARN = {"Progressing", "Suspended", "Unknown", "Drifted", "OutOfSync", "Stale", "Missing", "NoData"}


def render(
    document: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    activity: Activity,
    *,
    now: float,
    error: str | None,
    api: str,
    digest: str = "",
) -> str:
    """The whole page; `error`: why the document could not be made (shown instead of it);
    `digest`: the JSON's (its ETag), which the script compares to know the page is behind."""
    if error is not None:
        main = f'<main data-digest=""><p class="error" id="error">cannot tell the status now: {_u(error)}</p></main>'
    else:
        main = (
            f'<main data-digest="{_e(digest)}">'
            + "".join(_sections(document, events, activity, now))
            + "</main>"
        )
    return _page(api).replace("{{MAIN}}", main)


def content_security_policy(api: str) -> str:
    """The page's Content-Security-Policy: its own script and style, by their SHA-256, and nothing else."""
    return _policy(api)


@cache
def _page(api: str) -> str:
    template = files("monop.daemon").joinpath("page.html").read_text(encoding="utf-8")
    return template.replace("{{API}}", _e(api)).replace("{{POLL_S}}", str(POLL_S))


@cache
def _policy(api: str) -> str:
    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", _page(api), re.DOTALL)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in found
        )

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _u(value: object) -> str:
    """User text in running text: escaped, and isolated from its neighbours' direction."""
    return f"<bdi>{_e(value)}</bdi>"


def _badge(value: object) -> str:
    text = "" if value is None else str(value)
    tone = "good" if text in _GOOD else "warn" if text in _WARN else "bad" if text else "muted"
    return f'<span class="badge {tone}">{_e(text or "-")}</span>'


def _table(headers: Iterable[str], rows: Iterable[str], empty: str, ident: str) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="muted" id="{ident}">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sections(
    doc: Mapping[str, Any], events: Sequence[Mapping[str, Any]], activity: Activity, now: float
) -> Iterable[str]:
    yield _summary(doc, now)
    yield "<h2>Resources</h2>"
    last_event = {e.get("resource"): e for e in events}
    yield _table(
        ("resource", "state", "sync", "health", "restarts", "target", "conditions", "last event"),
        (
            _resource_row(r, last_event.get(f"{r.get('kind')}/{r.get('name')}"))
            for r in doc.get("resources", [])
        ),
        "no resources",
        "resources",
    )
    yield _prometheus(doc.get("prometheus"))
    yield "<h2>Rule groups</h2>"
    yield _table(
        ("group", "state", "error"),
        (
            f"<tr><td>{_u(g.get('name'))}</td><td>{_badge(g.get('state'))}</td>"
            f"<td>{_u(g.get('error') or '')}</td></tr>"
            for g in doc.get("ruleGroups", [])
        ),
        "no rule groups",
        "rule-groups",
    )
    yield "<h2>Receivers</h2>"
    yield from _receivers(doc.get("receivers") or [])
    yield "<h2>Dashboards</h2>"
    yield _dashboards(doc.get("dashboards") or [])
    yield "<h2>Activity</h2>"
    yield f'<div class="charts">{_latency_chart(activity)}{_rate_chart(activity)}</div>'
    yield "<h2>Last events</h2>"
    yield _table(
        ("time", "type", "reason", "resource", "message"),
        (
            f"<tr><td class=small>{_e(e.get('time'))}</td><td>{_badge(e.get('type'))}</td>"
            f"<td>{_u(e.get('reason'))}</td><td>{_u(e.get('resource') or 'daemon')}</td>"
            f"<td>{_u(e.get('message'))}</td></tr>"
            for e in list(events)[-EVENTS_SHOWN:][::-1]
        ),
        "no events recorded",
        "events",
    )


def _summary(doc: Mapping[str, Any], now: float) -> str:
    daemon = doc.get("daemon") or {}
    overall = _badge("InSync" if doc.get("inSync") else "OutOfSync")
    parts = [f'<p id="summary">{overall} ']
    if daemon:
        ready = _badge("Ready" if daemon.get("ready") else "NotReady")
        parts.append(
            f"daemon pid {_u(daemon.get('pid'))} {ready} source <code>{_u(daemon.get('source'))}</code>, "
            f"started {_u(daemon.get('started_at'))}"
        )
        for name, why in (daemon.get("rule_errors") or {}).items():
            parts.append(f'<br><span class="bad badge">rule group {_u(name)} refused</span> {_u(why)}')
        if daemon.get("desired_error"):
            parts.append(
                f'<br><span class="bad badge">desired state refused</span> {_u(daemon["desired_error"])}'
            )
        for part, down in (daemon.get("down") or {}).items():
            parts.append(
                f'<br><span class="bad badge">{_u(part)} down</span> {_u((down or {}).get("reason"))}'
            )
    else:
        parts.append("no daemon record")
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts.append(f' <span class="muted small">as of {stamp}</span></p>')
    return "".join(parts)


def _resource_row(r: Mapping[str, Any], event: Mapping[str, Any] | None) -> str:
    key = f"{r.get('kind')}/{r.get('name')}"
    record = r.get("daemon") or {}
    # Each reason as `monop status` prints it: `field: old -> new` (secrets masked where it was made).
    reasons = "; ".join(
        str(Reason(str(x.get("field")), x.get("old"), x.get("new")))
        for x in r.get("reasons") or []
        if isinstance(x, Mapping)
    )
    state = _badge(r.get("state")) + (f'<div class="small muted">{_u(reasons)}</div>' if reasons else "")
    conditions = "".join(
        f"<li>{_u(c.get('type'))} {_badge(c.get('status'))} {_u(c.get('reason'))}: "
        f'<span class="small">{_u(c.get("message"))}</span></li>'
        for c in r.get("conditions") or []
    )
    latest = (
        f'{_badge(event.get("type"))} {_u(event.get("reason"))}<div class="small muted">'
        f"{_u(event.get('message'))}</div>"
        if event
        else '<span class="muted">-</span>'
    )
    attrs = " ".join(
        f'data-{name}="{_e(r.get(field))}"'
        for name, field in (("state", "state"), ("sync", "sync"), ("health", "healthStatus"))
    )
    return (
        f'<tr data-resource="{_e(key)}" {attrs}><td><b>{_u(r.get("name"))}</b>'
        f'<div class="small muted">{_u(r.get("kind"))}</div></td>'
        f"<td>{state}</td><td>{_badge(r.get('sync'))}</td><td>{_badge(r.get('healthStatus'))}</td>"
        f'<td class="restarts">{_e(record.get("restartCount", 0))}</td>'
        f"<td>{_targets(r)}</td><td><ul class=conds>{conditions}</ul></td><td>{latest}</td></tr>"
    )


def _targets(r: Mapping[str, Any]) -> str:
    """What Prometheus says of the resource's targets, else where it is to scrape them."""
    seen = r.get("targets")
    if seen:
        return "<br>".join(
            f"{_badge(t.get('health'))} <span class=small>{_u(t.get('instance'))}</span>"
            + (f'<div class="small muted">{_u(t.get("error"))}</div>' if t.get("error") else "")
            for t in seen
        )
    scrape = r.get("scrape") or []
    return "<br>".join(f'<span class="small">{_u(s.get("url"))}</span>' for s in scrape) or "-"


def _prometheus(prom: Mapping[str, Any] | None) -> str:
    if prom is None:
        return '<p class="muted" id="prometheus">prometheus: not configured (setting prometheus_url)</p>'
    state = _badge("Up" if prom.get("reachable") else "Unreachable")
    error = f" {_u(prom.get('error'))}" if prom.get("error") else ""
    return f'<p id="prometheus">prometheus <code>{_u(prom.get("url"))}</code> {state}{error}</p>'


def _receivers(receivers: Sequence[Mapping[str, Any]]) -> Iterable[str]:
    """The receivers, then alertmanager.yml's refusal once: it is the file's, not each receiver's."""
    yield _table(
        ("receiver", "integrations"),
        (
            f"<tr><td>{_u(r.get('name'))}</td><td>{_u(', '.join(r.get('integrations') or []) or '-')}</td></tr>"
            for r in receivers
        ),
        "no receivers",
        "receivers",
    )
    if receivers:
        errors = list(dict.fromkeys(str(r["error"]) for r in receivers if r.get("error")))
        said = "; ".join(_u(e) for e in errors) or '<span class="muted">no refusal</span>'
        yield f'<p id="alertmanager">alertmanager.yml: {said}</p>'


def _dashboards(dashboards: Sequence[Mapping[str, Any]]) -> str:
    """Each dashboard with its panels' results (Data / NoData / Error), as the Grafana kind reports them."""
    if not dashboards:
        return '<p class="muted" id="dashboards">no dashboards</p>'
    rows = []
    for board in dashboards:
        panels = board.get("panels") or []
        with_data = sum(1 for p in panels if p.get("result") == "Data")
        names = "".join(
            f"<li>{_u(p.get('title'))} {_badge(p.get('result'))} "
            f'<span class="small muted">{_u(p.get("reason") or p.get("error") or "")}</span></li>'
            for p in panels
        )
        rows.append(
            f'<tr data-dashboard="{_e(board.get("name"))}"><td><b>{_u(board.get("title") or board.get("name"))}</b>'
            f'<div class="small muted">{_u(board.get("uid"))}</div></td>'
            f"<td>{with_data}/{len(panels)} with data</td><td><ul class=conds>{names}</ul></td></tr>"
        )
    return _table(("dashboard", "panels", "results"), rows, "no dashboards", "dashboards")


def _bars(title: str, ident: str, bars: Sequence[tuple[str, float | None]], note: str) -> str:
    """A small inline SVG bar chart: one bar per (label, value); None (or NaN, infinity) draws no bar."""
    width, height, pad = 360, 120, 18
    bars = [(label, v if v is not None and math.isfinite(v) else None) for label, v in bars]
    top = max([v for _, v in bars if v is not None] + [1.0])
    step = (width - 2 * pad) / max(1, len(bars))
    shapes = []
    for i, (label, value) in enumerate(bars):
        x = pad + i * step
        if value is not None:
            h = (height - 2 * pad) * value / top
            shapes.append(
                f'<rect x="{x + 1:.1f}" y="{height - pad - h:.1f}" width="{max(1.0, step - 2):.1f}" '
                f'height="{h:.1f}" fill="#4f7cc9"><title>{_e(label)}: {value:g}</title></rect>'
            )
        if i % max(1, len(bars) // 6) == 0:  # six labels at most: they must not overlap
            shapes.append(f'<text x="{x:.1f}" y="{height - 4}">{_e(label)}</text>')
    return (
        f'<figure id="{ident}"><figcaption>{_e(title)} <span class="muted small">(max {top:g})</span>'
        f'</figcaption><svg width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
        f'{"".join(shapes)}</svg><div class="muted small">{_e(note)}</div></figure>'
    )


def _latency_chart(activity: Activity) -> str:
    buckets = [(("≤" + b) if b != "+Inf" else ">max", v) for b, v in activity.repair_latency()]
    total = sum(v or 0 for _, v in buckets)
    return _bars(
        "repairs by latency, seconds",
        "chart-repair",
        buckets,
        f"{total:g} repairs since the daemon started (monop_event_to_repair_seconds)",
    )


def _rate_chart(activity: Activity) -> str:
    minutes = activity.per_minute()
    bars = [(datetime.fromtimestamp(m * 60, UTC).strftime("%H:%M"), v) for m, v in minutes]
    return _bars(
        "reconciles per minute",
        "chart-reconciles",
        bars,
        "monop_reconcile_total, sampled every 10 s since the daemon started",
    )
