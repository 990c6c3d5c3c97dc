"""GrafanaDashboards and GrafanaDatasources read, checked together, and built as Grafana's JSON.

A dashboard written shortly is built with Grafana's own model (grafana-foundation-sdk's
builders), so what monop writes is what Grafana's schema says; one given whole (`json`,
`jsonFile`) is written as given, with `uid`, `title` and the spec's other fields set. Both are
checked the same way, each problem at the file and line it is about (a `jsonFile`'s own file
and line): a missing or empty title, the HTTP API's `{"dashboard": ...}` envelope (the cause of
Grafana's "title cannot be empty"), uids Grafana refuses or two dashboards share, panels
without a query, overlapping grid positions, and a datasource uid that nothing provides.
PromQL is parsed by promtool (`check_promql`), as rule groups are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monop.api.grafana import (
    GRID_COLUMNS,
    PANEL_TYPES,
    GrafanaDashboardResource,
    GrafanaDatasourceResource,
    uid_problem,
)
from monop.desired.dashboard import Dashboard, PanelQuery, PanelView, Query, Where
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import Path as FieldPath
from monop.desired.yamldoc import YamlError, dotted, read_documents
from monop.errors import Problem, Severity

MAX_JSON_BYTES = 4 << 20  # a dashboard with hundreds of panels is still well under this
PROMETHEUS = "prometheus"
# Datasource uids that are Grafana's own, never a GrafanaDatasource's.
_BUILTIN_SOURCES = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --", "__expr__"}


def dashboard_of(loaded: LoadedResource) -> GrafanaDashboardResource:
    resource = loaded.resource
    assert isinstance(resource, GrafanaDashboardResource)
    return resource


def datasource_of(loaded: LoadedResource) -> GrafanaDatasourceResource:
    resource = loaded.resource
    assert isinstance(resource, GrafanaDatasourceResource)
    return resource


def load(resources: Sequence[LoadedResource], root: Path) -> tuple[tuple[Dashboard, ...], list[Problem]]:
    """The dashboards of `resources` built and checked with the datasources beside them; every problem."""
    sources = [r for r in resources if isinstance(r.resource, GrafanaDatasourceResource)]
    problems = _check_datasources(sources)
    provided = {datasource_of(s).uid for s in sources}
    # An old dashboard names its datasource by name ("datasource": "Prometheus"): Grafana looks
    # such a string up by name or uid.
    names = provided | {datasource_of(s).spec.display_name or s.name for s in sources}
    default = _default_datasource(sources)
    dashboards: list[Dashboard] = []
    for loaded in resources:
        if not isinstance(loaded.resource, GrafanaDashboardResource):
            continue
        built, found = _build(loaded, root, (provided, names), default, bool(sources))
        problems += found
        if built is not None:
            dashboards.append(built)
    problems += _duplicate_uids(dashboards)
    dashboards.sort(key=lambda d: d.key)
    return tuple(dashboards), problems


def _check_datasources(sources: Sequence[LoadedResource]) -> list[Problem]:
    problems = []
    uids: dict[str, LoadedResource] = {}
    names: dict[str, LoadedResource] = {}
    for loaded in sources:
        source = datasource_of(loaded)
        first = uids.setdefault(source.uid, loaded)
        if first is not loaded:
            problems.append(_at(loaded, ("spec", "uid"), f"uid {source.uid!r} is taken by {_named(first)}"))
        name = source.spec.display_name or source.name
        first = names.setdefault(name, loaded)
        if first is not loaded:
            message = f"Grafana name {name!r} is taken by {_named(first)}; set displayName"
            problems.append(_at(loaded, ("spec", "displayName"), message))
    defaults = [s for s in sources if datasource_of(s).spec.is_default]
    for loaded in defaults[1:]:
        message = f"{_named(defaults[0])} is the default already; Grafana keeps one"
        problems.append(_at(loaded, ("spec", "isDefault"), message))
    return problems


def _default_datasource(sources: Sequence[LoadedResource]) -> str | None:
    defaults = [datasource_of(s).uid for s in sources if datasource_of(s).spec.is_default]
    if defaults:
        return defaults[0]
    return datasource_of(sources[0]).uid if len(sources) == 1 else None


def _at(
    loaded: LoadedResource, path: FieldPath, message: str, severity: Severity = Severity.ERROR
) -> Problem:
    return Problem(loaded.file, loaded.line_of(*path), loaded.key, dotted(path), message, severity)


def _named(loaded: LoadedResource) -> str:
    return f"{loaded.key} at {loaded.file}:{loaded.line}"


def _duplicate_uids(dashboards: Sequence[Dashboard]) -> list[Problem]:
    seen: dict[str, Dashboard] = {}
    problems = []
    for board in dashboards:
        first = seen.setdefault(board.uid, board)
        if first is not board:
            at, path = first.uid_at
            message = (
                f"uid {board.uid!r} is also the uid of {first.key} at {at.file}:{at.line_of(path)}; "
                "Grafana would keep only one of them"
            )
            at, path = board.uid_at
            problems.append(at.problem(path, message))
    return problems


# --- one dashboard ----------------------------------------------------------------------------------


def _build(
    loaded: LoadedResource,
    root: Path,
    known: tuple[set[str], set[str]],
    default: str | None,
    any_source: bool,
) -> tuple[Dashboard | None, list[Problem]]:
    provided, names = known
    resource = dashboard_of(loaded)
    spec = resource.spec
    own = Where(loaded.file, loaded.key, loaded.lines, loaded.line)
    short = spec.json_ is None and spec.json_file is None
    uid_at: tuple[Where, FieldPath] = (own, ("spec", "uid") if spec.uid is not None else ("metadata", "name"))
    if short:
        if not spec.panels:
            return None, [own.problem(("spec",), "no panels: give panels, json or jsonFile")]
        problems = _short_sources(loaded, provided, default, any_source)
        if problems:
            return None, problems
        from monop.desired.grafana_model import build_short  # the SDK: imported when a dashboard needs it

        model, where = build_short(resource, default), own
    else:
        source, where, problems = _whole(loaded, root)
        if source is None:
            return None, problems
        model = _apply_spec(source, resource)
        if spec.uid is None and isinstance(source.get("uid"), str):
            uid_at = (where, ("uid",))
    title = model.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(_title_problem(loaded, where, model, title))
    uid = model.get("uid")
    why = uid_problem(uid) if isinstance(uid, str) else "uid is not text"
    if why and spec.uid is None:  # spec.uid was checked as it was read
        fix = "set spec.uid" if uid_at[1] != ("uid",) else "fix it, or set spec.uid"
        said = "; the uid defaults to the name" if uid_at[1] == ("metadata", "name") else ""
        problems.append(uid_at[0].problem(uid_at[1], f"{why}{said}: {fix}"))
    panels, panel_problems = _panels(model, where, short, spec.datasource)
    problems += panel_problems
    problems += _overlaps(panels, where)
    problems += _datasources(panels, where, provided, names, _variables(model))
    if any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    board = Dashboard(loaded, str(uid), str(title), spec.folder, model, tuple(panels), where, uid_at)
    return board, problems


def _short_sources(
    loaded: LoadedResource, provided: set[str], default: str | None, any_source: bool
) -> list[Problem]:
    """A panel written shortly queries its own datasource, the dashboard's, or the default one."""
    spec = dashboard_of(loaded).spec
    if spec.datasource is not None or default is not None:
        return []
    if all(panel.datasource is not None for panel in spec.panels):
        return []
    if not any_source:
        message = (
            "its panels need a datasource and the desired state has no GrafanaDatasource: add one "
            "(kind: GrafanaDatasource, spec: {url: http://prometheus:9090})"
        )
    else:
        message = (
            f"its panels query the default datasource, and none of the {len(provided)} GrafanaDatasources "
            "is isDefault: set spec.datasource to one of " + ", ".join(sorted(provided))
        )
    return [_at(loaded, ("spec",), message)]


def _title_problem(loaded: LoadedResource, where: Where, model: Mapping[str, Any], title: Any) -> Problem:
    fix = "set spec.title, or title at the top of the dashboard JSON"
    said = "empty" if isinstance(title, str) else "missing" if title is None else f"not text ({title!r})"
    message = f'the dashboard\'s title is {said}: Grafana refuses it ("title cannot be empty"); {fix}'
    if where.file == loaded.file and not where.prefix:
        return where.problem(("spec", "title"), message)
    return where.problem(("title",) if "title" in model else (), message)


def envelope_problem(value: Mapping[str, Any]) -> str | None:
    """Why `value` is the HTTP API's `{"dashboard": {...}}` envelope and not a dashboard, or None."""
    inner = value.get("dashboard")
    if not isinstance(inner, dict) or isinstance(value.get("panels"), list):
        return None
    title = inner.get("title")
    named = f" ({title!r} is inside it)" if isinstance(title, str) and title else ""
    return (
        'the dashboard is wrapped in {"dashboard": ...}, the envelope of Grafana\'s HTTP API '
        "(POST /api/dashboards/db); file provisioning reads the dashboard itself, finds no title at the "
        f'top and refuses it with "title cannot be empty"{named}: take what is inside "dashboard" '
        "out to the top level, and drop the envelope's other keys"
    )


def _whole(loaded: LoadedResource, root: Path) -> tuple[dict[str, Any] | None, Where, list[Problem]]:
    """The dashboard JSON of `json` or `jsonFile`, with where each of its paths is."""
    spec = dashboard_of(loaded).spec
    own = Where(loaded.file, loaded.key, loaded.lines, loaded.line)
    if spec.json_file is not None:
        return _json_file(loaded, root, spec.json_file)
    value = spec.json_
    if isinstance(value, str):
        where = Where(
            loaded.file, loaded.key, {}, loaded.line_of("spec", "json"), offset=loaded.line_of("spec", "json")
        )
        parsed, lines, problem = _parse_json(value, where, ("spec", "json"))
        if parsed is None:
            return None, own, [problem] if problem else []
        where = Where(loaded.file, loaded.key, lines, where.line, offset=where.offset)
        value = parsed
    else:
        where = Where(
            loaded.file, loaded.key, loaded.lines, loaded.line_of("spec", "json"), prefix=("spec", "json")
        )
    assert isinstance(value, dict)
    envelope = envelope_problem(value)
    if envelope:
        return None, where, [where.problem(("dashboard",), envelope)]
    return dict(value), where, []


def _json_file(
    loaded: LoadedResource, root: Path, name: str
) -> tuple[dict[str, Any] | None, Where, list[Problem]]:
    own = Where(loaded.file, loaded.key, loaded.lines, loaded.line)
    target = (loaded.base_dir / name).resolve()
    if Path(name).is_absolute() or not target.is_relative_to(root.resolve()):
        return None, own, [own.problem(("spec", "jsonFile"), f"{name!r} is not a file of the desired tree")]
    from monop.desired.loader import NotRegular, read_regular  # the loader imports this module

    shown = str(Path(loaded.file).parent / name)
    try:
        raw = read_regular(target, MAX_JSON_BYTES)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        return (
            None,
            own,
            [own.problem(("spec", "jsonFile"), f"{name!r} does not exist (looked for {target})")],
        )
    except (OSError, NotRegular, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return None, own, [own.problem(("spec", "jsonFile"), f"{name!r} cannot be read: {why}")]
    where = Where(shown, loaded.key, {}, 1)
    parsed, lines, problem = _parse_json(text, where, ())
    if parsed is None:
        return None, where, [problem] if problem else []
    where = Where(shown, loaded.key, lines, 1)
    envelope = envelope_problem(parsed)
    if envelope:
        return None, where, [where.problem(("dashboard",), envelope)]
    return parsed, where, []


def _parse_json(
    text: str, where: Where, path: FieldPath
) -> tuple[dict[str, Any] | None, dict[FieldPath, int], Problem | None]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        line = where.offset + err.lineno if where.offset else err.lineno
        return None, {}, Problem(where.file, line, where.key, dotted(path) or None, f"not JSON: {err.msg}")
    if not isinstance(value, dict):
        return None, {}, where.problem((), "a dashboard is a JSON object ({...})")
    try:
        # JSON is YAML: its reader keeps the line of every value, for messages about them.
        docs = list(read_documents(text))
        lines = docs[0].lines if docs else {}
    except YamlError:
        lines = {}
    return value, lines, None


def _apply_spec(source: dict[str, Any], resource: GrafanaDashboardResource) -> dict[str, Any]:
    """The dashboard JSON as written for Grafana: the spec's fields win; `id` is Grafana's to give."""
    spec = resource.spec
    model = {k: v for k, v in source.items() if k != "id"}
    if spec.title is not None:
        model["title"] = spec.title
    model["uid"] = spec.uid or source.get("uid") or resource.name
    if spec.tags:
        model["tags"] = list(spec.tags)
    if spec.refresh is not None:
        model["refresh"] = spec.refresh
    if spec.time is not None:
        model["time"] = {"from": spec.time.from_, "to": spec.time.to}
    return model


def _panels(
    model: Mapping[str, Any], where: Where, short: bool, spec_source: str | None = None
) -> tuple[list[PanelView], list[Problem]]:
    problems: list[Problem] = []
    views: list[PanelView] = []
    raw = model.get("panels", [])
    if not isinstance(raw, list):
        return [], [where.problem(("panels",), "panels should be a list")]
    items: list[tuple[FieldPath, Any]] = []
    for i, panel in enumerate(raw):
        items.append((("panels", i), panel))
        if isinstance(panel, dict) and panel.get("type") == "row" and isinstance(panel.get("panels"), list):
            items += [(("panels", i, "panels", k), child) for k, child in enumerate(panel["panels"])]
    for n, (json_path, panel) in enumerate(items):
        path = ("spec", "panels", json_path[1]) if short else json_path
        if not isinstance(panel, dict):
            problems.append(where.problem(path, "a panel is an object"))
            continue
        kind = panel.get("type")
        queries = _queries(panel, path, short, spec_source)
        grid = _grid(panel.get("gridPos"))
        title = panel.get("title")
        views.append(PanelView(n, title if isinstance(title, str) else "", str(kind), queries, grid, path))
        if kind in PANEL_TYPES and not queries:
            named = f" {title!r}" if title else ""
            message = f"panel{named} has no query: add targets: [{{expr: ..., legend: ...}}]"
            problems.append(where.problem((*path, "targets") if short else path, message))
    return views, problems


def _queries(
    panel: Mapping[str, Any], path: FieldPath, short: bool, spec_source: str | None
) -> tuple[Query, ...]:
    targets = panel.get("targets")
    if not isinstance(targets, list):
        return ()
    panel_source = _source_uid(panel.get("datasource"))
    out = []
    for j, target in enumerate(targets):
        if not isinstance(target, dict) or target.get("hide") is True:
            continue
        source = target.get("datasource")
        kind = source.get("type") if isinstance(source, dict) else None
        panel_kind = panel["datasource"].get("type") if isinstance(panel.get("datasource"), dict) else None
        if (kind or panel_kind) not in (None, PROMETHEUS) or not isinstance(target.get("expr"), str):
            continue
        uid = _source_uid(source) if source is not None else panel_source
        legend = target.get("legendFormat")
        said = (*path, "targets", j, "datasource") if source is not None else (*path, "datasource")
        by_name = isinstance(source if source is not None else panel.get("datasource"), str)
        out.append(
            Query(
                str(target.get("refId") or chr(ord("A") + j % 26)),
                target["expr"],
                legend if isinstance(legend, str) else None,
                uid,
                (*path, "targets", j),
                said if not short else _short_source_path(path, uid, spec_source),
                by_name,
            )
        )
    return tuple(out)


def _short_source_path(path: FieldPath, uid: str | None, spec_source: str | None) -> FieldPath:
    # A panel written shortly asks its own datasource, else the dashboard's, else the default.
    return ("spec", "datasource") if uid is not None and uid == spec_source else (*path, "datasource")


def _source_uid(source: Any) -> str | None:
    if isinstance(source, dict):
        uid = source.get("uid")
        return uid if isinstance(uid, str) else None
    return source if isinstance(source, str) else None


def _grid(value: Any) -> tuple[int, int, int, int] | None:
    if not isinstance(value, dict):
        return None
    parts = [value.get(k) for k in ("x", "y", "w", "h")]
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return None
    x, y, w, h = (int(p) for p in parts)  # type: ignore[arg-type]
    return x, y, w, h


def _overlaps(panels: Sequence[PanelView], where: Where) -> list[Problem]:
    problems = []
    placed: list[PanelView] = []
    for panel in panels:
        if panel.grid is None or len(panel.path) > 3:  # a collapsed row's panels are off the grid
            continue
        x, y, w, h = panel.grid
        if x + w > GRID_COLUMNS:
            message = f"gridPos x {x} + w {w} is past the grid's {GRID_COLUMNS} columns"
            problems.append(where.problem((*panel.path, "gridPos"), message))
        for other in placed:
            ox, oy, ow, oh = other.grid or (0, 0, 0, 0)
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                message = (
                    f"panel {panel.title!r} (x {x}-{x + w - 1}, y {y}-{y + h - 1}) overlaps panel "
                    f"{other.title!r} at {dotted(other.path)} (x {ox}-{ox + ow - 1}, y {oy}-{oy + oh - 1})"
                )
                problems.append(where.problem((*panel.path, "gridPos"), message))
                break
        placed.append(panel)
    return problems


_REFERENCE = re.compile(r"^\$\{?(\w+)")


def _variables(model: Mapping[str, Any]) -> set[str]:
    templating = model.get("templating")
    found = templating.get("list") if isinstance(templating, dict) else None
    return {v["name"] for v in found or () if isinstance(v, dict) and isinstance(v.get("name"), str)}


def _datasources(
    panels: Sequence[PanelView], where: Where, provided: set[str], names: set[str], variables: set[str]
) -> list[Problem]:
    problems = []
    for panel in panels:
        for query in panel.queries:
            uid = query.datasource
            if uid is None or uid in _BUILTIN_SOURCES:
                continue
            reference = _REFERENCE.match(uid)
            if reference is not None:
                if reference.group(1) not in variables:
                    # A dashboard exported "for sharing externally": Grafana's import fills its
                    # __inputs, file provisioning never does (grafana/grafana#10786).
                    message = (
                        f"datasource {uid!r} is neither a dashboard variable nor a uid: an input of "
                        "Grafana's import (__inputs), which file provisioning never fills; use a "
                        f"GrafanaDatasource's uid ({', '.join(sorted(provided)) or 'none yet'})"
                    )
                    problems.append(where.problem(query.datasource_path, message))
                continue
            if uid not in (names if query.by_name else provided):
                known = ", ".join(sorted(provided)) or "none"
                message = (
                    f"datasource uid {uid!r} is provided by no GrafanaDatasource (uids: {known}); "
                    "Grafana would show the panel's error instead of data"
                )
                problems.append(where.problem(query.datasource_path, message))
    return problems


# --- PromQL, parsed by promtool ---------------------------------------------------------------------

_RULE = re.compile(r'^(?:\d+:\d+: )?group ".*?", rule (\d+), ".*?": (.*)$')


def check_promql(dashboards: Sequence[Dashboard]) -> list[Problem]:
    """promtool's verdict on every panel query (Grafana's variables substituted), each at its expr.

    The queries are written as recording rules, one rule file per dashboard, and checked by
    `promtool check rules` (one run, about 30 ms); without promtool, one warning says so.
    """
    import shutil
    import tempfile

    import yaml

    from monop.desired.promql import run

    queries = [(board, q) for board in dashboards for panel in board.panels for q in panel.queries]
    if not queries:
        return []
    promtool = shutil.which("promtool")
    if promtool is None:
        board = queries[0][0]
        message = "promtool is not installed (Debian: prometheus), so panel PromQL was not checked"
        return [Problem(board.where.file, None, None, None, message, Severity.WARNING)]
    with tempfile.TemporaryDirectory(prefix="monop-panels-") as tmp:
        files: dict[str, list[tuple[Dashboard, Query]]] = {}
        for i, board in enumerate(dashboards):
            mine = [(board, q) for panel in board.panels for q in panel.queries]
            if not mine:
                continue
            rules = [{"record": "monop:panel_query", "expr": substitute(q.expr)} for _, q in mine]
            path = str(Path(tmp) / f"{i}.yml")
            Path(path).write_text(yaml.safe_dump({"groups": [{"name": board.uid, "rules": rules}]}), "utf-8")
            files[path] = mine
        output = run(promtool, list(files))
    if output is None:
        return []
    problems = []
    for line in output.splitlines():
        path, sep, rest = line.strip().partition(": ")
        match = _RULE.match(rest) if sep and path in files else None
        if match is None:
            continue
        number, message = int(match.group(1)), match.group(2)
        board, query = files[path][number - 1]
        message = message.removeprefix("could not parse expression: ")
        problems.append(board.where.problem((*query.path, "expr"), f"PromQL does not parse: {message}"))
    return problems


# --- queries, for checks against Prometheus ----------------------------------------------------------


def panel_queries(dashboards: Sequence[Dashboard]) -> list[PanelQuery]:
    """Every PromQL query of every panel: dashboard uid and title, panel title, expr and legend, where."""
    out = []
    for board in dashboards:
        for panel in board.panels:
            for query in panel.queries:
                out.append(
                    PanelQuery(
                        board.uid,
                        board.title,
                        panel.title,
                        query.ref_id,
                        query.expr,
                        query.legend,
                        query.datasource,
                        board.key,
                        board.where.file,
                        board.where.line_of((*query.path, "expr")),
                    )
                )
    return out


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(
    expr: str, *, interval_s: float = 60.0, rate_interval_s: float = 240.0, range_s: float = 21600.0
) -> str:
    """`expr` with Grafana's variables as Prometheus would receive them.

    `$__interval`, `$__rate_interval` and `$__range` become durations (`1m`), their `_ms` and
    `_s` forms numbers; any other dashboard variable becomes `.*` inside a quoted string (a
    matcher's value), `5m` inside brackets and `monop_variable` elsewhere, so the query parses.
    """

    def seconds(value: float) -> str:
        return f"{max(1, round(value))}s"

    known = {
        "__interval": seconds(interval_s),
        "__rate_interval": seconds(rate_interval_s),
        "__range": seconds(range_s),
        "__interval_ms": str(round(interval_s * 1000)),
        "__range_ms": str(round(range_s * 1000)),
        "__range_s": str(round(range_s)),
    }
    out = []
    quote: str | None = None
    depth = 0  # inside [...] (a range or subquery): a variable there is a duration
    i = 0
    while i < len(expr):
        c = expr[i]
        match = _VARIABLE.match(expr, i) if c == "$" or expr.startswith("[[", i) else None
        if match is not None:
            name = next(g for g in match.groups() if g)
            if name in known:
                out.append(known[name])
            elif quote is not None:
                out.append(".*")
            else:
                out.append("5m" if depth else "monop_variable")
            i = match.end()
            continue
        if quote is not None:
            if c == "\\" and quote != "`":
                out.append(expr[i : i + 2])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        out.append(c)
        i += 1
    return "".join(out)
