"""GrafanaDashboard and GrafanaDatasource: what Grafana shows, as resources monop provisions.

A dashboard is written shortly (`panels: [{title, type, targets: [{expr, legend}], unit,
thresholds, gridPos}]`, laid out automatically where `gridPos` is left out) or given whole as
Grafana's dashboard JSON, inline (`json`) or from a file of the desired tree (`jsonFile`), as
grafana-operator's `GrafanaDashboard` takes `json` or a file. A `GrafanaDatasource` is a
Prometheus datasource, which dashboards name by `uid`. monop.desired.grafana checks them
together and renders Grafana's provisioning files.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from monop.api.forms import Forms
from monop.api.resources import Document, Strict

UID_MAX = 40  # Grafana's MaxUIDLength (pkg/util): a longer uid is refused when it is saved
_UID = re.compile(r"^[a-zA-Z0-9_-]+$")  # Grafana's IsValidShortUID: letters, digits, '-' and '_'
_REFRESH = re.compile(r"^[1-9][0-9]*(s|m|h|d)$")
GRID_COLUMNS = 24  # Grafana's grid is 24 columns wide
PanelType = Literal[
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "piechart",
    "heatmap",
    "histogram",
    "barchart",
    "state-timeline",
    "status-history",
]
PANEL_TYPES: tuple[str, ...] = get_args(PanelType)  # the panel plugins that show queried data


def uid_problem(uid: str) -> str | None:
    """Why Grafana refuses `uid` as a dashboard's or datasource's uid, or None when it takes it."""
    if not uid:
        return "uid is empty"
    if len(uid) > UID_MAX:
        return f"uid {uid!r} is {len(uid)} characters; Grafana takes at most {UID_MAX}"
    if not _UID.match(uid):
        bad = sorted({c for c in uid if not (c.isascii() and (c.isalnum() or c in "-_"))})
        shown = " ".join(repr(c) for c in bad)
        return f"uid {uid!r} has {shown}; Grafana takes only letters, digits, '-' and '_'"
    return None


def _uid(value: str | None) -> str | None:
    if value is not None:
        problem = uid_problem(value)
        if problem:
            raise ValueError(problem)
    return value


class Target(Strict):
    """One PromQL query of a panel: `{expr: 'up', legend: '{{instance}}'}`."""

    expr: str = Field(description="PromQL; Grafana's $__rate_interval, $__interval and $__range may be used.")
    legend: str | None = Field(
        None, description="Legend of each series: '{{instance}}' (Grafana's legendFormat)."
    )
    ref_id: str | None = Field(
        None, alias="refId", description="Query name in the panel; default A, B, C, ..."
    )
    instant: bool = Field(False, description="One value at the end of the range instead of a series.")


class Threshold(Strict):
    """One step: from `value` up, the panel shows `color`; a step without value is the base."""

    value: float | None = Field(None, description="Lower bound of the step; none: the base step.")
    color: str = Field(min_length=1, description="A colour name (green, red) or #rrggbb.")


class GridPos(Strict):
    """Where a panel sits: column `x` (0-23), row `y`, width `w` in columns (1-24), height `h` in rows."""

    x: int = Field(0, ge=0, lt=GRID_COLUMNS)
    y: int = Field(0, ge=0)
    w: int = Field(12, ge=1, le=GRID_COLUMNS)
    h: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> GridPos:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(
                f"x {self.x} + w {self.w} is past the grid's {GRID_COLUMNS} columns: "
                f"make w at most {GRID_COLUMNS - self.x}"
            )
        return self


class Panel(Strict):
    """A panel written shortly; `gridPos` left out places it after the one before (`width`, `height`)."""

    title: str = Field(description="Shown above the panel.")
    type: PanelType = Field("timeseries", description="Grafana's panel plugin: timeseries, stat, gauge, ...")
    description: str | None = None
    targets: tuple[Target, ...] = Field((), description="The PromQL queries; at least one.")
    unit: str | None = Field(None, description="Grafana's unit id: percent, bytes, s, reqps, ...")
    decimals: int | None = Field(None, ge=0, le=20)
    min: float | None = None
    max: float | None = None
    thresholds: tuple[Threshold, ...] = Field(
        (), description="Steps in rising order; the base is green unless given."
    )
    datasource: str | None = Field(None, description="uid of a GrafanaDatasource; default: the dashboard's.")
    grid_pos: GridPos | None = Field(
        None, alias="gridPos", description="Place and size; none: laid out in order."
    )
    width: int | None = Field(None, ge=1, le=GRID_COLUMNS, description="Width in columns when laid out (12).")
    height: int | None = Field(None, ge=1, description="Height in rows when laid out (8).")

    @model_validator(mode="after")
    def _place(self) -> Panel:
        if self.grid_pos is not None and (self.width is not None or self.height is not None):
            raise ValueError("give gridPos, or width and height for the automatic layout, not both")
        return self

    @field_validator("thresholds")
    @classmethod
    def _rising(cls, value: tuple[Threshold, ...]) -> tuple[Threshold, ...]:
        bases = [i for i, step in enumerate(value) if step.value is None]
        if bases and bases != [0]:
            raise ValueError("only the first step may be without value (the base)")
        values = [step.value for step in value if step.value is not None]
        if values != sorted(values):
            raise ValueError("steps must rise: each value above the one before")
        return value


class TimeRange(Strict):
    """The dashboard's default time range, in Grafana's terms: `{from: now-6h, to: now}`."""

    from_: str = Field("now-6h", alias="from", min_length=1)
    to: str = Field("now", min_length=1)


DashboardJson = Annotated[
    dict[str, Any] | str,
    Forms(
        "The whole dashboard as Grafana's JSON model: a mapping, or its JSON text.",
        ({"type": "object"}, {"type": "string"}),
        own=False,
    ),
]


class GrafanaDashboardSpec(Strict):
    title: str | None = Field(None, description="Title; from the JSON when json or jsonFile gives it.")
    uid: str | None = Field(
        None, description=f"Grafana's uid (at most {UID_MAX} of a-z A-Z 0-9 - _); default: the name."
    )
    folder: str | None = Field(None, description="Grafana folder; none: General.")
    tags: tuple[str, ...] = ()
    refresh: str | None = Field(None, description="Auto-refresh: 30s, 1m, 1h.")
    time: TimeRange | None = Field(None, description="Default time range; none: the last 6 hours.")
    datasource: str | None = Field(
        None, description="uid of the GrafanaDatasource its panels query; default: the default datasource."
    )
    panels: tuple[Panel, ...] = Field((), description="Panels written shortly; or json or jsonFile.")
    json_: DashboardJson | None = Field(None, alias="json", description="The whole dashboard JSON, inline.")
    json_file: str | None = Field(
        None,
        alias="jsonFile",
        description="A dashboard JSON file of the desired tree, relative to this file.",
    )

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        return _uid(value)

    @field_validator("refresh")
    @classmethod
    def _refresh(cls, value: str | None) -> str | None:
        if value is not None and not _REFRESH.match(value):
            raise ValueError(
                f"{value!r} is not a refresh interval Grafana offers: a number and s, m, h or d (30s)"
            )
        return value

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "/" in value or value in (".", "..")):
            raise ValueError(f"{value!r} is not a folder name: not empty, no '/'")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> GrafanaDashboardSpec:
        given = [
            n for n, v in (("panels", self.panels), ("json", self.json_), ("jsonFile", self.json_file)) if v
        ]
        if len(given) > 1:
            raise ValueError(f"give one of panels, json or jsonFile; got {' and '.join(given)}")
        return self


class GrafanaDashboardResource(Document):
    """A Grafana dashboard, provisioned from a file monop writes; its uid defaults to its name."""

    kind: Literal["GrafanaDashboard"]
    spec: GrafanaDashboardSpec

    @property
    def uid(self) -> str:
        return self.spec.uid or self.metadata.name


class GrafanaDatasourceSpec(Strict):
    url: str = Field(
        min_length=1, description="Prometheus's URL as Grafana reaches it: http://prometheus:9090."
    )
    uid: str | None = Field(None, description="The uid dashboards name; default: the resource's name.")
    display_name: str | None = Field(
        None, alias="displayName", description="Its name in Grafana; default: the resource's name."
    )
    is_default: bool = Field(False, alias="isDefault", description="Grafana's default datasource.")
    time_interval: str | None = Field(
        None,
        alias="timeInterval",
        description="Prometheus's scrape interval (15s): the floor of $__interval and $__rate_interval.",
    )
    http_method: Literal["POST", "GET"] = Field("POST", alias="httpMethod")

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        return _uid(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("http", "https") or not rest:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if "@" in rest.split("/", 1)[0]:
            raise ValueError("a URL with a user or password in it: monop writes no datasource secrets")
        return value

    @field_validator("time_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and not _REFRESH.match(value):
            raise ValueError(f"{value!r} is not an interval Grafana takes: a number and s, m, h or d (15s)")
        return value


class GrafanaDatasourceResource(Document):
    """A Prometheus datasource, provisioned into Grafana; dashboards name it by `uid`."""

    kind: Literal["GrafanaDatasource"]
    spec: GrafanaDatasourceSpec

    @property
    def uid(self) -> str:
        return self.spec.uid or self.metadata.name


GRAFANA_KINDS: dict[str, type[Strict]] = {
    "GrafanaDashboard": GrafanaDashboardResource,
    "GrafanaDatasource": GrafanaDatasourceResource,
}
