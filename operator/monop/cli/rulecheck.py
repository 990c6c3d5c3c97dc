"""Commands about alert rules against the tools that run them: `check rules` (dead selectors in the
live Prometheus, as `promtool check rules` checks them offline) and `test rule GROUP/ALERT` (its
unit tests by promtool, and the alert it would raise)."""

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
from monop.cli.main import check_app, test_app
from monop.cli.state import desired_state

if TYPE_CHECKING:
    from monop.desired.ruletrial import TestRun
    from monop.desired.state import DesiredState, LoadedResource
    from monop.prometheus.deadrules import DeadReport


@check_app.command("rules")
@with_settings
def check_rules(
    ctx: typer.Context,
    wanted: Annotated[
        str | None,
        typer.Argument(help="GROUP or GROUP/ALERT; all rule groups when omitted.", show_default=False),
    ] = None,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask Prometheus (prometheus_url) whether each selector of each rule matches any series.

    A selector that matches nothing is a DeadSelector, said at its rule's line with why (the
    metric was never seen, it disappeared, a label is absent, a label value matches nothing, with
    the values that exist), the nearest existing metric names and the scrape job that should
    have exported it. A rule that reads back over a range (`increase(x[1h])`) is asked over that
    range. `absent()`, the right side of `unless` and `... or vector(0)` are not asked. A series a
    desired recording rule writes but has not yet is a note, not dead; a selector Prometheus
    refuses to query is "not checked", with its words. Findings go to stderr, the summary to
    stdout. Exit 0 when no selector is dead, 1 when one is, 2 without prometheus_url, 3 when
    Prometheus did not answer.
    """
    import asyncio

    form = _document_format(output, as_json)
    settings = load(ctx)
    if not settings.prometheus_url:
        fail("check rules asks a live Prometheus: set prometheus_url (--prometheus-url)", EXIT_USAGE)
    state = desired_state(settings)
    groups = _groups(state, wanted)
    if wanted is not None and "/" in wanted:
        _rule_exists(groups, wanted)  # a usage error (2) before Prometheus is asked, not 3 after
    report = asyncio.run(
        _check(state, groups, settings.prometheus_url, settings.scrape_address, settings.instance)
    )
    if wanted is not None and "/" in wanted:
        rule = wanted.partition("/")[2]
        report = _only_rule(report, rule)
    if form in (Format.JSON, Format.YAML):
        print_document(report.to_json(), form)
    else:
        for dead in report.dead:
            note(str(dead.problem()))
        for pending in report.pending:
            note(str(pending.problem()))
        for unparsed in report.unparsed:
            note(f"not checked: {unparsed}")
        for refused in report.unchecked:
            note(f"not checked: {refused}")
        if not report.reachable:
            note(f"could not ask Prometheus: {report.error}")
        else:
            typer.echo(
                f"{report.url}: {len(report.rules)} rule(s), {report.selectors} selector(s), "
                f"{len(report.dead)} dead ({report.queries} queries)"
            )
    if not report.reachable:
        raise typer.Exit(EXIT_UNKNOWN)
    raise typer.Exit(EXIT_PROBLEM if report.dead else EXIT_OK)


async def _check(
    state: DesiredState, groups: list[LoadedResource], url: str, scrape_address: str, instance: str
) -> DeadReport:
    from monop.prometheus import api as prom
    from monop.prometheus import deadrules
    from monop.prometheus.scrape import jobs
    from monop.prometheus.series import SeriesLookup

    owners = {
        job.name: job.targets[0].resource
        for job in jobs(state, scrape_address, None, instance=instance)
        if job.targets
    }
    async with prom.connect(url) as api:
        assert api is not None
        # A rule of the group asked for may read what a recording rule of another group writes.
        recorded = deadrules.recorded_by(state.rule_groups)
        return await deadrules.check(groups, SeriesLookup(api), owners, recorded)


def _document_format(output: Format | None, as_json: bool) -> Format | None:
    """-o json or yaml, or None for text; -o wide and -o name mean nothing here: a usage error."""
    form = output_format(output, as_json)
    if form in (Format.WIDE, Format.NAME):
        fail(f"-o {form.value} is not an output of this command; use -o json or -o yaml", EXIT_USAGE)
    return form


def _rule_exists(groups: list[LoadedResource], wanted: str) -> None:
    from monop.desired.promql import group_of

    rule = wanted.partition("/")[2]
    names = [r.alert or r.record or "" for g in groups for r in group_of(g).spec.rules]
    if rule not in names:
        fail(f"no rule {rule} in AlertRuleGroup/{wanted.partition('/')[0]}: {', '.join(names)}", EXIT_USAGE)


def _only_rule(report: DeadReport, rule: str) -> DeadReport:
    from dataclasses import replace

    if not any(r == rule for _, r in report.rules):
        fail(f"no rule {rule} in {', '.join(sorted({g for g, _ in report.rules}))}", EXIT_USAGE)
    return replace(
        report,
        rules=tuple(r for r in report.rules if r[1] == rule),
        dead=tuple(d for d in report.dead if d.rule == rule),
        pending=tuple(d for d in report.pending if d.rule == rule),
        unchecked=tuple(u for u in report.unchecked if u.split(": ", 1)[0].endswith(f"/{rule}")),
    )


def _groups(state: DesiredState, wanted: str | None) -> list[LoadedResource]:
    """The rule groups `wanted` names (GROUP or GROUP/ALERT; None: all); a usage error for no such group."""
    from monop.desired.promql import group_of

    if wanted is None:
        return list(state.rule_groups)
    name = wanted.partition("/")[0]
    found = [g for g in state.rule_groups if group_of(g).name == name]
    if not found:
        names = ", ".join(sorted(group_of(g).name for g in state.rule_groups)) or "none"
        fail(f"no AlertRuleGroup {name}; the groups are: {names}", EXIT_USAGE)
    return found


@test_app.command("rule")
@with_settings
def test_rule(
    ctx: typer.Context,
    wanted: Annotated[
        str,
        typer.Argument(
            help="GROUP/ALERT: an alert of an AlertRuleGroup.", show_default=False, metavar="GROUP/ALERT"
        ),
    ],
    output: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the unit tests (spec.tests) of one alert with promtool, and show the alerts it raises.

    Each test that evaluates ALERT runs as written; at each of its eval_times the alerts that
    fire are printed with their labels and annotations (templates rendered by promtool).
    Failures go to stderr at the test's line, in promtool's words. Exit 0 when every test
    passed, 1 when one failed, 2 when there is no such alert or no test of it.
    """
    from monop.desired.ruletrial import NoTests, try_alert

    group, slash, alert = wanted.partition("/")
    if not slash or not group or not alert:
        fail(f"{wanted!r} is not GROUP/ALERT (for example system-critical/SystemDown)", EXIT_USAGE)
    form = _document_format(output, as_json)
    state = desired_state(load(ctx))
    [loaded] = _groups(state, group)
    try:
        runs = try_alert(loaded, alert)
    except NoTests as err:
        fail(str(err), EXIT_USAGE)
    if form in (Format.JSON, Format.YAML):
        print_document({"group": group, "alert": alert, "tests": [r.to_json() for r in runs]}, form)
    else:
        typer.echo(_trial_text(f"AlertRuleGroup/{group}", alert, runs), nl=False)
        for run in runs:
            if run.failure is not None:
                note(f"{run.file}:{run.line}: AlertRuleGroup/{group}: {run.field}: {run.failure}")
    raise typer.Exit(EXIT_OK if all(r.passed for r in runs) else EXIT_PROBLEM)


def _trial_text(key: str, alert: str, runs: list[TestRun]) -> str:
    from monop.api.duration import format_duration

    lines = []
    for run in runs:
        title = f'"{run.name}"' if run.name else run.field
        lines.append(f"{key} {alert}: test {title} {'passed' if run.passed else 'FAILED'}")
        for ev in run.evaluations:
            at = format_duration(ev.eval_time)
            if ev.error is not None:
                lines.append(f"  at {at}: could not read promtool's answer: {ev.error}")
            elif not ev.alerts:
                lines.append(f"  at {at}: no alert")
            for fired in ev.alerts:
                lines.append(f"  at {at}: {alert} firing")
                lines.append("    labels: " + " ".join(f"{k}={v}" for k, v in sorted(fired.labels.items())))
                if fired.annotations:
                    lines.append("    annotations:")
                    for k, v in sorted(fired.annotations.items()):
                        # A multi-line annotation keeps its lines under its name, not at the margin.
                        lines.append(f"      {k}: " + v.replace("\n", "\n" + " " * (8 + len(k))))
    return "\n".join(lines) + "\n"
