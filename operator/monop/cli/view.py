"""The reading commands: `get`/`status` (with --watch), `describe` and `events`.

Each reads Podman, the daemon's state file and (with prometheus_url) Prometheus, and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monop.cli.app import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNKNOWN,
    ColourOpt,
    Format,
    JsonOpt,
    NoHeadersOpt,
    OutputOpt,
    app,
    fail,
    load,
    output_format,
    print_document,
    resource_key,
)
from monop.cli.flags import with_settings

if TYPE_CHECKING:
    from monop.api.targets import Target
    from monop.daemon.daemon import Daemon
    from monop.daemon.events import Event
    from monop.daemon.statestore import DaemonRecord, ResourceRecord
    from monop.desired.state import DesiredState, LoadedResource
    from monop.desired.suspend import Suspension
    from monop.prometheus.alertmanager import ConfigStatus
    from monop.prometheus.api import TargetReport
    from monop.prometheus.deadrules import DeadSelector
    from monop.prometheus.panels import PanelReport
    from monop.prometheus.rules import RuleStatus
    from monop.reconcile.plan import Status
    from monop.settings import Settings

WatchOpt = Annotated[
    bool, typer.Option("--watch", "-w", help="Print again whenever something changes; Ctrl-C ends it.")
]
WATCH_INTERVAL = 1.0  # seconds between looks while watching


@dataclass(frozen=True)
class View:
    """Everything `status` shows, taken at one moment (`now`, epoch seconds)."""

    statuses: list[Status]
    records: Mapping[str, ResourceRecord]
    daemon: DaemonRecord | None
    running: bool
    targets: TargetReport | None
    rules: list[RuleStatus]
    suspended: Mapping[str, Suspension]
    now: float
    scrapes: Mapping[str, list[Target]]  # what Prometheus is to scrape, by resource key
    receivers: list[dict[str, Any]] = field(default_factory=list)  # the desired AlertReceivers
    alertmanager: ConfigStatus | None = None  # None: the desired state has no AlertRouting/AlertReceiver
    # The desired GrafanaDashboards with their panel results (monop.cli.panelview): the daemon's
    # last check while it runs, else one made now when prometheus_url is set.
    dashboards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def prometheus_unreachable(self) -> bool:
        return self.targets is not None and not self.targets.reachable

    @property
    def rejected(self) -> str | None:
        """Why the newest desired state (or revision) is refused, while the daemon says so."""
        if self.daemon is None or not self.running:
            return None
        rejected = (self.daemon.git or {}).get("rejected")
        if rejected:
            return f"revision {str(rejected.get('revision'))[:12]} rejected"
        return self.daemon.desired_error

    @property
    def dead_selectors(self) -> list[DeadSelector]:
        """The rules' selectors that match no series, as the running daemon last found them."""
        from monop.prometheus.deadrules import DeadSelector

        if self.daemon is None or not self.running:
            return []
        return [DeadSelector.from_json(d) for d in self.daemon.dead_selectors]

    def in_sync(self, shown: list[Status]) -> bool:
        """Whether `shown` are in sync, their targets healthy and their rule groups loaded (all: also monop's own)."""
        keys = {s.key for s in shown}
        whole = len(shown) == len(self.statuses)
        targets = [] if self.targets is None or not self.targets.reachable else self.targets.targets
        return (
            all(s.state.ok for s in shown)
            and all(t.health.ok for t in targets if whole or t.resource in keys)
            and all(r.ok for r in self.rules if whole or f"AlertRuleGroup/{r.name}" in keys)
            and (not whole or self.alertmanager is None or not self.alertmanager.refused)
        )


def gather(settings: Settings, state: DesiredState | None = None) -> View:
    """Ask Podman (raises PodmanUnavailable), the state file and Prometheus, at once.

    `state`: the desired state to compare with (the daemon's page passes the one in force);
    None reads it as `desired_state()` does, exiting 1 when it is invalid.
    """
    from monop.cli import output as render
    from monop.cli.state import connect, desired_state, running
    from monop.daemon.records import holds_from_state
    from monop.daemon.statestore import StateStore
    from monop.desired.suspend import read_suspended
    from monop.reconcile import health
    from monop.reconcile.converge import survey
    from monop.reconcile.plan import fleet_host, units

    daemon, records = StateStore(settings.state_dir).load()
    alive = running(daemon, settings.state_dir)
    # From git, what runs is compared with the revision the daemon applies, not the branch's newest.
    applied = ((daemon.git or {}).get("applied") or {}).get("revision") if daemon and alive else None
    if state is None:
        state = desired_state(settings, applied)
    # monop's own target is desired while its daemon runs, at the address it serves.
    own = daemon.metrics_address if daemon is not None and alive else None
    # What the daemon's own checks found last, for the containers that still run that way.
    known = health.from_records({k: r.health for k, r in records.items()}, time.time())
    import asyncio

    podman = connect(settings)
    try:
        result, (targets, rules), alertmanager, panel_report = asyncio.run(
            _gather(
                survey(
                    units(state, settings.instance),
                    podman,
                    health=known,
                    instance=settings.instance,
                    holds=holds_from_state(settings.state_dir),
                    host=fleet_host(state),
                ),
                _ask_prometheus(state, settings, own, daemon.rule_errors if daemon else {}),
                _ask_alertmanager(state, settings, daemon.alertmanager_error if daemon and alive else None),
                _panels(state, settings, daemon if alive else None),
            )
        )
    finally:
        podman.close()
    now = time.time()
    if not alive:
        # No daemon keeps them now: its last sync, health and conditions are history, not status.
        from dataclasses import replace

        records = {k: replace(r, sync=None, health_status=None, conditions=None) for k, r in records.items()}
    statuses = render.with_daemon(result.statuses, records, now)
    from monop.prometheus.scrape import jobs

    scrapes: dict[str, list[Target]] = {}
    for job in jobs(state, settings.scrape_address, own, instance=settings.instance):
        for target in job.targets:
            scrapes.setdefault(target.resource, []).append(target)
    suspended = read_suspended(settings.state_dir)
    from monop.desired.alerting import receivers as receivers_of

    receivers = [_receiver_json(r, daemon) for r in receivers_of(state.alerting)]
    from monop.cli.panelview import dashboards_json

    return View(
        statuses,
        records,
        daemon,
        alive,
        targets,
        rules,
        suspended,
        now,
        scrapes,
        receivers,
        alertmanager,
        dashboards_json(state, panel_report, settings.prometheus_url),
    )


async def _panels(state: DesiredState, settings: Settings, daemon: DaemonRecord | None) -> PanelReport | None:
    """The running daemon's last panel check; without a daemon, one made now (None: no prometheus_url)."""
    from monop.cli.panelview import ask_panels

    return await ask_panels(state, settings, daemon)


def _receiver_json(loaded: LoadedResource, daemon: DaemonRecord | None) -> dict[str, Any]:
    """A receiver by name and the kinds of its integrations; never their URLs, which may hold secrets."""
    from monop.api.alerting import INTEGRATIONS
    from monop.desired.alerting import receiver_of

    spec = receiver_of(loaded).spec
    return {
        "name": loaded.name,
        # Each kind the model has (webhook, email, slack, ...): a new one is listed without an edit here.
        "integrations": [key.removesuffix("_configs") for _f, key in INTEGRATIONS if getattr(spec, key, ())],
        # Written into alertmanager.yml, or why the desired one is not the one running.
        "error": daemon.alertmanager_error if daemon is not None else None,
    }


async def _gather(*aws: Awaitable[Any]) -> list[Any]:
    import asyncio

    return list(await asyncio.gather(*aws))


async def _ask_prometheus(
    state: DesiredState, settings: Settings, metrics_address: str | None, rejected: dict[str, str]
) -> tuple[TargetReport | None, list[RuleStatus]]:
    """What Prometheus says of the desired targets (None when none is configured) and rule groups."""
    from monop.prometheus import api as prom
    from monop.prometheus import rules as rulefiles
    from monop.prometheus import scrape as prometheus

    async with prom.connect(settings.prometheus_url) as api:
        targets = None
        if api is not None:
            jobs = prometheus.jobs(
                state, settings.scrape_address, metrics_address, instance=settings.instance
            )
            targets = await prom.verify(jobs, api, settings.instance)
        rules = (
            await rulefiles.statuses(state.rule_groups, settings.rules_dir, api, rejected)
            if state.rule_groups
            else []
        )
    return targets, rules


async def _ask_alertmanager(
    state: DesiredState, settings: Settings, rejected: str | None
) -> ConfigStatus | None:
    """alertmanager.yml's state and each receiver's (with its last `monop test receivers`), when there are any."""
    if not state.alerting:
        return None
    from monop.cli.testing import RESULTS_FILE
    from monop.prometheus import alertmanager as am
    from monop.prometheus.receivertest import load_results

    tests = load_results(settings.state_dir / RESULTS_FILE)
    async with am.connect(settings.alertmanager_url) as api:
        return await am.status(
            state.alerting,
            settings.alertmanager_config,
            api,
            rejected,
            rule_groups=state.rule_groups,
            tests=tests,
        )


def select(statuses: list[Status], wanted: str | None) -> list[Status]:
    """KIND (any case, plural too: `exporters`), KIND/NAME, or a bare NAME; None: all."""
    if not wanted or wanted.lower() == "all":
        return statuses
    kind, slash, name = wanted.partition("/")
    kinds = {s.key.split("/", 1)[0].lower() for s in statuses}
    if not slash and kind.lower() not in kinds and kind.lower().removesuffix("s") not in kinds:
        return [s for s in statuses if s.name == wanted]
    kind = kind.lower() if kind.lower() in kinds else kind.lower().removesuffix("s")
    return [s for s in statuses if s.key.split("/", 1)[0].lower() == kind and (not slash or s.name == name)]


def render_view(
    view: View,
    shown: list[Status],
    form: Format | None,
    *,
    colour: bool,
    headers: bool,
    whole: bool,
) -> str:
    """The text `status`/`get` print for `shown`; `whole` adds the daemon, Prometheus and rules lines."""
    from datetime import UTC, datetime

    from monop.cli import output as render

    if form is Format.NAME:
        return "\n".join(s.key for s in shown)
    if form in (Format.JSON, Format.YAML):
        return ""  # documents are printed by `document`
    text = render.status_table(
        shown,
        datetime.fromtimestamp(view.now, UTC),
        colour=colour,
        records=view.records,
        targets=view.targets,
        wide=form is Format.WIDE,
        headers=headers,
        suspended=view.suspended,
    )
    if whole:
        text += "\n\n" + render.daemon_line(view.daemon, view.running, view.now)
        text += "\n" + render.prometheus_line(view.targets)
        if view.rules:
            text += "\nrules: " + ", ".join(str(r) for r in view.rules)
        if view.alertmanager is not None:
            text += f"\n{view.alertmanager}" + "".join(
                f"\n  receiver {r}" for r in view.alertmanager.receivers
            )
        for dead in view.dead_selectors:
            text += f"\nwarning: {dead}"
        from monop.cli.panelview import dashboards_text

        text += "".join(f"\n{line}" for line in dashboards_text(view.dashboards))
        if view.suspended:
            text += "\nsuspended: " + ", ".join(sorted(view.suspended))
    return text


def document(view: View, shown: list[Status]) -> dict[str, Any]:
    """The JSON (or YAML) document of `status -o json`: times RFC 3339, secrets scrubbed."""
    from monop.cli import output as render
    from monop.secrets import scrub

    return {
        "inSync": view.in_sync(shown) and not view.rejected,
        "resources": [
            {
                **render.status_json(s, view.records.get(s.key), view.targets, view.suspended.get(s.key)),
                "scrape": [render.scrape_json(t) for t in view.scrapes.get(s.key, [])],
            }
            for s in shown
        ],
        # scrub(): a status.json an older monop wrote may hold a git URL's password.
        "daemon": None
        if view.daemon is None
        else scrub(render.daemon_json(view.daemon, view.running, view.now)),
        "prometheus": None if view.targets is None else view.targets.to_json(),
        "ruleGroups": [r.to_json() for r in view.rules],
        "alertmanager": None if view.alertmanager is None else view.alertmanager.to_json(),
        "receivers": view.receivers,
        "deadSelectors": [d.to_json() for d in view.dead_selectors],
        "dashboards": view.dashboards,
        "suspended": sorted(view.suspended),
    }


def status_document(settings: Settings, state: DesiredState | None = None) -> dict[str, Any]:
    """`monop status -o json` of every resource: what the daemon's `/api/v1/status` serves too."""
    view = gather(settings, state)
    return document(view, view.statuses)


def served_status(daemon: Daemon) -> dict[str, Any]:
    """`status_document` for the desired state the daemon has in force (its page's JSON).

    Raises LookupError while none is (the first one read was invalid), PodmanUnavailable."""
    state = daemon.source.desired
    if state is None:
        raise LookupError(f"no valid desired state in force: {daemon.source.error or 'not read yet'}")
    return status_document(daemon.settings, state)


def exit_of(view: View, shown: list[Status]) -> int:
    """0 in sync; 1 drifted, or the newest revision rejected; 3 Prometheus could not be asked."""
    if not view.in_sync(shown) or view.rejected:
        return EXIT_PROBLEM
    return EXIT_UNKNOWN if view.prometheus_unreachable else EXIT_OK


def _signature(view: View, shown: list[Status]) -> object:
    """What a watch compares: states, reasons, restarts, targets; not ages, which change every second."""
    from monop.cli import output as render

    rows = tuple(
        (
            s.key,
            s.state,
            s.reasons,
            s.container.id if s.container else None,
            getattr(view.records.get(s.key), "restart_count", None),
            getattr(view.records.get(s.key), "conditions", None),
            render.target_cell(view.targets, s.key),
            s.key in view.suspended,
        )
        for s in shown
    )
    daemon = (view.running, view.daemon.ready if view.daemon else None, view.rejected)
    return (
        rows,
        daemon,
        tuple(str(r) for r in view.rules),
        tuple(str(d) for d in view.dead_selectors),
        tuple((b["uid"], tuple(p["result"] for p in b["panels"])) for b in view.dashboards),
        str(view.alertmanager),
    )


def _show(
    settings: Settings,
    wanted: str | None,
    form: Format | None,
    colour: bool,
    headers: bool,
    whole: bool,
    watch: bool,
) -> None:
    def once() -> tuple[object, Callable[[], None], int]:
        view = gather(settings)
        shown = select(view.statuses, wanted)
        if wanted and not shown:
            fail(f"{wanted}: no such resource in the desired state or among monop's containers", EXIT_PROBLEM)

        def emit() -> None:
            if form in (Format.JSON, Format.YAML):
                print_document(document(view, shown), form)
            else:
                text = render_view(view, shown, form, colour=colour, headers=headers, whole=whole)
                typer.echo(text, color=colour)  # click would strip the codes off a pipe otherwise

        return _signature(view, shown), emit, exit_of(view, shown)

    signature, emit, code = once()
    emit()
    if not watch:
        raise typer.Exit(code)
    try:
        while True:
            time.sleep(WATCH_INTERVAL)
            again, emit, code = once()
            if again != signature:
                if form not in (Format.JSON, Format.YAML, Format.NAME):
                    typer.echo("")
                emit()
                signature = again
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None


@with_settings
def get(
    ctx: typer.Context,
    resource: Annotated[
        str | None,
        typer.Argument(
            help="KIND (exporter, exporters), KIND/NAME or NAME; default: all.",
            show_default=False,
            metavar="KIND[/NAME]",
        ),
    ] = None,
    watch: WatchOpt = False,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
    no_headers: NoHeadersOpt = False,
    colour: ColourOpt = None,
) -> None:
    from monop.cli.output import use_colour

    whole = ctx.info_name == "status"  # `status` adds the daemon, Prometheus and rules lines
    form = output_format(output, as_json)
    _show(load(ctx), resource, form, use_colour(colour), not no_headers, whole, watch)


app.command(
    "get",
    help="List resources beside what runs, one row each: InSync, Missing, Stopped, Drifted, ...\n\n"
    "Exit 0 when the resources shown are in sync, 1 when any is not, 3 when Podman or Prometheus "
    "could not be asked.",
)(get)
app.command(
    "status",
    help="Show each resource's state beside what runs, the daemon, Prometheus and the rule groups.\n\n"
    "Exit 0 when everything is in sync, 1 when anything is not or the newest revision is rejected, "
    "3 when Podman or Prometheus could not be asked.",
)(get)


@app.command()
@with_settings
def describe(
    ctx: typer.Context,
    resource: Annotated[
        str, typer.Argument(help="KIND/NAME (or NAME).", show_default=False, metavar="KIND/NAME")
    ],
    output: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Everything monop knows of one resource: its state and why, the container, its targets, its events.

    Spec hash, revision, state and reasons, conditions, the container (ID, image, state, started),
    its Prometheus targets, the daemon's record and the last events.

    Exit 0 when it is in sync, 1 when not (or no such resource), 3 when Podman could not be asked.
    """
    from monop.cli import output as render

    settings = load(ctx)
    view = gather(settings)
    shown = select(view.statuses, resource)
    if len(shown) != 1:
        fail(
            f"{resource}: no such resource in the desired state or among monop's containers"
            if not shown
            else f"{resource}: several resources: {', '.join(s.key for s in shown)}; name one as KIND/NAME",
            EXIT_PROBLEM,
        )
    status = shown[0]
    events = recent_events(settings, status.key)
    form = output_format(output, as_json)
    body = render.status_json(
        status, view.records.get(status.key), view.targets, view.suspended.get(status.key)
    )
    body["scrape"] = [render.scrape_json(t) for t in view.scrapes.get(status.key, [])]
    if form in (Format.JSON, Format.YAML):
        print_document({**body, "events": events}, form)
    elif form is Format.NAME:
        typer.echo(status.key)
    else:
        typer.echo(render.describe(body, events))
    raise typer.Exit(exit_of(view, shown))


def recent_events(settings: Settings, key: str | None, limit: int = 10) -> list[dict[str, Any]]:
    """The last `limit` events about `key` (all: None), oldest first, as JSON; none before events exist."""
    return [event_json(e) for e in read(settings, key)][-limit:]


def read(settings: Settings, key: str | None) -> list[Event]:
    from monop.daemon.events import read_events

    return read_events(settings.state_dir, resource=key)


def event_json(event: Event) -> dict[str, Any]:
    """An event as the JSON line it was written as (`time` RFC 3339, type, reason, resource, ...)."""
    return event.to_json()


@app.command()
@with_settings
def events(
    ctx: typer.Context,
    about: Annotated[
        str | None, typer.Option("--for", help="Only the events of KIND/NAME.", show_default=False)
    ] = None,
    watch: WatchOpt = False,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
    no_headers: NoHeadersOpt = False,
    colour: ColourOpt = None,
) -> None:
    """The daemon's events, oldest first: each change of a resource's state, and why (Normal or Warning).

    JSON output is one event per line (JSON Lines), as the daemon writes them. Exit 0.
    """
    from monop.cli import output as render

    settings = load(ctx)
    form = output_format(output, as_json)
    use = render.use_colour(colour)
    if about is not None:
        about = resource_key(about)

    def show(found: list[dict[str, Any]], first: bool) -> None:
        if form is Format.JSON:
            import json

            for event in found:
                typer.echo(json.dumps(event))
        elif form is Format.YAML:
            if found:
                print_document(found, form)
        elif form is Format.NAME:
            for event in found:
                typer.echo(str(event.get("resource") or "-"))
        elif found or first:
            typer.echo(
                render.events_table(found, colour=use, headers=first and not no_headers, now=time.time()),
                color=use,
            )

    found = [event_json(e) for e in read(settings, about)]
    if not found and not watch and form is None:
        typer.echo(f"no events recorded in {settings.state_dir}", err=True)
        raise typer.Exit(EXIT_OK)
    show(found, True)
    if not watch:
        raise typer.Exit(EXIT_OK)
    last = found[-1] if found else None
    try:
        while True:
            time.sleep(WATCH_INTERVAL / 2)
            found = [event_json(e) for e in read(settings, about)]
            # The store is bounded (old lines go): what is new is what follows the last one shown.
            after = len(found) - found[::-1].index(last) if last in found else 0
            if found[after:]:
                show(found[after:], False)
                last = found[-1]
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None
