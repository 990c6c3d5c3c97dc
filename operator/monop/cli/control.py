"""Commands that ask the running daemon or change what it holds: `reconcile`, `suspend`, `resume`,
`rollback` (and `--release`), `history`; and `completion`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monop.cli.app import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    CouldNotTell,
    Format,
    JsonOpt,
    NoHeadersOpt,
    OutputOpt,
    app,
    fail,
    load,
    note,
    output_format,
    print_document,
    resource_key,
)
from monop.cli.flags import with_settings
from monop.cli.state import desired_state, signal_daemon
from monop.errors import MonopError

if TYPE_CHECKING:
    from monop.settings import Settings

ResourceArg = Annotated[
    str, typer.Argument(help="KIND/NAME, as `monop get` shows it.", show_default=False, metavar="KIND/NAME")
]


def _known(settings: Settings, key: str) -> bool:
    """Whether `key` is desired, or a container the daemon keeps a record of (an orphan)."""
    from monop.daemon.statestore import StateStore

    _, records = StateStore(settings.state_dir).load()
    if key in records:
        return True
    try:
        state = desired_state(settings)
    except MonopError:
        return True  # cannot tell now (an invalid desired state): a person may mean it
    return any(r.key == key for r in (*state.resources, *state.rule_groups))


@app.command()
@with_settings
def history(
    ctx: typer.Context,
    output: OutputOpt = None,
    as_json: JsonOpt = False,
    no_headers: NoHeadersOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
) -> None:
    """List the revisions the daemon applied or rejected: when, result, what changed."""
    from monop.cli.output import rfc3339, table
    from monop.daemon.statestore import StateStore

    settings = load(ctx)
    entries = StateStore(settings.state_dir).history()[::-1][:limit]
    form = output_format(output, as_json)
    if form in (Format.JSON, Format.YAML):
        # `at`: when it was applied; `time`: the commit's own time. Both RFC 3339, as all JSON times.
        print_document(
            [{**e, "at": rfc3339(e.get("at")), "time": rfc3339(e.get("time"))} for e in entries], form
        )
        return
    if form is Format.NAME:
        for e in entries:
            typer.echo(str(e.get("revision", "-")))
        return
    if not entries:
        note(f"no revisions recorded in {settings.state_dir} (is monop run following a git_url?)")
        return
    rows = []
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
    header = ("TIME", "REVISION", "RESULT", "AUTHOR", "CHANGES", "SUBJECT")
    typer.echo(table(header, rows, headers=not no_headers))


@app.command()
@with_settings
def rollback(
    ctx: typer.Context,
    revision: Annotated[
        str | None, typer.Argument(help="A commit (sha or prefix); default: the previously applied one.")
    ] = None,
    release: Annotated[
        bool, typer.Option("--release", help="Stop holding a rolled-back revision: follow the branch again.")
    ] = False,
) -> None:
    """Take the stack back to an earlier revision and hold it there until `monop rollback --release`.

    The revision is validated first; the running daemon is told at once (SIGHUP).
    """
    from monop.daemon.statestore import StateStore
    from monop.desired import source

    settings = load(ctx)
    if release:
        if revision is not None:
            fail("--release takes no revision", EXIT_USAGE)
        hold = source.read_hold(settings.state_dir)
        if hold is None:
            typer.echo("not held: the daemon follows the branch")
            return
        source.write_hold(settings.state_dir, None)
        signal_daemon(settings.state_dir)
        typer.echo(f"released {hold.revision[:12]}; following {settings.git_branch}")
        return
    git = source.git_source(settings)
    if git is None:
        fail("rollback needs a git source: set git_url (see monop run --help)", EXIT_USAGE)
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
            fail("no earlier applied revision in the history; name one: monop rollback REV", EXIT_USAGE)
        revision = earlier[-1]
    commit = git.commit(revision)
    desired_state(settings, commit.sha)  # exits 1 with the problems if that revision is invalid
    source.write_hold(settings.state_dir, source.Hold(commit.sha, time.time()))
    told = signal_daemon(settings.state_dir)
    typer.echo(
        f"holding at {commit.short} ({commit.subject}); `monop rollback --release` follows {settings.git_branch} again"
        + ("" if told else "\nmonop run is not running: it will start at this revision")
    )


@app.command()
@with_settings
def suspend(ctx: typer.Context, resource: ResourceArg) -> None:
    """Stop repairing one resource while a person works on it; `monop resume KIND/NAME` ends it.

    monop still shows it (SUSPENDED in status) but neither starts, recreates nor removes its
    container. The running daemon is told at once. Exit 0, also when it already was suspended.
    """
    import getpass

    from monop.desired.suspend import suspend as hold

    settings = load(ctx)
    key = resource_key(resource)
    if not _known(settings, key):
        fail(f"no resource {key} in the desired state {settings.desired}", EXIT_PROBLEM)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = ""
    if not hold(settings.state_dir, key, time.time(), who):
        typer.echo(f"{key} was already suspended")
        return
    told = signal_daemon(settings.state_dir)
    typer.echo(
        f"suspended {key}: monop leaves it as it is until `monop resume {key}`"
        + ("" if told else " (monop run is not running: it will find it suspended)")
    )


@app.command()
@with_settings
def resume(
    ctx: typer.Context,
    resource: Annotated[
        str | None,
        typer.Argument(help="KIND/NAME of a suspended resource.", show_default=False, metavar="KIND/NAME"),
    ] = None,
) -> None:
    """Repair a suspended resource again (the end of `monop suspend KIND/NAME`).

    A rollback hold is released with `monop rollback --release`.
    """
    from monop.desired.suspend import resume as release

    if resource is None:
        fail(
            "resume takes KIND/NAME: it ends `monop suspend KIND/NAME`. "
            "To follow the branch again after a rollback, use `monop rollback --release`",
            EXIT_USAGE,
        )
    settings = load(ctx)
    key = resource_key(resource)
    if not release(settings.state_dir, key):
        typer.echo(f"{key} was not suspended")
        return
    signal_daemon(settings.state_dir)
    typer.echo(f"resumed {key}: monop repairs it again")


@app.command()
@with_settings
def reconcile(
    ctx: typer.Context,
    resource: Annotated[
        str | None,
        typer.Argument(help="KIND/NAME; default: every resource.", show_default=False, metavar="KIND/NAME"),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the daemon has reconciled what it queued.")
    ] = False,
    timeout: Annotated[
        str,
        typer.Option("--timeout", help="With --wait: give up after this long (a duration: 90s, 5m; exit 3)."),
    ] = "60s",
) -> None:
    """Ask the running daemon to reconcile now (POST /reconcile on its metrics_address).

    Exit 0 once queued (with --wait: once reconciled), 1 when the daemon knows no such resource,
    3 when no daemon runs on this state_dir or --timeout passed.
    """
    from monop.api.duration import parse_duration

    try:
        limit = parse_duration(timeout)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--timeout") from None
    settings = load(ctx)
    key = resource_key(resource) if resource is not None else None
    asked = time.time()
    queued = ask_reconcile(settings.state_dir, key)
    if not wait:
        typer.echo(f"queued: {', '.join(queued) or 'nothing'}")
        raise typer.Exit(EXIT_OK)
    pending = wait_reconciled(settings.state_dir, queued, asked, limit)
    if pending:
        raise CouldNotTell(
            f"not reconciled within {timeout}: {', '.join(pending)} (see `monop events` and the daemon's log)"
        )
    typer.echo(f"reconciled: {', '.join(queued) or 'nothing'}")


def daemon_address(state_dir: Path) -> str:
    """Where the daemon running on `state_dir` serves HTTP; CouldNotTell when none runs."""
    from monop.cli.state import running
    from monop.daemon.statestore import StateStore

    daemon, _ = StateStore(state_dir).load()
    if not running(daemon, state_dir) or not daemon.metrics_address:
        raise CouldNotTell(
            f"no daemon is running on {state_dir} (start `monop run`, or give its --state-dir)"
        )
    return daemon.metrics_address


def ask_reconcile(state_dir: Path, key: str | None) -> list[str]:
    """POST /reconcile[?resource=KEY] to the daemon; the keys it queued. Raises CouldNotTell when
    it cannot be reached; exits 1 when it knows no such resource."""
    import httpx

    address = daemon_address(state_dir)
    host, _, port = address.rpartition(":")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    try:
        answer = httpx.post(
            f"http://{host}:{port}/reconcile", params={"resource": key} if key else None, timeout=10.0
        )
    except httpx.HTTPError as err:
        raise CouldNotTell(f"cannot reach the daemon at {address}: {err}") from None
    body: Any = _json(answer)
    if answer.status_code == 404 and isinstance(body, dict) and "error" in body:
        fail(str(body["error"]), EXIT_PROBLEM)
    if answer.status_code != 202 or not isinstance(body, dict):
        raise CouldNotTell(
            f"the daemon at {address} answered {answer.status_code} to POST /reconcile: {answer.text[:200]}"
        )
    return [str(k) for k in body.get("queued", [])]


def _json(answer: Any) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def wait_reconciled(state_dir: Path, keys: list[str], asked: float, timeout: float) -> list[str]:
    """Poll the state file until each key's last_reconcile_at is later than `asked` (epoch
    seconds); the keys still waiting when `timeout` (seconds) passed."""
    from monop.daemon.statestore import StateStore

    store = StateStore(state_dir)
    deadline = time.monotonic() + timeout
    had = set(store.load()[1])  # a key recorded now and gone later was removed (an orphan): done
    while True:
        _, records = store.load()
        pending = [
            k
            for k in keys
            if (k not in records and k not in had)
            or (k in records and (records[k].last_reconcile_at or 0.0) <= asked)
        ]
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.2)


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print the shell completion script: `source <(monop completion bash)`.

    Or save it where the shell loads completions: ~/.local/share/bash-completion/completions/monop,
    a zsh $fpath directory as _monop, ~/.config/fish/completions/monop.fish.
    """
    from typer._completion_shared import get_completion_script

    if shell not in ("bash", "zsh", "fish"):
        fail(f"{shell!r}: completion is for bash, zsh or fish", EXIT_USAGE)
    typer.echo(get_completion_script(prog_name="monop", complete_var="_MONOP_COMPLETE", shell=shell))
