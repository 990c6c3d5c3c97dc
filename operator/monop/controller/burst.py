"""Container events come in bursts; their keys are queued together once the burst is over.

`podman kill` of twenty containers, or a host's containers exiting at once, sends twenty
`died` events over a second or two. Queued one by one, each key's reconcile asks Podman for
a container list newer than its event, and that list waits: Podman's list takes each
container's lock, which a start holds for its whole length. The repairs then run one list
and one round of starts at a time. Held until the stream has been quiet for `quiet` seconds
(and never more than `longest` after the first), the keys of a burst share one list and
their starts run side by side, as many at once as there are workers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from monop.controller.clock import Clock

QUIET_S = 0.05
LONGEST_S = 0.5


class EventBurst:
    """Keys from container events, each with its first event's monotonic time, until `flush`."""

    def __init__(
        self,
        clock: Clock,
        enqueue: Callable[[str, float], None],
        quiet: float = QUIET_S,
        longest: float = LONGEST_S,
    ) -> None:
        self.clock, self.enqueue, self.quiet, self.longest = clock, enqueue, quiet, longest
        self._pending: dict[str, float] = {}
        self._last = 0.0
        self._timer: asyncio.Task[None] | None = None

    def add(self, key: str) -> None:
        """An event for `key` now; it is queued when the burst is over."""
        now = self._last = self.clock.now()
        self._pending.setdefault(key, now)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._flush_when_quiet(now))

    async def _flush_when_quiet(self, first: float) -> None:
        while (wait := min(self._last + self.quiet, first + self.longest) - self.clock.now()) > 0:
            await self.clock.sleep(wait)
        self.flush()

    def flush(self) -> None:
        """Queue every key held, now."""
        pending, self._pending = self._pending, {}
        for key, at in pending.items():
            self.enqueue(key, at)

    async def close(self) -> None:
        """Queue what is held and stop the timer (the event stream ended or broke)."""
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        self.flush()
