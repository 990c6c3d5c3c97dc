"""`monop export kubernetes`: the desired state as manifests a cluster with the Prometheus Operator runs.

`export()` makes every part (monop.export.workloads, monop.export.alerting, and the Grafana
sidecar's dashboard ConfigMaps); `render()` writes them as one multi-document YAML stream,
`files()` as one file per resource. Pure: it reads the loaded state (and files of the desired
tree that containers mount), never Podman, Prometheus or a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from monop.desired.state import DesiredState
from monop.export.alerting import alertmanager_config, rule_group
from monop.export.model import Export, Manifest, Part, is_label
from monop.export.workloads import NAME_LABEL, metadata, workload

# The first line of every file the export writes: how `--out` knows its own files from a user's.
HEADER = "# Written by `monop export kubernetes` from the desired state; edit that, not this.\n"

# The label the Grafana sidecar (kiwigrid/k8s-sidecar, as kube-prometheus-stack configures it)
# watches for: each ConfigMap carrying it is a dashboard provider's files.
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"


@dataclass(frozen=True)
class Dashboard:
    """A Grafana dashboard to export: its name, its JSON files (file name -> text), where it came from."""

    name: str
    files: Mapping[str, str]
    file: str
    line: int
    folder: str | None = None


def dashboard_config_map(dashboard: Dashboard, namespace: str | None) -> Part:
    """The ConfigMap the Grafana sidecar reads (label `grafana_dashboard: "1"`)."""
    part = Part(f"GrafanaDashboard/{dashboard.name}", dashboard.file, dashboard.line)
    annotations = {DASHBOARD_FOLDER_ANNOTATION: dashboard.folder} if dashboard.folder else None
    part.manifests.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(
                f"dashboard-{dashboard.name}",
                namespace,
                {DASHBOARD_LABEL: "1", "app.kubernetes.io/name": dashboard.name},
                annotations,
            ),
            "data": dict(dashboard.files),
        }
    )
    return part


def export(
    state: DesiredState,
    namespace: str | None = None,
    dashboards: Iterable[Dashboard] = (),
    labels: Mapping[str, str] | None = None,
) -> Export:
    """Every resource of `state` as manifests, in the namespace given (none: kubectl's current one).

    `dashboards` is the hook for Grafana dashboards, exported as the sidecar's ConfigMaps.
    `labels` go on every manifest: what a Prometheus's `serviceMonitorSelector` or
    `ruleSelector` matches (`release: kube-prometheus-stack`). Raises ValueError for a label
    Kubernetes refuses or one the export sets itself (label_problem: its message).
    """
    for key, value in (labels or {}).items():
        problem = label_problem(key, value)
        if problem is not None:
            raise ValueError(problem)
    parts = [workload(loaded, namespace) for loaded in sorted(state.resources, key=lambda x: x.key)]
    parts += [rule_group(loaded, namespace) for loaded in sorted(state.rule_groups, key=lambda x: x.name)]
    routing = alertmanager_config(state.alerting, namespace)
    if routing is not None:
        parts.append(routing)
    parts += [dashboard_config_map(d, namespace) for d in sorted(dashboards, key=lambda d: d.name)]
    for part in parts:
        for manifest in part.manifests:
            manifest["metadata"]["labels"].update(labels or {})
    return Export(tuple(parts), namespace)


def label_problem(key: str, value: str) -> str | None:
    """What is wrong with `key=value` as a label of every manifest, in words; None when nothing."""
    if not is_label(key, value):
        return f"{key}={value}: not a Kubernetes label (a name of at most 63 letters, digits, '-', '_', '.')"
    if key == NAME_LABEL:
        return f"{key}: the export sets it to each resource's name, which the selectors match"
    return None


def _comments(part: Part) -> str:
    lines = [f"From {part.source} ({part.file}:{part.line})"]
    lines += part.comments
    lines += [
        (f"{x.resource}: " if x.resource != part.source else "") + f"{x.field}: {x.verdict} {x.message}"
        for x in part.leftovers
    ]
    lines += [
        f"Needs Secret {s.name}" + (f" key {s.key}" if s.key else "") + f": {s.what}" for s in part.secrets
    ]
    return "".join(f"# {line}\n" for text in lines for line in text.splitlines())


class _Dumper(yaml.SafeDumper):
    """Text of several lines (a ConfigMap's file, the leftovers annotation) as a `|` block."""


# Line breaks YAML knows besides \n: written as they are, a reader turns them into a \n or a space.
_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(mark in value for mark in _OTHER_BREAKS):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')  # escaped there
    # A block cannot hold trailing spaces on a line faithfully: such text stays quoted.
    block = "\n" in value and not any(line != line.rstrip() for line in value.splitlines())
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if block else None)


_Dumper.add_representer(str, _text)


def _document(manifest: Manifest) -> str:
    return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def render_part(part: Part) -> str:
    """The part's manifests as YAML documents, its source and leftovers as comments above them."""
    return _comments(part) + "---\n".join(_document(m) for m in part.manifests)


def render(result: Export) -> str:
    """One multi-document YAML stream, for `kubectl apply -f -`."""
    return HEADER + "---\n" + "---\n".join(render_part(part) for part in result.parts if part.manifests)


def files(result: Export) -> dict[str, str]:
    """One file per resource: `exporter-node-exporter.yaml`, `alertrouting-alertmanager.yaml`; each
    starts with `HEADER`.
    """
    out = {}
    for part in result.parts:
        if part.manifests:
            kind, _, name = part.source.partition("/")
            out[f"{kind.lower()}-{name}.yaml"] = HEADER + render_part(part)
    return out
