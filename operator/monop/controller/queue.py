"""A work queue of keys, like controller-runtime's: no duplicates, one worker per key, timed re-adds.

It reports what client-go's work queue reports (adds, retries, time waiting, time worked) to
a `QueueMetrics` the caller gives; the queue itself knows nothing of Prometheus.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Protocol

from monop.controller.clock import Clock


class QueueMetrics(Protocol):
    """What a work queue reports as it goes (client-go's workqueue MetricsProvider, pushed)."""

    def added(self) -> None:
        """A key was added that was not waiting already (client-go's adds_total)."""

    def retried(self) -> None:
        """A key was put back after a failure, to be added after its backoff (retries_total)."""

    def waited(self, seconds: float) -> None:
        """A key waited `seconds` from its add until a worker took it (queue_duration_seconds)."""

    def worked(self, seconds: float) -> None:
        """A worker held a key `seconds`, from taking it to `done` (work_duration_seconds)."""


class _NoMetrics:
    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def waited(self, seconds: float) -> None:
        pass

    def worked(self, seconds: float) -> None:
        pass


class ShutDown(Exception):
    """The queue was shut down: workers stop."""


class WorkQueue:
    """Keys wait once; a key in flight that is added again is queued once it is done."""

    def __init__(self, clock: Clock, metrics: QueueMetrics | None = None) -> None:
        self.clock = clock
        self.metrics: QueueMetrics = metrics or _NoMetrics()
        self._ready: OrderedDict[str, None] = OrderedDict()
        self._added_at: dict[str, float] = {}  # key -> monotonic time of the add it waits for
        self._in_flight: dict[str, float] = {}  # key -> monotonic time a worker took it
        self._dirty: set[str] = set()
        self._later: dict[str, float] = {}  # key -> monotonic deadline
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._closed = False

    def add(self, key: str) -> None:
        if self._closed:
            return
        self._cancel_timer(key)
        if key in self._ready or key in self._dirty:
            return
        self.metrics.added()
        self._added_at[key] = self.clock.now()
        if key in self._in_flight:
            self._dirty.add(key)
        else:
            self._push(key)

    def _push(self, key: str) -> None:
        self._ready[key] = None
        self._wakeup.set()

    def retry_after(self, key: str, delay: float) -> None:
        """`add_after` for a key whose reconcile failed: counted as a retry (client-go's AddRateLimited)."""
        if not self._closed:
            self.metrics.retried()
        self.add_after(key, delay)

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
                now = self.clock.now()
                self.metrics.waited(now - self._added_at.pop(key, now))
                self._in_flight[key] = now
                return key
            if self._closed:
                raise ShutDown
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        taken = self._in_flight.pop(key, None)
        if taken is not None:
            self.metrics.worked(self.clock.now() - taken)
        if key in self._dirty:
            self._dirty.discard(key)
            if self._closed:
                self._added_at.pop(key, None)
            else:
                self._push(key)  # counted as an add when it was added

    def shutdown(self, drain: bool = True) -> None:
        """No more keys are accepted; `get()` raises ShutDown once empty (at once if not draining)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._later.clear()
        if not drain:
            for key in self._ready:
                self._added_at.pop(key, None)
            self._ready.clear()
        self._wakeup.set()

    def waiting(self) -> list[str]:
        return list(self._ready)

    def scheduled(self) -> dict[str, float]:
        """Keys waiting for a timed re-add, with their monotonic deadline."""
        return dict(self._later)

    def unfinished_seconds(self) -> float:
        """Seconds of work in flight: the sum over keys held by a worker (client-go's unfinished_work_seconds)."""
        now = self.clock.now()
        return sum(now - taken for taken in list(self._in_flight.values()))

    def longest_running_seconds(self) -> float:
        """How long the key held longest by a worker has been held; 0 when none is."""
        now = self.clock.now()
        return max((now - taken for taken in list(self._in_flight.values())), default=0.0)

    def __len__(self) -> int:
        return len(self._ready)
