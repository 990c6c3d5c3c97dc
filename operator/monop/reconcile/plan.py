"""The planner: (desired, observed, holds) -> the state of each resource and the actions that fix it.

Pure: no I/O, no clock (the time is in the holds). Deciding that a container is in sync costs
nothing beyond the container list: the spec hash label and the listed state settle it. Every
decision is made here, for `monop plan`, `monop apply` and the daemon alike: an action held back
(a crash loop, a suspended or stalled resource) is in the plan, marked deferred, and the executor
skips it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from monop import secrets
from monop.api.duration import format_duration
from monop.desired.state import DesiredState, LoadedResource
from monop.reconcile.diff import Reason, spec_reasons
from monop.reconcile.health import Health, HttpProbe, Knowledge, Verdict, probe_of
from monop.reconcile.holds import Deferral, Deferred, Holds
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig
from monop.runtime.expand import expand, spec_hash
from monop.runtime.observed import LiveContainer, ObservedState, resolve_image


@dataclass(frozen=True)
class Unit:
    """One desired container, ready to compare and to create."""

    key: str
    kind: str
    config: ContainerConfig
    spec_hash: str
    labels: Mapping[str, str] = field(compare=False, repr=False)
    probe: HttpProbe | None = field(default=None, compare=False)  # not part of the container
    secrets: secrets.Secrets = field(default=secrets.Secrets(), compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.config.name


def unit(
    loaded: LoadedResource,
    revision: str | None = None,
    instance: str = ownership.DEFAULT_INSTANCE,
    host: str | None = None,
) -> Unit:
    config = expand(loaded.resource, loaded.base_dir, loaded.secret_env)
    mounted = {str(m.path): m.sha256 for m in loaded.mounted}
    digest = spec_hash(config, mounted.values())
    found = unit_secrets(config, loaded.secret_env)
    # Log lines and state files are scrubbed of every secret this process has seen.
    secrets.remember(found)
    return Unit(
        loaded.key,
        loaded.resource.kind,
        config,
        digest,
        ownership.labels(loaded.resource.kind, config, digest, mounted, revision, found, instance, host),
        probe=probe_of(loaded.resource),
        secrets=found,
    )


def unit_secrets(config: ContainerConfig, secret_env: Mapping[str, str] | None = None) -> secrets.Secrets:
    """Every secret value of a container: see monop.secrets for what counts as one."""
    return secrets.collect(
        config.env,
        (config.command, config.args, config.healthcheck.test if config.healthcheck else None),
        texts=[v for _, v in config.labels],
        secret_names=secret_env or (),
    )


def fleet_host(desired: DesiredState | None) -> str | None:
    """The host whose containers alone `plan` may touch (its `host`): that of a fleet's tree
    (monop.desired.fleet), where several hosts' daemons may share one Podman. None otherwise:
    one host's tree owns its instance's containers whatever host they name (a renamed
    machine keeps what runs)."""
    return desired.host if desired is not None and desired.fleet else None


def units(desired: DesiredState, instance: str = ownership.DEFAULT_INSTANCE) -> list[Unit]:
    """The containers `instance` of monop makes of the desired state (labelled as its own, and
    with the host whose selection it is)."""
    return [unit(r, desired.revision, instance, desired.host) for r in desired.resources]


@dataclass(frozen=True)
class Status:
    """Where one resource (or orphan, or conflicting container) stands, and why."""

    key: str
    name: str
    state: State
    reasons: tuple[Reason, ...] = ()
    container: LiveContainer | None = None
    image: str = ""
    health: Verdict | None = None  # of a running container that something checks
    hold: Deferral | None = None  # what holds its action back: suspended, crash loop, stalled


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
    container_state: str | None = None  # of the container acted on, as listed
    leftover: str | None = None  # ID of a replacement an interrupted recreate left; removed first
    deferred: Deferral | None = None  # planned, but not carried out now (the executor skips it)

    def __str__(self) -> str:
        pull = " (pull image first)" if self.pull else ""
        if self.deferred is not None:
            return f"{self.kind} {self.key}{pull} deferred: {self.deferred}"
        why = "; ".join(str(r) for r in self.reasons)
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
    def runnable(self) -> tuple[Action, ...]:
        """The actions to carry out now: every one not deferred."""
        return tuple(a for a in self.actions if a.deferred is None)

    @property
    def in_sync(self) -> bool:
        return all(s.state.ok for s in self.statuses)

    @property
    def unowned(self) -> frozenset[str]:
        """Desired resources whose name a container monop does not own holds: not monop's to scrape."""
        return frozenset(s.key for s in self.statuses if s.state is State.CONFLICT)

    @property
    def kept_orphans(self) -> frozenset[str]:
        """Orphans this plan leaves running (it does not prune them): their targets stay."""
        removed = {a.key for a in self.runnable if a.kind is ActionKind.REMOVE}
        return frozenset(s.key for s in self.statuses if s.state is State.ORPHAN and s.key not in removed)


# Order of execution: removals free names and ports before anything is created.
_ORDER = list(ActionKind)
_STOPPED = {"exited", "created", "stopped", "configured", "initialized"}
# Actions that start a container's process again: what a crash loop spaces out.
RESTARTS = frozenset({ActionKind.START, ActionKind.RESTART, ActionKind.UNPAUSE})


def plan(
    desired: Sequence[Unit],
    observed: ObservedState,
    *,
    prune: bool = True,
    health: Knowledge | None = None,
    instance: str = ownership.DEFAULT_INSTANCE,
    holds: Holds | None = None,
    host: str | None = None,
) -> Plan:
    """What each resource's state is, and the actions that bring each to InSync.

    `health` adds what monop's own checks found, and the time a `starting` one is judged at.
    `holds` adds restarts asked for from outside (a target down), and defers actions: a
    suspended resource's, a stalled one's, and a start in a crash loop before its time.
    Only containers of this monop `instance` on this `host` (monop.runtime.ownership.is_owned)
    are acted on or reported as orphans; another instance's or another host's container holding
    a desired name is a Conflict. `host` None: the host label is not looked at.
    """
    live = observed.by_name()
    statuses: list[Status] = []
    actions: list[Action] = []
    for want in desired:
        status, action = _compare(want, live.get(want.name), observed.images, instance, health, host)
        pending = live.get(ownership.swap_name(want.name))
        if (
            pending is not None
            and ownership.swapping_for(pending.name, pending.labels, instance, host) == want.name
        ):
            status, action = _interrupted_swap(want, status, action, pending, observed.images, instance, host)
        if holds is not None:
            status, action = _held(want, status, action, holds)
        statuses.append(status)
        if action is not None:
            actions.append(action)
    wanted = {u.name for u in desired}
    for container in observed.containers:
        if container.name in wanted or not ownership.is_owned(container.labels, instance, host):
            continue
        if ownership.swapping_for(container.name, container.labels, instance, host) in wanted:
            continue  # a desired resource's replacement: its unit deals with it
        key = f"{container.labels.get(ownership.KIND, '?')}/{container.labels.get(ownership.NAME, container.name)}"
        reasons = (Reason("no longer desired"),)
        status = Status(key, container.name, State.ORPHAN, reasons, container, container.image)
        action = None
        if prune:
            action = Action(ActionKind.REMOVE, key, container.name, reasons, container_id=container.id)
        if holds is not None:
            status, action = _held(None, status, action, holds)
        statuses.append(status)
        if action is not None:
            actions.append(action)
    actions.sort(key=lambda a: (_ORDER.index(a.kind), a.key))
    return Plan(tuple(statuses), tuple(actions))


def _compare(
    want: Unit,
    have: LiveContainer | None,
    images: Mapping[str, str],
    instance: str,
    health: Knowledge | None = None,
    host: str | None = None,
) -> tuple[Status, Action | None]:
    image_id = resolve_image(want.config.image, images)
    pull = want.config.pull_policy == "Always" or (
        want.config.pull_policy == "IfNotPresent" and image_id is None
    )

    verdict = None
    if have is not None and health is not None:
        verdict = health.judge(want.key, want.config.healthcheck, have, want.secrets)

    def status(state: State, *reasons: Reason) -> Status:
        return Status(want.key, want.name, state, reasons, have, want.config.image, verdict)

    def act(kind: ActionKind, *reasons: Reason) -> Action:
        return Action(
            kind,
            want.key,
            want.name,
            reasons,
            want,
            have.id if have else None,
            pull,
            have.state if have else None,
        )

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
    if not ownership.is_owned(have.labels, instance, host):
        other = ownership.host_of(have.labels)
        reason = Reason(f"a container named {have.name} belongs to host {other!r}'s monop; left alone")
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
    if verdict is not None and verdict.health is Health.UNHEALTHY:
        reason = Reason("health", None, f"unhealthy: {verdict.detail}")
        return status(State.UNHEALTHY, reason), act(ActionKind.RESTART, reason)
    if verdict is not None and verdict.health is Health.STALLED:
        # A restart cannot make checks run: reported, not acted on.
        return status(State.UNHEALTHY, Reason("health", None, verdict.detail)), None
    if have.health == "unhealthy":
        reason = Reason("health", "unhealthy", "healthy")
        return status(State.UNHEALTHY, reason), act(ActionKind.RESTART, reason)
    return status(State.IN_SYNC), None


def _held(
    want: Unit | None, status: Status, action: Action | None, holds: Holds
) -> tuple[Status, Action | None]:
    """Apply the holds to one resource's status and action (`want` None: an orphan)."""
    key = status.key
    why = holds.restarts.get(key)
    if (
        action is None
        and why is not None
        and want is not None
        and status.state is State.IN_SYNC
        and status.container is not None
    ):
        action = Action(
            ActionKind.RESTART,
            key,
            status.name,
            (why,),
            want,
            status.container.id,
            container_state=status.container.state,
        )
    loop = holds.crash_loops.get(key)
    if loop is not None and status.state is State.STOPPED:
        status = replace(status, state=State.CRASH_LOOP)
    hold: Deferral | None = None
    stall = holds.stalled.get(key)
    if key in holds.suspended:
        # A person works on it: no action, and the state shown is the one observed.
        hold = Deferral(Deferred.SUSPENDED)
    elif stall is not None and (want is None or stall.spec_hash in (None, want.spec_hash)):
        hold = Deferral(Deferred.STALLED, None, stall.error)
        if action is not None:
            status = replace(status, state=State.STALLED)
    elif loop is not None and action is not None and action.kind in RESTARTS and loop.until > holds.now:
        wait = max(1, math.ceil(loop.until - holds.now))
        hold = Deferral(Deferred.CRASH_LOOP, loop.until, f"next in {format_duration(wait)}")
    if hold is None:
        return status, action
    status = replace(status, hold=hold)
    return status, None if action is None else replace(action, deferred=hold)


def _interrupted_swap(
    want: Unit,
    status: Status,
    action: Action | None,
    pending: LiveContainer,
    images: Mapping[str, str],
    instance: str,
    host: str | None = None,
) -> tuple[Status, Action | None]:
    """A recreate stopped half-way (monop killed, Podman gone) left `pending` under the swap name.

    If the replacement runs, is what is desired, and the old container no longer runs, the swap
    is completed (old removed, replacement renamed): nothing has to stop again. Otherwise the
    replacement is removed before whatever the resource needs, so no duplicate survives.
    """
    have = status.container
    if (
        pending.state == "running"
        and pending.health != "unhealthy"
        and not _drift(want, pending, resolve_image(want.config.image, images))
        and (have is None or (ownership.is_owned(have.labels, instance, host) and have.state != "running"))
    ):
        reason = Reason(f"an interrupted recreate left its replacement running as {pending.name}")
        return (
            replace(status, state=State.DRIFTED, reasons=(reason,), container=pending),
            Action(
                ActionKind.COMPLETE,
                want.key,
                want.name,
                (reason,),
                want,
                have.id if have else None,
                container_state=have.state if have else None,
                leftover=pending.id,
            ),
        )
    reason = Reason(f"left over from an interrupted recreate: {pending.name}")
    if action is None:
        return status, Action(ActionKind.REMOVE, want.key, pending.name, (reason,), container_id=pending.id)
    return status, replace(action, reasons=(*action.reasons, reason), leftover=pending.id)


def _drift(want: Unit, have: LiveContainer, image_id: str | None) -> list[Reason]:
    if have.labels.get(ownership.SPEC_HASH) != want.spec_hash:
        stored = ownership.stored_record(have.labels)
        if stored is not None:  # made by an older monop, it may hold a secret in clear
            stored = secrets.scrub(stored, want.secrets.record)
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
