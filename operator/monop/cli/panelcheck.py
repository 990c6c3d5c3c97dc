"""`monop check dashboards`: every panel of every GrafanaDashboard asked of the live Prometheus,
beside `monop check rules` (monop.prometheus.panels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from monop.cli.app import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    Format,
    JsonOpt,
    OutputOpt,
    fail,
    load,
    note,
    output_format,
    print_document,
)
from monop.cli.flags import with_settings
from monop.cli.main import check_app
from monop.cli.state import desired_state

if TYPE_CHECKING:
    from monop.desired.state import DesiredState
    from monop.prometheus.panels import PanelReport
    from monop.settings import Settings


@check_app.command("dashboards")
@with_settings
def check_dashboards(
    ctx: typer.Context,
    wanted: Annotated[
        str | None,
        typer.Argument(
            help="A GrafanaDashboard's name or uid; all when omitted.",
            show_default=False,
            metavar="DASHBOARD",
        ),
    ] = None,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask Prometheus (prometheus_url) for each panel's queries, as Grafana would over the dashboard's time range.

    Each panel is Data, NoData (why: the metric was never seen, a label matches nothing, with
    the nearest existing metric and the scrape job), or Error (Prometheus's message). A line per
    dashboard goes to stdout, each panel without data to stderr at its file and line; -o json has
    every query. Exit 0 when every panel has data, 1 when one has not, 2 without prometheus_url,
    3 when Prometheus did not answer.
    """
    import asyncio

    settings = load(ctx)
    if not settings.prometheus_url:
        fail("check dashboards asks a live Prometheus: set prometheus_url (--prometheus-url)", EXIT_USAGE)
    state = desired_state(settings)
    if wanted is not None:
        state = _only(state, wanted)
    report = asyncio.run(run_check(state, settings))
    form = output_format(output, as_json)
    if form in (Format.JSON, Format.YAML):
        print_document(report.to_json(), form)
    elif not report.reachable:
        note(f"could not ask Prometheus: {report.error}")
    else:
        for board in report.dashboards:
            for panel in board.without_data():
                why = panel.reason if panel.error is None else panel.error
                note(f"{panel.file}:{panel.line}: {panel.result.value}: {board.title}/{panel.title}: {why}")
        for board in report.dashboards:
            typer.echo(f"{board.title} ({board.uid}): {board.with_data}/{len(board.panels)} panels with data")
        panels = sum(len(b.panels) for b in report.dashboards)
        data = sum(b.with_data for b in report.dashboards)
        typer.echo(
            f"{report.url}: {len(report.dashboards)} dashboard(s), {panels} panel(s), {data} with data "
            f"({report.queries} queries)"
        )
    if not report.reachable:
        raise typer.Exit(EXIT_UNKNOWN)
    complete = all(not b.without_data() for b in report.dashboards)
    raise typer.Exit(EXIT_OK if complete else EXIT_PROBLEM)


async def run_check(state: DesiredState, settings: Settings) -> PanelReport:
    """The panel check of `state`'s dashboards against settings.prometheus_url (which must be set)."""
    from monop.prometheus import api as prom
    from monop.prometheus import panels

    async with prom.connect(settings.prometheus_url) as api:
        assert api is not None
        return await panels.check_state(state, api, settings.scrape_address, settings.instance)


def _only(state: DesiredState, wanted: str) -> DesiredState:
    from dataclasses import replace

    found = tuple(d for d in state.dashboards if wanted in (d.loaded.name, d.uid))
    if not found:
        names = ", ".join(sorted(d.loaded.name for d in state.dashboards)) or "none"
        fail(f"no GrafanaDashboard {wanted}; the dashboards are: {names}", EXIT_USAGE)
    return replace(state, dashboards=found)
