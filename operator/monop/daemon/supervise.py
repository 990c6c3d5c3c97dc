"""Background tasks that never die quietly, and the record of what in the daemon is not working.

A supervised task that raises is logged with its traceback (once per distinct error: a task
failing the same way again is one line without it), counted in
`monop_task_failures_total{task}`, marked down in `Health` (so `/readyz` answers 503 naming it)
and started again after a backoff. It is up again once it has run `HEALTHY_AFTER` seconds.

`MONOP_FAULT_INJECT` is for tests only: `task[:count],...` makes each named task raise
`InjectedFault` at its start, `count` times (default 1). Nothing else reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from monop.controller.clock import Clock

BACKOFFS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before each restart of a task that keeps failing
HEALTHY_AFTER = 5.0  # seconds a restarted task must run before it counts as up again
FAULT_ENV = "MONOP_FAULT_INJECT"


@dataclass(frozen=True)
class Down:
    """One part of the daemon not doing its job: since when (epoch seconds), and why."""

    since: float
    reason: str


class Health:
    """What is down now, by part name (`task podman-events`, `desired path`, `state writes`)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._down: dict[str, Down] = {}

    def down(self, part: str, reason: str) -> bool:
        """Mark `part` down (keeping the first `since`); True if it was up until now."""
        before = self._down.get(part)
        self._down[part] = Down(before.since if before else self.clock.wall(), reason)
        return before is None

    def up(self, part: str) -> bool:
        """Mark `part` up; True if it was down."""
        return self._down.pop(part, None) is not None

    def is_down(self, part: str) -> bool:
        return part in self._down

    @property
    def parts(self) -> dict[str, Down]:
        return dict(self._down)

    def summary(self) -> str:
        """`task podman-events down for 12s: ValueError: ...; ...`, empty when all is well."""
        now = self.clock.wall()
        return "; ".join(
            f"{part} down for {round(now - d.since)}s: {d.reason}" for part, d in sorted(self._down.items())
        )

    def down_longer_than(self, seconds: float, prefix: str = "task ") -> list[str]:
        """Parts (named with `prefix`) down for more than `seconds`."""
        now = self.clock.wall()
        return [p for p, d in self._down.items() if p.startswith(prefix) and now - d.since > seconds]

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {part: {"since": d.since, "reason": d.reason} for part, d in sorted(self._down.items())}


class InjectedFault(RuntimeError):
    """Raised where MONOP_FAULT_INJECT asks, to test supervision; never otherwise."""


_injected: dict[str, int] | None = None


def inject(task: str) -> None:
    """Raise InjectedFault if MONOP_FAULT_INJECT names `task` and its count is not used up."""
    global _injected
    if _injected is None:
        _injected = {}
        for item in filter(None, os.environ.get(FAULT_ENV, "").split(",")):
            name, _, count = item.strip().partition(":")
            _injected[name] = int(count) if count.isdigit() else 1
    left = _injected.get(task, 0)
    if left > 0:
        _injected[task] = left - 1
        raise InjectedFault(f"fault injected by {FAULT_ENV} into {task}")


async def supervise(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event,
    health: Health,
    failures: Counter,
    log: Any,
    clock: Clock,
) -> None:
    """Run `body()` until it returns or `stop` is set, starting it again whenever it raises."""
    part = f"task {name}"
    attempt = 0
    last_error: str | None = None
    while not stop.is_set():
        started = clock.now()
        task = asyncio.ensure_future(_guarded(name, body))
        try:
            recovering = health.is_down(part)
            if recovering and not await _first(task, clock.sleep(HEALTHY_AFTER)) and health.up(part):
                log.info("task_recovered", task=name)
            await task
            health.up(part)
            return  # a task that ends on its own ended on purpose
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception as err:
            if clock.now() - started > HEALTHY_AFTER:
                attempt = 0  # it ran well for a while: this is a new failure, not the same one again
            delay = BACKOFFS[min(attempt, len(BACKOFFS) - 1)]
            attempt += 1
            error = f"{type(err).__name__}: {err}"
            failures.labels(name).inc()
            health.down(part, error)
            if error != last_error:
                log.exception("task_failed", task=name, error=error, restart_in=delay)
            else:
                log.error("task_failed_again", task=name, error=error, restart_in=delay, attempt=attempt)
            last_error = error
        await _first(stop.wait(), clock.sleep(delay))
        if not stop.is_set():
            log.info("task_restarting", task=name, attempt=attempt)


async def _first(main: Awaitable[Any], timer: Awaitable[None]) -> bool:
    """Wait for `main` or `timer`, whichever ends first; True if `main` did. `main` is left running."""
    main_f, timer_f = asyncio.ensure_future(main), asyncio.ensure_future(timer)
    try:
        await asyncio.wait({main_f, timer_f}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer_f.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer_f
    if not main_f.done():
        if not isinstance(main, asyncio.Future):
            main_f.cancel()  # a coroutine made into a task here: not the caller's to keep
        return False
    return True


async def _guarded(name: str, body: Callable[[], Awaitable[None]]) -> None:
    inject(name)
    await body()
