"""Every panel of every GrafanaDashboard asked of the live Prometheus: Data, NoData (and why), or Error.

Each PromQL query of a panel is sent as Grafana would send it at the end of the dashboard's
time range (`time: {from: now-6h, to: now}`): an instant query at `to`, with `$__range` the
range, `$__interval` the range over MAX_POINTS points (never below the datasource's
`timeInterval`, Grafana's 15 s by default) and `$__rate_interval` Grafana's
max($__interval + scrape interval, 4 * scrape interval); other dashboard variables match
anything (monop.desired.grafana.substitute). A panel is Error when Prometheus refuses one of
its queries (its own message), Data when one returns a sample, else NoData: then each
selector of its queries is explained by the dead-selector check (monop.prometheus.deadrules:
the metric was never seen, a label matches nothing, the nearest metric and the scrape job),
through one SeriesLookup, so a question asked for one panel is not asked again for the next.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from monop.api.duration import parse_duration
from monop.desired.dashboard import Dashboard
from monop.desired.grafana import substitute
from monop.desired.selectors import selectors
from monop.errors import PrometheusUnreachable
from monop.prometheus.deadrules import explain
from monop.prometheus.series import SeriesLookup

if TYPE_CHECKING:
    from monop.desired.state import DesiredState
    from monop.prometheus.api import PrometheusAPI

MAX_POINTS = 1000  # Grafana's points per panel: about its width in pixels
DEFAULT_SCRAPE = 15.0  # seconds: Grafana's scrape interval when the datasource sets no timeInterval
DEFAULT_RANGE = 6 * 3600.0  # Grafana's default time range, now-6h to now


class PanelResult(StrEnum):
    DATA = "Data"  # a query returned at least one sample
    NO_DATA = "NoData"  # every query returned nothing: Grafana's "No data"
    ERROR = "Error"  # Prometheus refused a query: Grafana shows its message on the panel


@dataclass(frozen=True)
class Cause:
    """Why one selector of a query matches nothing (a DeadSelector's fields, monop.prometheus.deadrules)."""

    selector: str
    reason: str  # NeverSeen, Disappeared, LabelAbsent, ValueUnmatched, NoCombination, NoMatch
    message: str
    metric: str | None = None
    nearest: tuple[str, ...] = ()
    job: str | None = None
    resource: str | None = None

    def __str__(self) -> str:
        hint = f"; nearest: {', '.join(self.nearest)}" if self.nearest else ""
        if self.job:
            hint += f"; job {self.job}" + (f", {self.resource}" if self.resource else "")
        return f"{self.selector}: {self.message}{hint}"

    def to_json(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "reason": self.reason,
            "message": self.message,
            "metric": self.metric,
            "nearest": list(self.nearest),
            "job": self.job,
            "resource": self.resource,
        }


@dataclass(frozen=True)
class QueryCheck:
    """One query of a panel: what was sent, how many series came back, or Prometheus's error."""

    ref_id: str
    expr: str  # as written
    sent: str  # with Grafana's variables substituted
    result: PanelResult
    series: int = 0
    error: str | None = None
    causes: tuple[Cause, ...] = ()
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "expr": self.expr,
            "query": self.sent,
            "result": self.result.value,
            "series": self.series,
            "error": self.error,
            "causes": [c.to_json() for c in self.causes],
            "line": self.line,
        }


@dataclass(frozen=True)
class PanelCheck:
    """One panel's result: Error if a query is refused, Data if one has samples, else NoData."""

    title: str
    type: str
    result: PanelResult
    queries: tuple[QueryCheck, ...]
    file: str
    line: int | None  # of the query at fault (NoData, Error), else of the panel

    @property
    def reason(self) -> str | None:
        """Why a NoData panel is empty, in one line (its first query's first cause)."""
        if self.result is not PanelResult.NO_DATA:
            return None
        for query in self.queries:
            if query.causes:
                return str(query.causes[0])
        return (
            "every selector matches live series, but the query returns nothing now "
            "(a comparison or a join leaves no series)"
        )

    @property
    def error(self) -> str | None:
        return next((q.error for q in self.queries if q.error), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "type": self.type,
            "result": self.result.value,
            "reason": self.reason,
            "error": self.error,
            "file": self.file,
            "line": self.line,
            "queries": [q.to_json() for q in self.queries],
        }


@dataclass(frozen=True)
class DashboardCheck:
    """One dashboard's panels with queries, each checked, and the range they were asked over."""

    name: str  # the GrafanaDashboard's metadata.name
    uid: str
    title: str
    range_s: float
    panels: tuple[PanelCheck, ...]

    @property
    def with_data(self) -> int:
        return sum(1 for p in self.panels if p.result is PanelResult.DATA)

    def without_data(self) -> list[PanelCheck]:
        return [p for p in self.panels if p.result is not PanelResult.DATA]

    def __str__(self) -> str:
        """`dashboard GPU Performance (gpu-performance): 3/4 panels with data; NoData: Power Draw (...)`."""
        text = f"dashboard {self.title} ({self.uid}): {self.with_data}/{len(self.panels)} panels with data"
        for panel in self.without_data():
            text += f"\n  {panel.result.value}: {panel.title or '(untitled)'}: {panel.reason or panel.error}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uid": self.uid,
            "title": self.title,
            "rangeSeconds": self.range_s,
            "withData": self.with_data,
            "panels": [p.to_json() for p in self.panels],
        }


@dataclass(frozen=True)
class PanelReport:
    """One check of every dashboard: Prometheus's URL, whether it answered, the queries sent."""

    url: str
    reachable: bool
    error: str | None = None
    dashboards: tuple[DashboardCheck, ...] = field(default=())
    queries: int = 0  # HTTP requests: the panel queries and the dead-selector questions
    checked_at: float | None = None  # epoch seconds

    def results(self) -> dict[tuple[str, str], int]:
        """(dashboard uid, result) -> panels, 0 for a result no panel of a dashboard has."""
        counts = {(b.uid, r.value): 0 for b in self.dashboards for r in PanelResult}
        for board in self.dashboards:
            for panel in board.panels:
                counts[(board.uid, panel.result.value)] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "reachable": self.reachable,
            "error": self.error,
            "queries": self.queries,
            "checkedAt": self.checked_at,
            "dashboards": [b.to_json() for b in self.dashboards],
        }


def scrape_intervals(datasources: Mapping[str, str | None]) -> dict[str, float]:
    """uid -> its `timeInterval` in seconds (Grafana's 15 s when it sets none)."""
    return {uid: parse_duration(text) if text else DEFAULT_SCRAPE for uid, text in datasources.items()}


_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdwMy]))?(?:/[smhdwMy])?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def time_range(model: Mapping[str, Any], now: float) -> tuple[float, float]:
    """(start, end) in epoch seconds of a dashboard's `time` (`now-6h`..`now`, or epoch ms);
    Grafana's default six hours to now for what it does not say or monop cannot read."""

    def point(value: Any) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) / 1000
        if isinstance(value, str):
            if value.isdigit():
                return int(value) / 1000
            match = _RELATIVE.match(value.strip())
            if match:
                amount, unit = match.groups()
                return now - (int(amount) * _UNIT[unit] if amount else 0)
        return None

    spec = model.get("time") if isinstance(model.get("time"), dict) else {}
    assert isinstance(spec, dict)
    end = point(spec.get("to"))
    start = point(spec.get("from"))
    end = now if end is None else end
    if start is None or start >= end:
        start = end - DEFAULT_RANGE
    return start, end


def intervals(range_s: float, scrape_s: float, points: int = MAX_POINTS) -> tuple[float, float]:
    """($__interval, $__rate_interval) in seconds for a panel over `range_s`, as Grafana works them out."""
    interval = max(scrape_s, range_s / max(1, points))
    return interval, max(interval + scrape_s, 4 * scrape_s)


async def check(
    dashboards: Sequence[Dashboard],
    lookup: SeriesLookup,
    jobs: Mapping[str, str] | None = None,
    *,
    scrape: Mapping[str, float] | None = None,
    now: float | None = None,
) -> PanelReport:
    """Every panel of `dashboards` asked of `lookup`'s Prometheus (see the module's docstring).

    `jobs` maps a desired scrape job to the resource it scrapes (KIND/NAME), for the NoData
    causes; `scrape` maps a datasource uid to its scrape interval in seconds (None: the
    dashboard's default). Prometheus unreachable gives a report with `reachable` False and no
    panel judged.
    """
    jobs = jobs or {}
    scrape = scrape or {}
    at = time.time() if now is None else now
    default_scrape = next(iter(scrape.values()), DEFAULT_SCRAPE) if len(scrape) == 1 else DEFAULT_SCRAPE
    boards = []
    try:
        for board in dashboards:
            start, end = time_range(board.model, at)
            panels = []
            for panel in board.panels:
                if not panel.queries:
                    continue
                checks = []
                for query in panel.queries:
                    step = scrape.get(query.datasource or "", default_scrape)
                    interval, rate = intervals(end - start, step)
                    sent = substitute(
                        query.expr, interval_s=interval, rate_interval_s=rate, range_s=end - start
                    )
                    line = board.where.line_of((*query.path, "expr"))
                    checks.append(await _query(query.ref_id, query.expr, sent, end, lookup, jobs, line))
                results = {c.result for c in checks}
                result = (
                    PanelResult.ERROR
                    if PanelResult.ERROR in results
                    else PanelResult.DATA
                    if PanelResult.DATA in results
                    else PanelResult.NO_DATA
                )
                # Where to look: the query at fault (the first not to have data), else the panel.
                at_fault = [c.line for c in checks if c.result is result and result is not PanelResult.DATA]
                line = at_fault[0] if at_fault and at_fault[0] else board.where.line_of(panel.path)

                panels.append(
                    PanelCheck(panel.title, panel.type, result, tuple(checks), board.where.file, line)
                )
            boards.append(
                DashboardCheck(board.loaded.name, board.uid, board.title, end - start, tuple(panels))
            )
    except PrometheusUnreachable as err:
        return PanelReport(lookup.api.url, False, str(err), queries=lookup.queries, checked_at=at)
    return PanelReport(lookup.api.url, True, None, tuple(boards), lookup.queries, at)


async def _query(
    ref_id: str, expr: str, sent: str, at: float, lookup: SeriesLookup, jobs: Mapping[str, str], line: int
) -> QueryCheck:
    lookup.queries += 1
    result, error = await lookup.api.evaluate(sent, at)
    if error is not None:
        return QueryCheck(ref_id, expr, sent, PanelResult.ERROR, error=error, line=line)
    if result:
        return QueryCheck(ref_id, expr, sent, PanelResult.DATA, series=len(result), line=line)
    causes = []
    try:
        found = selectors(sent)
    except ValueError:
        found = []  # Prometheus parsed it; a parser that does not is no reason to say more
    for selector in found:
        why = await explain(selector, lookup, jobs)
        if why is not None:
            causes.append(
                Cause(
                    str(why.get("selector", selector)),
                    str(getattr(why.get("reason"), "value", why.get("reason"))),
                    str(why.get("message", "")),
                    why.get("metric"),
                    tuple(why.get("nearest") or ()),
                    why.get("job"),
                    why.get("resource"),
                )
            )
    return QueryCheck(ref_id, expr, sent, PanelResult.NO_DATA, causes=tuple(causes), line=line)


def from_json(data: Mapping[str, Any]) -> PanelReport:
    """A report as `to_json` wrote it (the daemon's state file)."""
    boards = []
    for b in data.get("dashboards") or []:
        panels = []
        for p in b.get("panels") or []:
            queries = tuple(
                QueryCheck(
                    str(q.get("refId", "")),
                    str(q.get("expr", "")),
                    str(q.get("query", "")),
                    PanelResult(q.get("result", "NoData")),
                    int(q.get("series") or 0),
                    q.get("error"),
                    tuple(
                        Cause(
                            str(c.get("selector", "")),
                            str(c.get("reason", "")),
                            str(c.get("message", "")),
                            c.get("metric"),
                            tuple(c.get("nearest") or ()),
                            c.get("job"),
                            c.get("resource"),
                        )
                        for c in q.get("causes") or []
                    ),
                    q.get("line"),
                )
                for q in p.get("queries") or []
            )
            panels.append(
                PanelCheck(
                    str(p.get("title", "")),
                    str(p.get("type", "")),
                    PanelResult(p.get("result", "NoData")),
                    queries,
                    str(p.get("file", "")),
                    p.get("line"),
                )
            )
        boards.append(
            DashboardCheck(
                str(b.get("name", "")),
                str(b.get("uid", "")),
                str(b.get("title", "")),
                float(b.get("rangeSeconds") or DEFAULT_RANGE),
                tuple(panels),
            )
        )
    return PanelReport(
        str(data.get("url", "")),
        bool(data.get("reachable")),
        data.get("error"),
        tuple(boards),
        int(data.get("queries") or 0),
        data.get("checkedAt"),
    )


async def check_state(
    state: DesiredState, api: PrometheusAPI, scrape_address: str, instance: str, *, now: float | None = None
) -> PanelReport:
    """`check` of the desired state's dashboards, with its scrape jobs and its datasources' intervals."""
    from monop.api.grafana import GrafanaDatasourceResource
    from monop.desired.grafana import datasource_of
    from monop.prometheus.scrape import jobs as scrape_jobs

    owners = {
        job.name: job.targets[0].resource
        for job in scrape_jobs(state, scrape_address, None, instance=instance)
        if job.targets
    }
    sources = [r for r in state.grafana if isinstance(r.resource, GrafanaDatasourceResource)]
    scrape = scrape_intervals({datasource_of(r).uid: datasource_of(r).spec.time_interval for r in sources})
    return await check(state.dashboards, SeriesLookup(api), owners, scrape=scrape, now=now)
