"""The executor: carries a Plan out through the Podman adapter. It makes no decisions of its own.

Removals run first; then every other action runs in parallel, bounded. One action's failure
is recorded against its resource while the others go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from monop import log
from monop.model.runtime import ContainerConfig
from monop.plan import Action, Plan
from monop.states import ActionKind


class Runtime(Protocol):
    """What the executor needs of Podman (`monop.live.podman.Podman` provides it)."""

    async def pull(self, reference: str) -> str: ...
    async def image_id(self, reference: str) -> str | None: ...
    async def create(self, config: ContainerConfig, labels: Mapping[str, str]) -> str: ...
    async def start(self, name: str) -> None: ...
    async def restart(self, name: str) -> None: ...
    async def unpause(self, name: str) -> None: ...
    async def remove(self, name_or_id: str, force: bool = True) -> None: ...


class ActionError(Exception):
    """An action that could not be carried out; the message says why, for a person."""


@dataclass(frozen=True)
class Outcome:
    action: Action
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


async def execute(
    plan: Plan,
    runtime: Runtime,
    *,
    parallelism: int = 8,
    failure_types: tuple[type[Exception], ...] = (),
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Carry out every action; errors of `failure_types` fail one action, anything else propagates."""
    limit = asyncio.Semaphore(parallelism)
    expected: tuple[type[Exception], ...] = (ActionError, *failure_types)
    pulls: dict[str, asyncio.Task[str]] = {}

    async def pull_once(reference: str) -> None:
        # Two units on one image pull it once.
        if reference not in pulls:
            pulls[reference] = asyncio.ensure_future(runtime.pull(reference))
        await asyncio.shield(pulls[reference])

    async def run(action: Action) -> Outcome:
        async with limit:
            started = time.monotonic()
            error = None
            try:
                await _carry_out(action, runtime, pull_once)
            except expected as err:
                # Podman may quote the command it could not run: made redacted, not only printed so.
                error = action.unit.secrets.redact(str(err)) if action.unit else str(err)
            outcome = Outcome(action, error, time.monotonic() - started)
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

    removals = [a for a in plan.actions if a.kind is ActionKind.REMOVE]
    others = [a for a in plan.actions if a.kind is not ActionKind.REMOVE]
    outcomes = list(await asyncio.gather(*(run(a) for a in removals)))
    outcomes += await asyncio.gather(*(run(a) for a in others))
    return outcomes


async def _carry_out(action: Action, runtime: Runtime, pull_once: Callable[[str], Awaitable[None]]) -> None:
    kind = action.kind
    if kind is ActionKind.REMOVE:
        await runtime.remove(action.container_id or action.name)
    elif kind is ActionKind.START:
        await runtime.start(action.name)
    elif kind is ActionKind.UNPAUSE:
        await runtime.unpause(action.name)
    elif kind is ActionKind.RESTART:
        await runtime.restart(action.name)
    else:
        assert action.unit is not None
        config = action.unit.config
        # The image first: a failed pull on recreate leaves the old container running.
        if action.pull:
            await pull_once(config.image)
        elif config.pull_policy == "Never" and await runtime.image_id(config.image) is None:
            raise ActionError(f"image {config.image} is not present and pullPolicy is Never")
        if kind is ActionKind.RECREATE:
            await runtime.remove(action.container_id or action.name)
        await runtime.create(config, action.unit.labels)
        await runtime.start(action.name)
