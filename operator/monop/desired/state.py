"""The desired state once loaded: resources with where they came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from monop.api.resources import Resource
from monop.desired.yamldoc import Path as FieldPath
from monop.errors import Problem

if TYPE_CHECKING:
    from monop.desired.dashboard import Dashboard


@dataclass(frozen=True)
class MountedFile:
    """A file or directory from the desired tree that a container mounts; its digest is part of the spec."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class LoadedResource:
    """One resource and its origin: the file it is in, its line, and the line of each field."""

    resource: Resource
    file: str
    line: int
    lines: Mapping[FieldPath, int] = field(repr=False, compare=False)
    base_dir: Path = field(repr=False)
    mounted: tuple[MountedFile, ...] = ()
    # What the secretEnvFrom files hold: secrets, so never in a repr (nor a traceback's locals).
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        return self.resource.key

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    def line_of(self, *path: str | int) -> int:
        """The line of the deepest part of `path` present in the source."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.line


@dataclass(frozen=True)
class DesiredState:
    """A whole, valid desired state. Warnings do not stop it from being applied."""

    resources: tuple[LoadedResource, ...]
    source: str
    warnings: tuple[Problem, ...] = ()
    revision: str | None = None
    rule_groups: tuple[LoadedResource, ...] = ()  # AlertRuleGroups: files for Prometheus, not containers
    alerting: tuple[LoadedResource, ...] = ()  # AlertReceivers and the AlertRouting: alertmanager.yml
    grafana: tuple[LoadedResource, ...] = ()  # GrafanaDashboards and GrafanaDatasources: Grafana's files
    dashboards: tuple[Dashboard, ...] = ()  # the GrafanaDashboards built (monop.desired.grafana)
    host: str | None = None  # whose selection this is (monop.desired.fleet)
    hosts: tuple[str, ...] = ()  # every host the tree names, this one among them
    fleet: bool = False  # the tree has hosts/ folders or placements: it is meant for several hosts
    # Of a host whose labels are not known here (monop.desired.fleet.Host.labels_known): the
    # kind/name of each resource its placement leaves undecided, left out of the selection.
    undecided: tuple[str, ...] = ()
    named: bool = True  # the tree names this host (a hosts/ folder, a placement's hostname)

    def by_name(self) -> dict[str, LoadedResource]:
        return {r.name: r for r in self.resources}
