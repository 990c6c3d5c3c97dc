"""The executor: carries a Plan out through the Podman adapter. It makes no decisions of its own.

Deferred actions (a crash loop, a suspended or stalled resource: the planner's call) are skipped.
Removals run first; then every other action runs in parallel, bounded. One action's failure
is recorded against its resource while the others go on.

A recreate never takes a working container down before its replacement runs (compose v2's
swap, and more): the replacement is created under `<name>_monop-new` while the old one runs;
only then is the old one stopped (its own stopSignal and stopTimeout) and the new one
started at once, so the gap is the old one's stop plus one start (without published ports
the replacement is also initialised before the stop, so that start only runs the process;
Podman binds published ports at init, which the old one still holds). The new one must still be
running, never restarted by Podman, `START_GRACE_S` after its start. Any failure on the way
removes the replacement and starts the old one again; the action fails with the reason.
Only then is the old one removed and the new one renamed. Each step leaves a state the
planner recognises (`plan._interrupted_swap`), so a monop killed half-way is finished or
undone by the next pass, never leaving two containers or none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from monop import log
from monop.errors import ActionError as ActionError  # its home was here
from monop.errors import MonopError, PodmanError
from monop.reconcile.plan import Action, Plan
from monop.reconcile.states import ActionKind
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig


class Runtime(Protocol):
    """What the executor needs of Podman (`monop.runtime.podman.Podman` provides it)."""

    async def pull(self, reference: str) -> str: ...
    async def image_id(self, reference: str) -> str | None: ...
    async def create(self, config: ContainerConfig, labels: Mapping[str, str]) -> str: ...
    async def start(self, name: str) -> None: ...
    async def restart(self, name: str, timeout: int | None = None) -> None: ...
    async def unpause(self, name: str) -> None: ...
    async def remove(self, name_or_id: str, force: bool = True) -> None: ...
    async def init(self, name: str) -> None: ...
    async def stop(self, name: str, timeout: int | None = None, waits: float | None = None) -> None: ...
    async def rename(self, name: str, new_name: str) -> None: ...
    async def running_since_start(self, name: str) -> tuple[bool, str]: ...


# How long a replacement must stay running after its start to count as started: long enough
# to catch a process that exits on a bad flag, file or port, short enough to add little to a
# repair. A readiness check (healthcheck, probe) is a later and separate question.
START_GRACE_S = 1.0
_PODMAN_STOP_TIMEOUT_S = 10  # Podman's stop timeout for a container that sets none


@dataclass(frozen=True)
class Outcome:
    """How one action went: `failure` is the typed error (secrets masked in its message), None when it worked."""

    action: Action
    failure: MonopError | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def error(self) -> str | None:
        """The failure's message, for a person (None when the action worked)."""
        return None if self.failure is None else str(self.failure)


async def execute(
    plan: Plan,
    runtime: Runtime,
    *,
    parallelism: int = 8,
    failure_types: tuple[type[Exception], ...] = (),
    on_outcome: Callable[[Outcome], None] | None = None,
    grace: float = START_GRACE_S,
) -> list[Outcome]:
    """Carry out every action not deferred; a PodmanError, an ActionError or an error of
    `failure_types` fails one action, anything else (PodmanUnavailable, a bug) propagates.

    `grace` (seconds): how long a recreate's replacement must stay running after its start.
    """
    limit = asyncio.Semaphore(parallelism)
    expected: tuple[type[Exception], ...] = (ActionError, PodmanError, *failure_types)
    pulls: dict[str, asyncio.Task[str]] = {}

    async def pull_once(reference: str) -> None:
        # Two units on one image pull it once.
        if reference not in pulls:
            pulls[reference] = asyncio.ensure_future(runtime.pull(reference))
        await asyncio.shield(pulls[reference])

    async def run(action: Action) -> Outcome:
        async with limit:
            started = time.monotonic()
            failure: MonopError | None = None
            try:
                await _carry_out(action, runtime, pull_once, expected, grace)
            except expected as err:
                failure = err if isinstance(err, MonopError) else ActionError(str(err))
                if action.unit is not None:
                    # Podman may quote the command it could not run: made redacted, not only printed so.
                    failure = failure.redacted(action.unit.secrets.redact)
            outcome = Outcome(action, failure, time.monotonic() - started)
            error = outcome.error
        log.get(resource=action.key).log(
            20 if outcome.ok else 40,
            log.action_event(action.kind, outcome.ok),
            reason="; ".join(str(r) for r in action.reasons),
            seconds=round(outcome.seconds, 3),
            **({"error": error} if error else {}),
        )
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    removals = [a for a in plan.runnable if a.kind is ActionKind.REMOVE]
    others = [a for a in plan.runnable if a.kind is not ActionKind.REMOVE]
    outcomes = list(await asyncio.gather(*(run(a) for a in removals)))
    outcomes += await asyncio.gather(*(run(a) for a in others))
    return outcomes


async def _carry_out(
    action: Action,
    runtime: Runtime,
    pull_once: Callable[[str], Awaitable[None]],
    expected: tuple[type[Exception], ...],
    grace: float,
) -> None:
    kind = action.kind
    if action.leftover is not None and kind is not ActionKind.COMPLETE:
        await runtime.remove(action.leftover)
    if kind is ActionKind.REMOVE:
        await runtime.remove(action.container_id or action.name)
    elif kind is ActionKind.START:
        await runtime.start(action.name)
    elif kind is ActionKind.UNPAUSE:
        await runtime.unpause(action.name)
    elif kind is ActionKind.RESTART:
        await runtime.restart(action.name, action.unit.config.stop_timeout_s if action.unit else None)
    elif kind is ActionKind.COMPLETE:
        assert action.leftover is not None
        if action.container_id is not None:
            await runtime.remove(action.container_id)
        await runtime.rename(action.leftover, action.name)
    else:
        assert action.unit is not None
        config = action.unit.config
        # The image first: a failed pull on recreate leaves the old container running.
        if action.pull:
            await pull_once(config.image)
        elif config.pull_policy == "Never" and await runtime.image_id(config.image) is None:
            raise ActionError(
                f"image {config.image} is not present and pullPolicy is Never",
                operation="pull",
                location=config.image,
            )
        if kind is ActionKind.RECREATE and action.container_id is not None:
            await _swap(action, runtime, expected, grace)
            return
        await runtime.create(config, action.unit.labels)
        await runtime.start(action.name)


async def _swap(
    action: Action, runtime: Runtime, expected: tuple[type[Exception], ...], grace: float
) -> None:
    """Replace the old container by the new one; the old one keeps serving until the new one runs."""
    assert action.unit is not None and action.container_id is not None
    old, temp = action.container_id, ownership.swap_name(action.name)
    was_running = action.container_state in ("running", "paused")
    # Creating is where most faults show (device, mount source, user, image): the old one still runs.
    await runtime.create(
        replace(action.unit.config, name=temp), {**action.unit.labels, ownership.REPLACES: old}
    )
    stopped = False
    try:
        if not action.unit.config.ports:
            # Namespaces, mounts and the OCI container made now, while the old one still runs:
            # the start after the stop is then only the process (~0.04 s instead of ~0.4 s here).
            # Not with published ports: Podman binds them here, and the old one holds them.
            await runtime.init(temp)
        if was_running:
            stopped = True  # from here on, even a stop that fails half-way may have stopped it
            if action.container_state == "paused":
                await runtime.unpause(old)  # a paused container does not get its stop signal
            # With its own stop signal and timeout; the request waits as long as that may take.
            await runtime.stop(old, waits=action.unit.config.stop_timeout_s or _PODMAN_STOP_TIMEOUT_S)
        await runtime.start(temp)
        await _check_started(runtime, temp, grace)
    except expected as err:
        raise ActionError(
            "; ".join([str(err), *await _undo_swap(runtime, temp, old, stopped, expected)]),
            cause=err if isinstance(err, MonopError) else None,
        ) from None
    except BaseException:
        # Podman gone, the daemon stopping (cancelled), a bug: the old container serves again if it can.
        await asyncio.shield(_undo_swap(runtime, temp, old, stopped, (Exception,)))
        raise
    await runtime.remove(old)
    await runtime.rename(temp, action.name)


async def _undo_swap(
    runtime: Runtime, temp: str, old: str, stopped: bool, expected: tuple[type[Exception], ...]
) -> list[str]:
    """Remove the replacement and start the old container again; what could not be done."""
    problems = []
    try:
        await runtime.remove(temp)
    except expected as cleanup:
        problems.append(f"the replacement {temp} could not be removed: {cleanup}")
    if stopped:
        try:
            await runtime.start(old)
        except expected as restart:
            problems.append(f"the previous container could not be started again: {restart}")
        else:
            problems.append("the previous container runs again")
    return problems


async def _check_started(runtime: Runtime, name: str, grace: float) -> None:
    await asyncio.sleep(grace)
    running, state = await runtime.running_since_start(name)
    if not running:
        raise ActionError(
            f"the new container did not keep running for {grace:g}s after its start: {state}",
            operation="start",
            location=name,
        )
