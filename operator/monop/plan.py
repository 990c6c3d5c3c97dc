"""The planner: (desired, observed) -> the state of each resource and the actions that fix it.

Pure: no I/O, no clock. Deciding that a container is in sync costs nothing beyond the
container list: the spec hash label and the listed state settle it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monop import ownership
from monop.desired.state import DesiredState, LoadedResource
from monop.diff import Reason, spec_reasons
from monop.model.expand import expand, spec_hash
from monop.model.runtime import ContainerConfig
from monop.observed import LiveContainer, ObservedState, resolve_image
from monop.states import ActionKind, State


@dataclass(frozen=True)
class Unit:
    """One desired container, ready to compare and to create."""

    key: str
    kind: str
    config: ContainerConfig
    spec_hash: str
    labels: Mapping[str, str] = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.config.name


def unit(
    loaded: LoadedResource, revision: str | None = None, instance: str = ownership.DEFAULT_INSTANCE
) -> Unit:
    config = expand(loaded.resource, loaded.base_dir)
    mounted = {str(m.path): m.sha256 for m in loaded.mounted}
    digest = spec_hash(config, mounted.values())
    return Unit(
        loaded.key,
        loaded.resource.kind,
        config,
        digest,
        ownership.labels(loaded.resource.kind, config, digest, mounted, revision, instance),
    )


def units(desired: DesiredState, instance: str = ownership.DEFAULT_INSTANCE) -> list[Unit]:
    """The containers `instance` of monop makes of the desired state (labelled as its own)."""
    return [unit(r, desired.revision, instance) for r in desired.resources]


@dataclass(frozen=True)
class Status:
    """Where one resource (or orphan, or conflicting container) stands, and why."""

    key: str
    name: str
    state: State
    reasons: tuple[Reason, ...] = ()
    container: LiveContainer | None = None
    image: str = ""


@dataclass(frozen=True)
class Action:
    """One step toward the desired state, with what it acts on and why."""

    kind: ActionKind
    key: str
    name: str
    reasons: tuple[Reason, ...]
    unit: Unit | None = None
    container_id: str | None = None
    pull: bool = False

    def __str__(self) -> str:
        why = "; ".join(str(r) for r in self.reasons)
        pull = " (pull image first)" if self.pull else ""
        return f"{self.kind} {self.key}{pull}: {why}"


@dataclass(frozen=True)
class Plan:
    statuses: tuple[Status, ...]
    actions: tuple[Action, ...]

    def __str__(self) -> str:
        if not self.actions:
            return "nothing to do"
        return "\n".join(f"[{i}] {action}" for i, action in enumerate(self.actions, 1))

    @property
    def in_sync(self) -> bool:
        return all(s.state.ok for s in self.statuses)


# Order of execution: removals free names and ports before anything is created.
_ORDER = list(ActionKind)
_STOPPED = {"exited", "created", "stopped", "configured", "initialized"}


def plan(
    desired: Sequence[Unit],
    observed: ObservedState,
    *,
    prune: bool = True,
    instance: str = ownership.DEFAULT_INSTANCE,
) -> Plan:
    """What each resource's state is, and the actions that bring each to InSync.

    Only containers of this monop `instance` are acted on or reported as orphans; another
    instance's container holding a desired name is a Conflict.
    """
    live = observed.by_name()
    statuses: list[Status] = []
    actions: list[Action] = []
    for want in desired:
        status, action = _compare(want, live.get(want.name), observed.images, instance)
        statuses.append(status)
        if action is not None:
            actions.append(action)
    wanted = {u.name for u in desired}
    for container in observed.containers:
        if container.name in wanted or not ownership.is_owned(container.labels, instance):
            continue
        key = f"{container.labels.get(ownership.KIND, '?')}/{container.labels.get(ownership.NAME, container.name)}"
        reasons = (Reason("no longer desired"),)
        statuses.append(Status(key, container.name, State.ORPHAN, reasons, container, container.image))
        if prune:
            actions.append(Action(ActionKind.REMOVE, key, container.name, reasons, container_id=container.id))
    actions.sort(key=lambda a: (_ORDER.index(a.kind), a.key))
    return Plan(tuple(statuses), tuple(actions))


def _compare(
    want: Unit, have: LiveContainer | None, images: Mapping[str, str], instance: str
) -> tuple[Status, Action | None]:
    image_id = resolve_image(want.config.image, images)
    pull = want.config.pull_policy == "Always" or (
        want.config.pull_policy == "IfNotPresent" and image_id is None
    )

    def status(state: State, *reasons: Reason) -> Status:
        return Status(want.key, want.name, state, reasons, have, want.config.image)

    def act(kind: ActionKind, *reasons: Reason) -> Action:
        return Action(kind, want.key, want.name, reasons, want, have.id if have else None, pull)

    if have is None:
        reason = Reason("no container")
        return status(State.MISSING, reason), act(ActionKind.CREATE, reason)
    owner = ownership.instance_of(have.labels)
    if owner is None:
        reason = Reason(f"a container named {have.name} exists that monop does not manage; left alone")
        return status(State.CONFLICT, reason), None
    if owner != instance:
        reason = Reason(f"a container named {have.name} belongs to monop instance {owner!r}; left alone")
        return status(State.CONFLICT, reason), None
    drift = _drift(want, have, image_id)
    if drift:
        return status(State.DRIFTED, *drift), act(ActionKind.RECREATE, *drift)
    if have.state in _STOPPED:
        reason = Reason("state", _describe(have), "running")
        return status(State.STOPPED, reason), act(ActionKind.START, reason)
    if have.state == "paused":
        reason = Reason("state", "paused", "running")
        return status(State.STOPPED, reason), act(ActionKind.UNPAUSE, reason)
    if have.state != "running":
        # dead, removing, unknown: nothing to start; make it anew.
        reason = Reason("state", have.state, "running")
        return status(State.STOPPED, reason), act(ActionKind.RECREATE, reason)
    if have.health == "unhealthy":
        reason = Reason("health", "unhealthy", "healthy")
        return status(State.UNHEALTHY, reason), act(ActionKind.RESTART, reason)
    return status(State.IN_SYNC), None


def _drift(want: Unit, have: LiveContainer, image_id: str | None) -> list[Reason]:
    if have.labels.get(ownership.SPEC_HASH) != want.spec_hash:
        stored = ownership.stored_record(have.labels)
        desired = ownership.stored_record(want.labels) or {}
        reasons = spec_reasons(stored, desired) if stored is not None else []
        if reasons:
            return reasons
        return [Reason("spec hash", have.labels.get(ownership.SPEC_HASH, "(none)"), want.spec_hash)]
    if image_id is not None and have.image_id and not _same_id(have.image_id, image_id):
        return [Reason(f"image ID of {want.config.image}", _short(have.image_id), _short(image_id))]
    return []


def _same_id(a: str, b: str) -> bool:
    return a.removeprefix("sha256:") == b.removeprefix("sha256:")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _describe(container: LiveContainer) -> str:
    if container.state == "exited" and container.exit_code is not None:
        return f"exited (code {container.exit_code})"
    return container.state
