"""A dashboard as monop holds it once read: the JSON it writes, its panels' queries, where each is written.

Plain values, apart from the reading and checking (monop.desired.grafana), so that the desired
state can hold them without importing what runs promtool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monop.desired.yamldoc import Path as FieldPath
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity

if TYPE_CHECKING:
    from monop.desired.state import LoadedResource


@dataclass(frozen=True)
class Where:
    """How paths of a dashboard's source map to a file, a line and a field people read."""

    file: str
    key: str
    lines: Mapping[FieldPath, int] = field(repr=False)
    line: int
    prefix: FieldPath = ()  # the source's place in `lines` (spec.json for an inline mapping)
    offset: int = 0  # lines before the source's first (a block string's)

    def line_of(self, path: FieldPath) -> int:
        full = (*self.prefix, *path)
        for end in range(len(full), len(self.prefix) - 1, -1):
            found = self.lines.get(full[:end])
            if found is not None:
                return found + self.offset
        return self.line

    def problem(self, path: FieldPath, message: str, severity: Severity = Severity.ERROR) -> Problem:
        return Problem(
            self.file, self.line_of(path), self.key, dotted((*self.prefix, *path)) or None, message, severity
        )


@dataclass(frozen=True)
class Query:
    """One PromQL query of one panel, with where it is written."""

    ref_id: str
    expr: str
    legend: str | None
    datasource: str | None  # the uid it asks, None for Grafana's default
    path: FieldPath  # of the target in its source
    datasource_path: FieldPath  # where that uid is said
    by_name: bool = False  # said as a plain string, as old dashboards do: a name or a uid


@dataclass(frozen=True)
class PanelView:
    """A panel as the checks see it, whichever way it was written."""

    index: int
    title: str
    type: str
    queries: tuple[Query, ...]
    grid: tuple[int, int, int, int] | None  # x, y, w, h
    path: FieldPath  # of the panel in its source


@dataclass(frozen=True)
class Dashboard:
    """A valid dashboard: the JSON file monop writes for it, and its panels' queries."""

    loaded: LoadedResource
    uid: str
    title: str
    folder: str | None
    model: Mapping[str, Any] = field(repr=False)
    panels: tuple[PanelView, ...] = field(repr=False)
    where: Where = field(repr=False)
    uid_at: tuple[Where, FieldPath] = field(repr=False)  # where the uid is said (or the name it defaults to)

    @property
    def key(self) -> str:
        return self.loaded.key

    def to_json(self) -> str:
        """The file's text: Grafana's dashboard JSON, keys sorted so an unchanged one is byte-equal."""
        return json.dumps(self.model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel of one dashboard, for checks against Prometheus (issue 13, part 2)."""

    dashboard_uid: str
    dashboard_title: str
    panel_title: str
    ref_id: str
    expr: str
    legend: str | None
    datasource_uid: str | None
    resource: str
    file: str
    line: int
