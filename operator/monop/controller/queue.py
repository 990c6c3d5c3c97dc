"""A work queue of keys, like controller-runtime's: no duplicates, one worker per key, timed re-adds."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from monop.controller.clock import Clock


class ShutDown(Exception):
    """The queue was shut down: workers stop."""


class WorkQueue:
    """Keys wait once; a key in flight that is added again is queued once it is done."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._in_flight: set[str] = set()
        self._dirty: set[str] = set()
        self._later: dict[str, float] = {}  # key -> monotonic deadline
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._closed = False

    def add(self, key: str) -> None:
        if self._closed:
            return
        self._cancel_timer(key)
        if key in self._in_flight:
            self._dirty.add(key)
        elif key not in self._ready:
            self._ready[key] = None
            self._wakeup.set()

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` after `delay` seconds; an earlier deadline for the same key wins."""
        if self._closed:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self.clock.now() + delay
        if key in self._later and self._later[key] <= deadline:
            return
        self._cancel_timer(key)
        self._later[key] = deadline
        self._timers[key] = asyncio.ensure_future(self._fire(key, deadline))

    async def _fire(self, key: str, deadline: float) -> None:
        # Sleep until the deadline, not for `delay` from whenever this task first runs:
        # it may start after time has moved on.
        await self.clock.sleep(deadline - self.clock.now())
        self._later.pop(key, None)
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timer(self, key: str) -> None:
        self._later.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def get(self) -> str:
        """The next ready key; it belongs to the caller until `done(key)`."""
        while True:
            if self._ready:
                key, _ = self._ready.popitem(last=False)
                self._in_flight.add(key)
                return key
            if self._closed:
                raise ShutDown
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        self._in_flight.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def shutdown(self, drain: bool = True) -> None:
        """No more keys are accepted; `get()` raises ShutDown once empty (at once if not draining)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._later.clear()
        if not drain:
            self._ready.clear()
        self._wakeup.set()

    def waiting(self) -> list[str]:
        return list(self._ready)

    def scheduled(self) -> dict[str, float]:
        """Keys waiting for a timed re-add, with their monotonic deadline."""
        return dict(self._later)

    def __len__(self) -> int:
        return len(self._ready)
