"""The Typer app, the options every command shares, and the exit codes, mapped in one place.

Exit codes, the same for every command:

    0  ok: valid, in sync, done
    1  the desired state is invalid, or what runs differs from it (drift), or an action failed
    2  usage: a wrong flag, setting or argument
    3  could not tell: Podman, Prometheus or the daemon could not be reached, or a wait timed out

Commands import what only they use when they run: `monop --version` and `--help` stay fast.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from monop.cli.flags import given, with_settings
from monop.errors import MonopError

if TYPE_CHECKING:
    from monop.settings import Settings

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


def exit_code(err: BaseException) -> int:
    """The exit code of an error that ended a command (see the module docstring)."""
    from monop.daemon.statestore import AlreadyRunning, StateDirUnusable
    from monop.desired.git import GitError
    from monop.errors import PodmanUnavailable, SettingsError

    if isinstance(err, GitError) and err.operation in ("fetch", "ls-remote"):
        return EXIT_UNKNOWN  # the remote did not answer as asked: monop could not tell
    if isinstance(err, SettingsError | AlreadyRunning | StateDirUnusable | GitError):
        return EXIT_USAGE
    if isinstance(err, PodmanUnavailable | CouldNotTell):
        return EXIT_UNKNOWN
    return EXIT_PROBLEM  # InvalidDesiredState, and every other MonopError


class CouldNotTell(MonopError):
    """The daemon (or another part monop asks) could not be reached, or did not answer in time: exit 3."""


app = typer.Typer(
    help="Keep a Podman monitoring stack the way its desired-state YAML says.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: half the time of rich's, and what a terminal pastes well
)


class Format(StrEnum):
    JSON = "json"
    YAML = "yaml"
    WIDE = "wide"
    NAME = "name"


OutputOpt = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="json, yaml, wide (more columns) or name (KIND/NAME only)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="The same as -o json.")]
NoHeadersOpt = Annotated[bool, typer.Option("--no-headers", help="Print tables without their header row.")]
ColourOpt = Annotated[
    bool | None,
    typer.Option(
        "--colour/--no-colour",
        "--color/--no-color",
        help="Colour the states (default: on a terminal, unless NO_COLOR is set).",
    ),
]
PruneOpt = Annotated[
    bool, typer.Option("--prune/--no-prune", help="Remove monop's containers that are no longer desired.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $MONOP_CONFIG, else /etc/monop/config.yaml if present)."
    ),
]


def output_format(output: Format | None, as_json: bool) -> Format | None:
    """-o, or --json; None is the table."""
    return Format.JSON if as_json else output


def _version(value: bool) -> None:
    if value:
        from monop import __version__

        typer.echo(f"monop {__version__}")
        raise typer.Exit()


@app.callback()
@with_settings
def _root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = {"config": Path(config) if config else None}  # given as text: see flags.cheapen


def load(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings from the setting flags on this command line (and `overrides` a command computed),
    then MONOP_* variables, then the config file."""
    from monop.settings import load_settings

    root = ctx.find_root()
    flags = {**given(ctx), **{k: v for k, v in overrides.items() if v is not None}}
    return load_settings(flags, root.obj["config"] if root.obj else None)


def print_document(value: object, form: Format | None = Format.JSON) -> None:
    """A JSON or YAML document on stdout."""
    if form is Format.YAML:
        import yaml

        typer.echo(yaml.safe_dump(value, sort_keys=False, allow_unicode=True), nl=False)
    else:
        import json

        typer.echo(json.dumps(value, indent=2, sort_keys=False))


def note(message: str) -> None:
    """A diagnostic: on stderr, never mixed into what a script reads."""
    typer.echo(message, err=True)


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"monop: {message}", err=True)
    sys.exit(code)


def resource_key(resource: str) -> str:
    """KIND/NAME with the kind as monop spells it (`exporters/x`, `exporter/x`: `Exporter/x`);
    anything else ends the command with exit 2."""
    from monop.api.rules import ALL_KINDS

    kind, slash, name = resource.partition("/")
    if not slash or not kind or not name:
        fail(f"{resource!r} is not KIND/NAME (for example Exporter/node-exporter)", EXIT_USAGE)
    spelled = {k.lower(): k for k in ALL_KINDS}
    found = spelled.get(kind.lower()) or spelled.get(kind.lower().removesuffix("s"))
    if found is None:
        fail(f"no kind {kind!r}; the kinds are {', '.join(sorted(ALL_KINDS))}", EXIT_USAGE)
    return f"{found}/{name}"
