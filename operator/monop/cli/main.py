"""The `monop` command: parse, call, render, and map errors to exit codes in one place."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeGuard

import typer
import yaml

from monop import __version__
from monop.daemon.statestore import AlreadyRunning, DaemonLock, StateDirUnusable
from monop.desired.git import GitError
from monop.errors import InvalidDesiredState, MonopError, PodmanUnavailable, Problem, SettingsError, Severity
from monop.secrets import public_url, scrub
from monop.settings import Settings, load_settings

if TYPE_CHECKING:  # the CLI imports what a command needs when it runs: startup stays fast
    from monop.daemon.statestore import DaemonRecord
    from monop.desired.state import DesiredState
    from monop.prometheus.api import TargetReport
    from monop.prometheus.rules import RuleStatus, SyncResult
    from monop.reconcile.plan import Plan, Unit
    from monop.runtime.podman import Podman

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    help="Keep a Podman monitoring stack the way its desired-state YAML says.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

DesiredOpt = Annotated[
    Path | None, typer.Option("--desired", "-d", help="Desired-state directory or file (default: desired/).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="The daemon's state directory (default: /var/lib/monop).")
]
InstanceOpt = Annotated[
    str | None,
    typer.Option(
        "--instance",
        help="This monop's name on a shared Podman; it keeps only its own containers (default: default).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $MONOP_CONFIG, else /etc/monop/config.yaml if present)."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"monop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = {"config": config}


def _settings(ctx: typer.Context, **flags: Any) -> Settings:
    return load_settings(flags, ctx.obj["config"] if ctx.obj else None)


@app.command()
def validate(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Desired-state directory or file.", show_default=False)
    ] = None,
    desired: DesiredOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the desired state: every file, every resource, all problems in one run.

    With git_url set and no PATH, the branch's newest commit is checked. Exit 0 when valid, 1 when not, 2 on a usage error.
    """
    settings = _settings(ctx, desired=path or desired)
    from monop.desired import source

    if path is not None or desired is not None:
        settings = settings.model_copy(update={"git_url": None})  # a path given is what is checked
    try:
        with tempfile.TemporaryDirectory(prefix="monop-validate-") as scratch:  # state_dir is not validate's
            state = source.read(
                settings, git=source.scratch_git(settings, Path(scratch)), check_rules=True
            ).state
        problems, resources = list(state.warnings), [r.key for r in (*state.resources, *state.rule_groups)]
    except InvalidDesiredState as err:
        problems, resources = list(err.problems), []
    errors = [p for p in problems if p.severity is Severity.ERROR or strict]
    valid = not errors
    if as_json:
        _print_json(
            {
                "valid": valid,
                "source": public_url(settings.git_url) or str(settings.desired),
                "resources": resources,
                "problems": [p.to_json() for p in problems],
            }
        )
    else:
        for problem in problems:
            typer.echo(str(problem), err=problem.severity is Severity.ERROR)
        shown = (
            f"{public_url(settings.git_url)} {settings.git_branch}"
            if settings.git_url
            else str(settings.desired)
        )
        typer.echo(_summary(shown, resources, problems, valid), err=not valid)
    raise typer.Exit(EXIT_OK if valid else EXIT_PROBLEM)


def _summary(source: str, resources: list[str], problems: list[Problem], valid: bool) -> str:
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = len(problems) - errors
    if valid:
        return f"{source}: {len(resources)} resources valid" + (
            f", {warnings} warning(s)" if warnings else ""
        )
    return f"{source}: invalid: {errors} error(s), {warnings} warning(s)"


@app.command()
def crds(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the CRDs into.")] = Path(
        "crds"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the files are stale.")
    ] = False,
) -> None:
    """Write one CustomResourceDefinition per kind, generated from the models."""
    from monop.api.crd import all_crds

    stale = []
    for name, body in all_crds().items():
        text = "# Generated by `monop crds`; do not edit.\n" + yaml.safe_dump(body, sort_keys=False)
        target = output / name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(str(target))
        if not check:
            output.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for path in stale:
        typer.echo(f"{'stale' if check else 'wrote'}: {path}")
    raise typer.Exit(EXIT_PROBLEM if check and stale else EXIT_OK)


PruneOpt = Annotated[
    bool, typer.Option("--prune/--no-prune", help="Remove monop's containers that are no longer desired.")
]


def _desired_state(
    settings: Settings, revision: str | None = None, *, activate: bool = False
) -> DesiredState:
    """The desired state, or exit 2 with every problem: an invalid state is never applied.

    From git: `revision`, else the one the daemon is held at, else the branch's newest. Only
    `activate` (apply) writes to state_dir's clone; otherwise a temporary one borrows from it.
    """
    from monop.desired import source

    try:
        if not settings.git_url:
            return source.read(settings).state
        hold = source.read_hold(settings.state_dir)
        wanted = revision or (hold.revision if hold else None)
        with tempfile.TemporaryDirectory(prefix="monop-git-") as scratch:
            git = source.git_source(settings) if activate else source.scratch_git(settings, Path(scratch))
            assert git is not None
            if wanted is None:
                commit = git.fetch()
            else:
                try:
                    commit = git.commit(wanted)  # known to the daemon's clone
                except GitError:
                    git.fetch()
                    commit = git.commit(wanted)
            return source.read(settings, commit, activate=activate, git=git).state
    except InvalidDesiredState as err:
        for problem in err.problems:
            typer.echo(str(problem), err=True)
        _fail(
            f"{public_url(settings.git_url) or settings.desired}: the desired state is invalid; nothing was changed",
            EXIT_USAGE,
        )


def _desired_units(settings: Settings, *, activate: bool = False) -> list[Unit]:
    """`activate`: from git, the revision becomes the tree containers mount files from (apply)."""
    from monop.reconcile.plan import units

    return units(_desired_state(settings, activate=activate), settings.instance)


render_app = typer.Typer(help="Print configuration for the tools beside monop.", no_args_is_help=True)
app.add_typer(render_app, name="render")


@render_app.command("prometheus")
def render_prometheus(
    ctx: typer.Context,
    desired: DesiredOpt = None,
    sd_dir: Annotated[
        Path | None,
        typer.Option(
            "--sd-dir", help="Where the daemon writes file_sd files (default: /var/lib/monop/file_sd)."
        ),
    ] = None,
    rules_dir: Annotated[
        Path | None,
        typer.Option(
            "--rules-dir", help="Where the daemon writes rule files (default: /var/lib/monop/rules)."
        ),
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Also write the file_sd and rule files now (rules checked by promtool, Prometheus "
            "reloaded when prometheus_url is set), as the daemon does; Podman is not asked, so every "
            "desired resource's targets are written.",
        ),
    ] = False,
    instance: InstanceOpt = None,
) -> None:
    """Print what prometheus.yml needs: one scrape_config reading every file_sd file, and rule_files (the AlertRuleGroups).

    The targets and rules are not in it: they are in files the daemon keeps equal to the desired state, each target carrying its job, interval, timeout, path and scheme, so this is merged into prometheus.yml once and never edited again.
    """
    from monop.prometheus import scrape as prometheus

    settings = _settings(ctx, desired=desired, sd_dir=sd_dir, rules_dir=rules_dir, instance=instance)
    state = _desired_state(settings)
    typer.echo(
        "# Generated by `monop render prometheus`: merge into prometheus.yml's top level.\n"
        + yaml.safe_dump(
            prometheus.config(settings.sd_dir.absolute(), settings.rules_dir.absolute(), settings.instance),
            sort_keys=False,
        ),
        nl=False,
    )
    if write:
        jobs = prometheus.jobs(
            state, settings.scrape_address, settings.metrics_address, instance=settings.instance
        )
        for path in prometheus.write_sd_files(jobs, settings.sd_dir):
            typer.echo(f"wrote: {path}", err=True)
        result = asyncio.run(_sync_rules(state, settings))
        for name in result.written:
            typer.echo(f"wrote: {settings.rules_dir / name}.yml", err=True)
        for name, why in result.rejected.items():
            typer.echo(f"rejected: AlertRuleGroup/{name}: {why}", err=True)
        if result.rejected:
            raise typer.Exit(EXIT_PROBLEM)


def _connect(settings: Settings) -> Podman:
    from monop.runtime.podman import Podman, resolve_url

    return Podman(resolve_url(settings.podman_url))


async def _sync_rules(state: DesiredState, settings: Settings) -> SyncResult:
    from monop.prometheus import api as prom
    from monop.prometheus import rules as rulefiles

    async with prom.connect(settings.prometheus_url) as api:
        return await rulefiles.sync(state.rule_groups, settings.rules_dir, api)


@app.command()
def status(
    ctx: typer.Context,
    desired: DesiredOpt = None,
    state_dir: StateDirOpt = None,
    instance: InstanceOpt = None,
    as_json: JsonOpt = False,
    colour: Annotated[
        bool | None,
        typer.Option(
            "--colour/--no-colour", "--color/--no-color", help="Colour the states (default: on a terminal)."
        ),
    ] = None,
) -> None:
    """Show each resource's state beside what runs: InSync, Missing, Stopped, Drifted, ...

    Exit 0 when everything is in sync, 1 when anything is not, 2 when monop could not tell.
    """
    settings = _settings(ctx, desired=desired, state_dir=state_dir, instance=instance)
    from monop.cli import output as render
    from monop.daemon.statestore import StateStore
    from monop.reconcile import health
    from monop.reconcile.converge import survey
    from monop.reconcile.plan import units

    daemon, records = StateStore(settings.state_dir).load()
    alive = _running(daemon, settings.state_dir)
    # From git, what runs is compared with the revision the daemon applies, not the branch's newest.
    applied = ((daemon.git or {}).get("applied") or {}).get("revision") if daemon and alive else None
    state = _desired_state(settings, applied)
    # monop's own target is desired while its daemon runs, at the address it serves.
    own = daemon.metrics_address if daemon is not None and alive else None
    # What the daemon's own checks found last, for the containers that still run that way.
    known = health.from_records({k: r.health for k, r in records.items()}, time.time())
    podman = _connect(settings)
    try:
        result, (targets, rules) = asyncio.run(
            _gather(
                survey(units(state, settings.instance), podman, health=known, instance=settings.instance),
                _ask_prometheus(state, settings, own, daemon.rule_errors if daemon else {}),
            )
        )
    finally:
        podman.close()
    now = time.time()
    statuses = render.with_daemon(result.statuses, records, now)
    in_sync = (
        result.in_sync
        and (targets is None or not targets.reachable or targets.ok)
        and all(r.ok for r in rules)
    )
    if as_json:
        _print_json(
            {
                "inSync": in_sync,
                "resources": [render.status_json(s, records.get(s.key), targets) for s in statuses],
                # scrub(): a status.json an older monop wrote may hold a git URL's password.
                "daemon": None
                if daemon is None
                else scrub(
                    {
                        **dataclasses.asdict(daemon),
                        "running": alive,
                        "staleSince": render.stale_since(daemon, now) if alive else None,
                    }
                ),
                "prometheus": None if targets is None else targets.to_json(),
                "ruleGroups": [r.to_json() for r in rules],
            }
        )
    else:
        use_colour = sys.stdout.isatty() if colour is None else colour
        typer.echo(render.status_table(statuses, colour=use_colour, records=records, targets=targets))
        typer.echo("\n" + render.daemon_line(daemon, alive, now))
        typer.echo(render.prometheus_line(targets))
        if rules:
            typer.echo("rules: " + ", ".join(str(r) for r in rules))
    raise typer.Exit(EXIT_OK if in_sync else EXIT_PROBLEM)


async def _gather(*aws: Awaitable[Any]) -> list[Any]:
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


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    desired: DesiredOpt = None,
    prune: PruneOpt = True,
    instance: InstanceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the actions `apply` would take, with their reasons. Changes nothing.

    Exit 0 when there is nothing to do, 1 when there is.
    """
    settings = _settings(ctx, desired=desired, instance=instance)
    wanted = _desired_units(settings)
    from monop.cli import output as render
    from monop.daemon.records import holds_from_state
    from monop.reconcile.converge import survey

    # The daemon's crash loops and stalls, and the suspended resources: planned as the daemon plans.
    holds = holds_from_state(settings.state_dir)
    podman = _connect(settings)
    try:
        result = asyncio.run(survey(wanted, podman, prune=prune, instance=settings.instance, holds=holds))
    finally:
        podman.close()
    typer.echo(json.dumps(render.plan_json(result), indent=2) if as_json else str(result))
    raise typer.Exit(EXIT_OK if not result.actions else EXIT_PROBLEM)


@app.command()
def apply(
    ctx: typer.Context,
    desired: DesiredOpt = None,
    prune: PruneOpt = True,
    instance: InstanceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Converge once: create, start, restart, recreate and prune until what runs is what is desired.

    Exit 0 when everything ended in sync, 1 otherwise.
    """
    settings = _settings(ctx, desired=desired, instance=instance)
    state = _desired_state(settings, activate=True)
    from monop import log
    from monop.cli import output as render
    from monop.daemon.records import holds_from_state
    from monop.reconcile.converge import converge
    from monop.reconcile.plan import units
    from monop.runtime.podman import PodmanError

    wanted = units(state, settings.instance)
    # As `plan` and the daemon plan, but a stalled resource is tried: a person asking is what it waits for.
    holds = holds_from_state(settings.state_dir, stalled=False)

    log.configure(level="warning")  # the outcome lines say what happened; the log only what went wrong
    podman = _connect(settings)
    try:
        result = asyncio.run(
            converge(
                wanted,
                podman,
                prune=prune,
                parallelism=settings.parallelism,
                failure_types=(PodmanError,),
                on_outcome=None if as_json else lambda o: typer.echo(render.outcome_line(o)),
                instance=settings.instance,
                holds=holds,
            )
        )
    finally:
        podman.close()
    written, rejected = _publish_for_prometheus(state, settings, result.after)
    if as_json:
        _print_json(
            {
                "ok": result.ok and not rejected,
                "actions": [render.outcome_json(o) for o in result.outcomes],
                "resources": [render.status_json(s) for s in result.after.statuses],
                "filesWritten": [str(p) for p in written],
                "ruleGroupsRejected": rejected,
            }
        )
    else:
        for path in written:
            typer.echo(f"updated {path}")
        if not result.outcomes and not written:
            typer.echo(
                "nothing to do: everything is in sync" if result.after.in_sync else "nothing monop can do"
            )
        for s in result.after.statuses:
            if not s.state.ok:
                typer.echo(f"{s.key}: {s.state.value}: " + "; ".join(str(r) for r in s.reasons), err=True)
        for name, why in rejected.items():
            typer.echo(f"AlertRuleGroup/{name}: Rejected: {why}", err=True)
    raise typer.Exit(EXIT_OK if result.ok and not rejected else EXIT_PROBLEM)


def _publish_for_prometheus(
    state: DesiredState, settings: Settings, after: Plan
) -> tuple[list[Path], dict[str, str]]:
    """What the daemon keeps beside containers, once: target files and rule files.

    Targets follow what monop owns and keeps (`after`): none for a name another container
    holds, an orphan left running keeps its own. The paths written, and the rule groups
    promtool or Prometheus refused (their old files stay).
    """
    from monop.daemon.statestore import StateStore
    from monop.prometheus import scrape as prometheus

    daemon, _ = StateStore(settings.state_dir).load()
    address = (
        daemon.metrics_address if _running(daemon, settings.state_dir) else None
    ) or settings.metrics_address
    jobs = prometheus.jobs(
        state, settings.scrape_address, address, without=after.unowned, instance=settings.instance
    )
    written = prometheus.write_sd_files(jobs, settings.sd_dir, keep=after.kept_orphans)
    if not state.rule_groups and not settings.rules_dir.exists():
        return written, {}  # no rules, and none ever written: nothing to load (or import)
    result = asyncio.run(_sync_rules(state, settings))
    written += [settings.rules_dir / f"{name}.yml" for name in (*result.written, *result.removed)]
    return written, result.rejected


@app.command()
def run(
    ctx: typer.Context,
    desired: DesiredOpt = None,
    state_dir: StateDirOpt = None,
    instance: InstanceOpt = None,
    metrics_address: Annotated[
        str | None,
        typer.Option(
            "--metrics-address", help="host:port for /metrics, /healthz, /readyz (default: 127.0.0.1:9469)."
        ),
    ] = None,
    webhook_address: Annotated[
        str | None,
        typer.Option(
            "--webhook-address",
            help="host:port to serve POST /hooks/git on, apart from /metrics (default: on --metrics-address).",
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="auto (console on a terminal, else JSON), json or console.")
    ] = "auto",
) -> None:
    """Run the daemon: keep what runs equal to the desired state until SIGTERM.

    Reconciles on desired-state edits, or new commits when git_url is set (the branch's ref is watched, a remote is fetched every git_fetch_interval and on POST /hooks/git), on Podman events, on a periodic resync and on SIGHUP.

    Speaks sd_notify (READY, WATCHDOG, STATUS, RELOADING, STOPPING) when run by systemd. Settings come from flags, MONOP_* variables and the config file; see README.md.
    """
    flags = {
        "desired": desired,
        "state_dir": state_dir,
        "instance": instance,
        "metrics_address": metrics_address,
        "webhook_address": webhook_address,
    }
    settings = _settings(ctx, **flags)
    from monop import log
    from monop.daemon.daemon import Daemon
    from monop.daemon.triggers import run as run_daemon

    log.configure(json={"auto": None, "json": True, "console": False}.get(log_format))
    daemon = Daemon(settings, load_settings=lambda: _settings(ctx, **flags))
    daemon.lock.acquire()
    try:
        daemon.restore()
        asyncio.run(run_daemon(daemon))
    finally:
        daemon.podman.close()
        daemon.lock.release()


@app.command()
def history(
    ctx: typer.Context,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
) -> None:
    """List the revisions the daemon applied or rejected: when, result, what changed."""
    from monop.daemon.statestore import StateStore

    settings = _settings(ctx, state_dir=state_dir)
    entries = StateStore(settings.state_dir).history()[::-1][:limit]
    if as_json:
        _print_json(entries)
        return
    if not entries:
        typer.echo(f"no revisions recorded in {settings.state_dir} (is monop run following a git_url?)")
        return
    rows = [("TIME", "REVISION", "RESULT", "AUTHOR", "CHANGES", "SUBJECT")]
    for e in entries:
        when = datetime.fromtimestamp(e.get("at", 0), UTC).strftime("%Y-%m-%d %H:%M:%S")
        if e.get("result") == "rejected":
            changes = (e.get("errors") or ["?"])[0]
        else:
            marks = [("+", "created"), ("~", "recreated"), ("-", "removed")]
            changes = " ".join(f"{m}{key}" for m, field in marks for key in e.get(field, [])) or "-"
        rows.append(
            (
                when,
                str(e.get("revision", "-"))[:12],
                str(e.get("result")),
                str(e.get("author", "-")),
                changes,
                str(e.get("subject", "")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip())


@app.command()
def rollback(
    ctx: typer.Context,
    revision: Annotated[
        str | None, typer.Argument(help="A commit (sha or prefix); default: the previously applied one.")
    ] = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Take the stack back to an earlier revision and hold it there until `monop resume`.

    The revision is validated first; the running daemon is told at once (SIGHUP).
    """
    from monop.daemon.statestore import StateStore
    from monop.desired import source

    settings = _settings(ctx, state_dir=state_dir)
    git = source.git_source(settings)
    if git is None:
        _fail("rollback needs a git source: set git_url (see monop run --help)", EXIT_USAGE)
    store = StateStore(settings.state_dir)
    daemon, _ = store.load()
    if revision is None:
        current = ((daemon.git or {}).get("applied") or {}).get("revision") if daemon else None
        earlier = [
            e["revision"]
            for e in store.history()
            if e.get("result") in ("applied", "rollback") and e.get("revision") != current
        ]
        if not earlier:
            _fail("no earlier applied revision in the history; name one: monop rollback REV", EXIT_USAGE)
        revision = earlier[-1]
    commit = git.commit(revision)
    _desired_state(settings, commit.sha)  # exits 2 with the problems if that revision is invalid
    source.write_hold(settings.state_dir, source.Hold(commit.sha, time.time()))
    told = _signal_daemon(settings.state_dir)
    typer.echo(
        f"holding at {commit.short} ({commit.subject}); `monop resume` follows {settings.git_branch} again"
        + ("" if told else "\nmonop run is not running: it will start at this revision")
    )


@app.command()
def resume(ctx: typer.Context, state_dir: StateDirOpt = None) -> None:
    """Stop holding a rolled-back revision: follow the branch again."""
    from monop.desired import source

    settings = _settings(ctx, state_dir=state_dir)
    hold = source.read_hold(settings.state_dir)
    if hold is None:
        typer.echo("not held: the daemon follows the branch")
        return
    source.write_hold(settings.state_dir, None)
    _signal_daemon(settings.state_dir)
    typer.echo(f"released {hold.revision[:12]}; following {settings.git_branch}")


def _running(daemon: DaemonRecord | None, state_dir: Path) -> TypeGuard[DaemonRecord]:
    """Whether the daemon whose record this is still holds its state directory's lock."""
    return daemon is not None and DaemonLock(state_dir).holder() == daemon.pid


def _signal_daemon(state_dir: Path) -> bool:
    """SIGHUP the daemon holding this state directory, if one does: it re-reads its desired state."""
    pid = DaemonLock(state_dir).holder()
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False))


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"monop: {message}", err=True)
    sys.exit(code)


def main() -> None:
    """Entry point; the one place errors become exit codes."""
    try:
        app(prog_name="monop")
    except SettingsError as err:
        _fail(str(err), EXIT_USAGE)
    except (PodmanUnavailable, AlreadyRunning, StateDirUnusable, GitError) as err:
        _fail(str(err), EXIT_USAGE)
    except MonopError as err:
        _fail(str(err), EXIT_PROBLEM)
