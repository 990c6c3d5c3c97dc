"""Workers: take a key, reconcile it, and requeue it after a backoff on error or when asked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from monop import log
from monop.controller.backoff import Backoff
from monop.controller.queue import ShutDown, WorkQueue


@dataclass(frozen=True)
class Result:
    """What one reconcile of one key asks for next.

    `error`: it failed, and is retried after a per-key backoff; with `terminal`, it failed in a
    way a retry cannot fix (a person must act): not retried, and its backoff is forgotten.
    `requeue_after` (seconds): look again then, though nothing failed.
    """

    requeue_after: float | None = None
    error: str | None = None
    terminal: bool = False


Reconcile = Callable[[str], Awaitable[Result]]


class Workers:
    """`n` tasks draining the queue; one key is never handled by two of them at once."""

    def __init__(self, queue: WorkQueue, reconcile: Reconcile, backoff: Backoff, n: int = 4) -> None:
        self.queue, self.reconcile, self.backoff, self.n = queue, reconcile, backoff, n
        self._tasks: list[asyncio.Task[None]] = []
        self.busy: set[str] = set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"monop-worker-{i}") for i in range(self.n)]

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            self.busy.add(key)
            try:
                result = await self._one(key)
            finally:
                self.busy.discard(key)
                self.queue.done(key)
            if result.terminal:
                self.backoff.success(key)  # asked again later, it starts afresh
            elif result.error is not None:
                self.queue.retry_after(key, self.backoff.failure(key))
            else:
                self.backoff.success(key)
                if result.requeue_after is not None:
                    self.queue.add_after(key, result.requeue_after)

    async def _one(self, key: str) -> Result:
        try:
            return await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # one key's bug must not stop the others
            log.get(resource=key).exception("reconcile_crashed")
            return Result(error=f"{type(err).__name__}: {err}")

    async def stop(self, timeout: float) -> None:
        """Take no new keys; give the ones in flight `timeout` seconds, then cancel them."""
        self.queue.shutdown(drain=False)
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
