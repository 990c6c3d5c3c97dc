"""One desired tree for several hosts: what each host runs, and the hosts a tree names.

A tree holds shared resources and, in `hosts/<hostname>/`, each host's own. A host's selection
is the shared resources with its own ones put over them: a document there with the same
kind/name replaces the shared one whole (no field merge, so what runs is one document a person
can read), and then every resource whose `spec.placement` does not match the host's labels
is left out. The hosts a tree names are the folders under `hosts/` and every host name a
placement names; the loader validates each one's selection (monop.desired.loader).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from monop.api.placement import HOST_NAME, HOST_NAME_RULE, HOSTNAME_LABEL, Placement
from monop.desired.state import LoadedResource
from monop.errors import Problem, Severity

HOSTS_DIR = "hosts"
# The label a fleet's scrape targets carry, naming the host that runs them (monop.prometheus.scrape).
TARGET_HOST_LABEL = "host"


@dataclass(frozen=True)
class Host:
    """A host as the desired state sees it: its name and its labels (`hostname` among them)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    # False for another host of the fleet: its `host_labels` are its own daemon's, only its name
    # is known here, and a placement on any other label is undecided for it.
    labels_known: bool = True

    def known(self) -> frozenset[str] | None:
        """The label keys whose values are known (None: all of them)."""
        return None if self.labels_known else frozenset({HOSTNAME_LABEL})

    def all_labels(self) -> dict[str, str]:
        """The labels placements are matched against: the given ones and `hostname`."""
        return {**self.labels, HOSTNAME_LABEL: self.name}


def this_host(name: str | None = None, labels: Mapping[str, str] | None = None) -> Host:
    """This machine: `name` (the `host_name` setting) or its hostname, with `labels` (`host_labels`)."""
    return Host(name or socket.gethostname(), dict(labels or {}))


def host_of(relative: PurePosixPath) -> str | None:
    """The host a file of the tree belongs to (`hosts/<name>/...`), or None for a shared file.

    Raises ValueError for a file directly in `hosts/`, which belongs to no host, and for a folder
    name that is not a host name (HOST_NAME).
    """
    parts = relative.parts
    if len(parts) < 2 or parts[0] != HOSTS_DIR:
        return None
    if len(parts) == 2:
        raise ValueError(
            f"in {HOSTS_DIR}/ itself, a file belongs to no host; put it in {HOSTS_DIR}/<hostname>/"
        )
    if not HOST_NAME.fullmatch(parts[1]):
        raise ValueError(f"{HOSTS_DIR}/{parts[1]}/: {parts[1]!r} is not a host name: {HOST_NAME_RULE}")
    return parts[1]


def case_clashes(names: Iterable[str]) -> list[str]:
    """A message for each set of host folder names that differ only in case (`alpha`, `Alpha`):
    host names are DNS names, so they would be one host."""
    by_lower: dict[str, list[str]] = {}
    for name in sorted(names):
        by_lower.setdefault(name.lower(), []).append(name)
    return [
        f"{', '.join(f'{HOSTS_DIR}/{n}/' for n in same)}: host names that differ only in case name one host; "
        "keep one folder"
        for same in by_lower.values()
        if len(same) > 1
    ]


def named_hosts(
    per_host: Mapping[str, Sequence[LoadedResource]], resources: Iterable[LoadedResource]
) -> set[str]:
    """The hosts a tree names: its `hosts/<name>/` folders and the host names placements name."""
    names = set(per_host)
    for loaded in resources:
        placement = placement_of(loaded)
        if placement is not None:
            names.update(placement.hostnames())
    return names


def never_run(per_host: Mapping[str, Sequence[LoadedResource]], host: Host) -> list[Problem]:
    """A warning for each `hosts/<name>/` document whose placement leaves host `name` out: it
    runs nowhere (it is no other host's). Decided with `host`'s labels for `host`, with the
    name alone for another host."""
    out = []
    for name, own in sorted(per_host.items()):
        judged = host if name == host.name else Host(name, labels_known=False)
        for loaded in own:
            placement = placement_of(loaded)
            if placement is not None and placement.decides(judged.all_labels(), judged.known()) is False:
                out.append(
                    Problem(
                        loaded.file,
                        loaded.line_of("spec", "placement"),
                        loaded.key,
                        "spec.placement",
                        f"never runs: it is in {HOSTS_DIR}/{name}/, and its placement leaves host {name} out",
                        Severity.WARNING,
                    )
                )
    return out


def host_label_clashes(resources: Iterable[LoadedResource]) -> list[Problem]:
    """A warning for each scrape whose `labels` set `host`: in a fleet's tree that label names
    the host that runs the target, and replaces the one written."""
    from monop.api.targets import TargetError, targets
    from monop.desired.yamldoc import dotted

    out = []
    for loaded in resources:
        if not hasattr(loaded.resource.spec, "scrape_endpoints"):
            continue  # a kind with no container has no targets
        try:
            found = targets(loaded.resource, "")
        except TargetError:
            continue  # said where the targets are checked
        for target in found:
            written = dict(target.labels).get(TARGET_HOST_LABEL)
            if written is None:
                continue
            field = (*target.field, "labels", TARGET_HOST_LABEL)
            if field not in loaded.lines:  # one scrape written as a mapping, not a list
                field = tuple(p for p in field if not isinstance(p, int))
            message = (
                f"in a fleet's tree the label {TARGET_HOST_LABEL!r} names the host that runs the target: "
                f"{written!r} is replaced by it; use another label name"
            )
            out.append(
                Problem(
                    loaded.file, loaded.line_of(*field), loaded.key, dotted(field), message, Severity.WARNING
                )
            )
    return out


def placement_of(loaded: LoadedResource) -> Placement | None:
    """The resource's `spec.placement`; None when it has none (or its kind has no container)."""
    placement = getattr(loaded.resource.spec, "placement", None)
    return placement if isinstance(placement, Placement) else None


def selection(
    shared: Sequence[LoadedResource], own: Sequence[LoadedResource], host: Host
) -> list[LoadedResource]:
    """What `host` runs: `shared` with its `own` documents replacing those of the same kind/name,
    then only what its placement puts on this host (not what is undecided: see `undecided`)."""
    return [r for r in _merged(shared, own) if _placed(r, host) is True]


def undecided(
    shared: Sequence[LoadedResource], own: Sequence[LoadedResource], host: Host
) -> list[LoadedResource]:
    """What `host` may run or not: placed by a label of it that is not known here (another host's)."""
    return [r for r in _merged(shared, own) if _placed(r, host) is None]


def _merged(shared: Sequence[LoadedResource], own: Sequence[LoadedResource]) -> list[LoadedResource]:
    mine = {r.key for r in own}
    return [r for r in shared if r.key not in mine] + list(own)


def _placed(loaded: LoadedResource, host: Host) -> bool | None:
    placement = placement_of(loaded)
    return True if placement is None else placement.decides(host.all_labels(), host.known())


def combine(by_host: Mapping[str, Sequence[Problem]], own: str) -> list[Problem]:
    """One list of the problems each host's selection has: one every host has is said once, as
    it is; one only some hosts have names each of them (`on host beta: ...`). Warnings are
    this host's only (another host's files and devices are not here to look at)."""
    if len(by_host) == 1:
        return list(next(iter(by_host.values())))
    everywhere = set.intersection(*(set(p) for p in by_host.values()))
    out: list[Problem] = [p for p in by_host.get(own, ()) if p in everywhere]
    for name, problems in sorted(by_host.items()):
        for p in problems:
            if p in everywhere or (p.severity is not Severity.ERROR and name != own):
                continue
            out.append(
                Problem(p.file, p.line, p.resource, p.field, f"on host {name}: {p.message}", p.severity)
            )
    return list(dict.fromkeys(out))
