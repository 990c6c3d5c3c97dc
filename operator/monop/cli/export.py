"""`monop export kubernetes`: the desired state as Kubernetes and Prometheus Operator manifests."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from monop.cli.app import app, load, note, print_document
from monop.cli.flags import with_settings
from monop.cli.state import desired_state


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
    from monop.export.kubernetes import export, files, render
    from monop.files import write_atomic

    labels = {}
    for item in label or []:
        key, equals, value = item.partition("=")
        if not equals:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--label")
        labels[key] = value
    state = desired_state(load(ctx))
    try:
        result = export(state, namespace, labels=labels)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--label") from None
    written: list[str] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files(result).items():
            write_atomic(out / name, text, mode=0o644)
            written.append(str(out / name))
    if output is Form.JSON:
        report: dict[str, object] = {
            "notCarriedOver": [x.to_json() for x in result.leftovers],
            "secretsNeeded": [s.to_json(namespace) for s in result.secrets],
        }
        if out is not None:
            report = {"files": written, **report}
        else:
            report = {"manifests": result.manifests, **report}
        print_document(report)
    elif out is None:
        typer.echo(render(result), nl=False)
    else:
        for path in written:
            typer.echo(f"wrote: {path}")
    for leftover in result.leftovers:
        note(str(leftover))
    for secret in result.secrets:
        note(f"{secret}; {secret.command(namespace)}")
