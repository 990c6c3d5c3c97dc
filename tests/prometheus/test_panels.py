"""The panel check's pure parts: the time range and intervals Grafana would use, the report kept in the state file."""

from __future__ import annotations

import pytest

from monop.prometheus.panels import (
    Cause,
    DashboardCheck,
    PanelCheck,
    PanelReport,
    PanelResult,
    QueryCheck,
    from_json,
    intervals,
    time_range,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (None, (NOW - 21600, NOW)),  # Grafana's default: the last six hours
        ({"from": "now-3h", "to": "now"}, (NOW - 10800, NOW)),
        ({"from": "now-7d", "to": "now-1d"}, (NOW - 7 * 86400, NOW - 86400)),
        ({"from": "now/d", "to": "now"}, (NOW - 21600, NOW)),  # rounded to the day: monop keeps six hours
        ({"from": "1700000000000", "to": 1700003600000}, (1_700_000_000.0, 1_700_003_600.0)),
        ({"from": "yesterday", "to": "now"}, (NOW - 21600, NOW)),
    ],
)
def test_the_time_range_is_the_dashboards_or_grafanas_default(
    time: dict[str, object] | None, expected: tuple[float, float]
) -> None:
    model = {} if time is None else {"time": time}
    assert time_range(model, NOW) == expected


@pytest.mark.parametrize(
    ("range_s", "scrape_s", "expected"),
    [
        (21600, 15, (21.6, 60)),  # six hours, 15 s scrapes: $__rate_interval is four scrapes
        (3600, 15, (15, 60)),  # never below the scrape interval
        (7 * 86400, 15, (604.8, 619.8)),  # a week: $__interval plus one scrape
        (3600, 1, (3.6, 4.6)),
    ],
)
def test_intervals_as_grafana_works_them_out(
    range_s: float, scrape_s: float, expected: tuple[float, float]
) -> None:
    assert intervals(range_s, scrape_s) == pytest.approx(expected)


def test_a_report_read_back_from_the_state_file_is_the_same() -> None:
    cause = Cause("x_total", "NeverSeen", "never seen", "x_total", ("y_total",), "job", "Exporter/x")
    panels = (
        PanelCheck(
            "A", "stat", PanelResult.DATA, (QueryCheck("A", "up", "up", PanelResult.DATA, 2),), "f", 3
        ),
        PanelCheck(
            "B",
            "timeseries",
            PanelResult.NO_DATA,
            (QueryCheck("A", "x_total", "x_total", PanelResult.NO_DATA, causes=(cause,), line=9),),
            "f",
            9,
        ),
        PanelCheck(
            "C",
            "table",
            PanelResult.ERROR,
            (QueryCheck("A", "a+", "a+", PanelResult.ERROR, error="parse"),),
            "f",
            12,
        ),
    )
    report = PanelReport("http://p", True, None, (DashboardCheck("d", "uid", "D", 3600.0, panels),), 7, NOW)
    assert from_json(report.to_json()) == report
    assert report.results() == {("uid", "Data"): 1, ("uid", "NoData"): 1, ("uid", "Error"): 1}
    assert str(report.dashboards[0]) == (
        "dashboard D (uid): 1/3 panels with data\n"
        "  NoData: B: x_total: never seen; nearest: y_total; job job, Exporter/x\n"
        "  Error: C: parse"
    )
