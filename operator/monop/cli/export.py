"""`monop export kubernetes`: the desired state as Kubernetes and Prometheus Operator manifests."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monop.cli.app import app, load, note, print_document
from monop.cli.flags import with_settings
from monop.cli.state import desired_state

if TYPE_CHECKING:
    from monop.desired.state import DesiredState
    from monop.export.kubernetes import Dashboard


class Form(StrEnum):
    YAML = "yaml"
    JSON = "json"


export_app = typer.Typer(
    help="Write the desired state for another platform.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(export_app, name="export")


@export_app.command("kubernetes")
@with_settings
def export_kubernetes(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write one file per resource into this directory instead of stdout."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace of every manifest (default: none set).")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            metavar="KEY=VALUE",
            help="KEY=VALUE on every manifest, as a Prometheus's selectors want (release=kube-prometheus-stack); repeatable.",
        ),
    ] = None,
    output: Annotated[
        Form | None,
        typer.Option(
            "--output",
            "-o",
            help="yaml (the default): the manifests; json: one report with the manifests (or files "
            "written), what was not carried over and the Secrets they need.",
        ),
    ] = None,
) -> None:
    """Print manifests a cluster runs: node-level exporters and cAdvisor as DaemonSets, the rest as
    Deployments with Services, scrape blocks as ServiceMonitors and PodMonitors, rule groups as
    PrometheusRules, receivers and routing as one AlertmanagerConfig.

    What has no Kubernetes equivalent is listed on stderr (and as a comment and an annotation),
    never dropped silently; secrets become Secret references, never values. Exit 0, or 1 when
    the desired state is invalid.
    """
    from monop.export.kubernetes import export, files, label_problem, render
    from monop.export.model import secret_commands
    from monop.files import write_atomic

    if namespace is not None and not _NAMESPACE.match(namespace):
        raise typer.BadParameter(
            f"{namespace!r} is not a namespace: at most 63 lower-case letters, digits and '-', "
            "a letter or digit at each end",
            param_hint="--namespace",
        )
    labels = {}
    for item in label or []:
        key, equals, value = item.partition("=")
        if not equals:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--label")
        problem = label_problem(key, value)
        if problem is not None:
            raise typer.BadParameter(problem, param_hint="--label")
        labels[key] = value
    state = desired_state(load(ctx))
    result = export(state, namespace, _dashboards(state), labels=labels)
    written: list[str] = []
    removed: list[str] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        texts = files(result)
        for name, text in texts.items():
            write_atomic(out / name, text, mode=0o644)
            written.append(str(out / name))
        removed = [str(path) for path in _stale(out, set(texts))]
    commands = secret_commands(result.secrets, namespace)
    if output is Form.JSON:
        report: dict[str, object] = {
            "notCarriedOver": [x.to_json() for x in result.leftovers],
            "secretsNeeded": [s.to_json(commands[s.name]) for s in result.secrets],
        }
        if out is not None:
            report = {"files": written, "removed": removed, **report}
        else:
            report = {"manifests": result.manifests, **report}
        print_document(report)
    elif out is None:
        typer.echo(render(result), nl=False)
    else:
        for path in written:
            typer.echo(f"wrote: {path}")
        for path in removed:
            typer.echo(f"removed: {path} (an earlier export's, of a resource no longer desired)")
    for leftover in result.leftovers:
        note(str(leftover))
    for secret in result.secrets:
        note(str(secret))
    for command in commands.values():
        note(f"to make it: {command}")


def _dashboards(state: DesiredState) -> list[Dashboard]:
    """The GrafanaDashboards as the sidecar's ConfigMaps take them: `UID.json`, the JSON monop provisions."""
    from monop.export.kubernetes import Dashboard

    return [
        Dashboard(d.loaded.name, {f"{d.uid}.json": d.to_json()}, d.loaded.file, d.loaded.line, d.folder)
        for d in state.dashboards
    ]


# A namespace's name: an RFC 1123 label, as Kubernetes checks it.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _stale(out: Path, keep: set[str]) -> list[Path]:
    """Remove the `.yaml` files in `out` an earlier export wrote (its header first) and this one did not.

    Returns the paths removed; a file of anyone else's stays. Raises OSError as unlink does.
    """
    from monop.export.kubernetes import HEADER

    removed = []
    for path in sorted(out.glob("*.yaml")):
        if path.name in keep or not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as stream:
            first = stream.readline()
        if first == HEADER:
            path.unlink()
            removed.append(path)
    return removed
