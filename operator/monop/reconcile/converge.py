"""One pass of the control loop, shared by `monop apply` and the daemon: observe, plan, execute, observe."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from monop.api.labels import DEFAULT_INSTANCE
from monop.reconcile.execute import Outcome, Runtime, execute
from monop.reconcile.health import Knowledge
from monop.reconcile.holds import Holds
from monop.reconcile.plan import Plan, Unit, plan
from monop.runtime.observed import ObservedState


class Observer(Protocol):
    async def observe(self) -> ObservedState: ...


class Podman(Runtime, Observer, Protocol):
    """The Podman adapter as the control loop sees it."""


@dataclass(frozen=True)
class Pass:
    """What one reconcile pass saw, did, and left."""

    before: Plan
    outcomes: tuple[Outcome, ...]
    after: Plan

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and self.after.in_sync


async def survey(
    units: Sequence[Unit],
    podman: Observer,
    *,
    prune: bool = True,
    health: Knowledge | None = None,
    instance: str = DEFAULT_INSTANCE,
    holds: Holds | None = None,
    host: str | None = None,
) -> Plan:
    """The plan for what runs now; health is judged at the current time unless `health` says more.

    `holds`: crash loops, suspended and stalled resources, restarts asked for (see `plan`).
    """
    observed = await podman.observe()
    return plan(
        units,
        observed,
        prune=prune,
        health=health or Knowledge(time.time()),
        instance=instance,
        holds=holds,
        host=host,
    )


async def converge(
    units: Sequence[Unit],
    podman: Podman,
    *,
    prune: bool = True,
    parallelism: int = 8,
    failure_types: tuple[type[Exception], ...] = (),
    on_outcome: Callable[[Outcome], None] | None = None,
    instance: str = DEFAULT_INSTANCE,
    holds: Holds | None = None,
    host: str | None = None,
) -> Pass:
    """Plan, carry the plan out, and look again: the second look is what `apply` reports.

    The same `plan()` with the same `holds` as `monop plan` and the daemon: a deferred action
    is not carried out.
    """
    before = await survey(units, podman, prune=prune, instance=instance, holds=holds, host=host)
    if not before.runnable:
        return Pass(before, (), before)
    outcomes = await execute(
        before, podman, parallelism=parallelism, failure_types=failure_types, on_outcome=on_outcome
    )
    after = await survey(units, podman, prune=prune, instance=instance, holds=holds, host=host)
    return Pass(before, tuple(outcomes), after)
