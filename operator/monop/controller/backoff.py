"""Per-key retry delays for failed reconciles, and crash-loop tracking for containers that keep dying."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from monop.controller.clock import Clock
from monop.reconcile.holds import CrashLoopHold


class Backoff:
    """Exponential delay per key: 1 s, 2 s, 4 s ... capped; forgotten on success."""

    def __init__(self, clock: Clock, base: float = 1.0, cap: float = 300.0) -> None:
        self.clock, self.base, self.cap = clock, base, cap
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def next_delay(self, key: str) -> float:
        """Seconds the next failure of `key` will wait before its retry: the one formula of the daemon's retries."""
        return min(self.cap, self.base * 2.0 ** min(self._failures.get(key, 0), 32))

    def failure(self, key: str) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        delay = self.next_delay(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self._until[key] = self.clock.now() + delay
        return delay

    def success(self, key: str) -> None:
        self._failures.pop(key, None)
        self._until.pop(key, None)

    def attempts(self, key: str) -> int:
        return self._failures.get(key, 0)

    def next_at(self, key: str) -> float | None:
        """Monotonic time of the next attempt, or None when the key is not backing off."""
        return self._until.get(key)


@dataclass
class _Loop:
    restarts: deque[float] = field(default_factory=deque)  # wall times of restarts monop made
    level: int = 0  # restarts made while in the loop: the delay doubles with each
    last_restart: float = 0.0
    running_since: float | None = None


class CrashLoop:
    """kubelet's CrashLoopBackOff: after `threshold` restarts within `window`, space restarts out.

    The delay starts at `base` and doubles to `cap`; a container that stays up for `stable`
    seconds is forgiven. Times are wall-clock so the record survives a daemon restart.
    """

    def __init__(
        self,
        clock: Clock,
        threshold: int = 3,
        window: float = 300.0,
        base: float = 10.0,
        cap: float = 300.0,
        stable: float = 60.0,
    ) -> None:
        self.clock = clock
        self.threshold, self.window, self.base, self.cap, self.stable = threshold, window, base, cap, stable
        self._loops: dict[str, _Loop] = {}

    def _recent(self, key: str) -> _Loop:
        loop = self._loops.setdefault(key, _Loop())
        horizon = self.clock.wall() - self.window
        while loop.restarts and loop.restarts[0] < horizon:
            loop.restarts.popleft()
        return loop

    def in_loop(self, key: str) -> bool:
        loop = self._recent(key)
        return loop.level > 0 or len(loop.restarts) >= self.threshold

    def delay(self, key: str) -> float:
        """Seconds the next restart must still wait (0 when it may go now)."""
        if not self.in_loop(key):
            return 0.0
        loop = self._loops[key]
        wait = min(self.cap, self.base * 2.0 ** min(loop.level, 32))
        return max(0.0, loop.last_restart + wait - self.clock.wall())

    def until(self, key: str) -> float | None:
        """Wall time the next restart is allowed, while in the loop."""
        wait = self.delay(key)
        return self.clock.wall() + wait if wait > 0 else None

    def holds(self, now: float) -> dict[str, CrashLoopHold]:
        """Every resource in a crash loop at wall time `now`: when its next start is allowed."""
        found = {}
        for key, loop in self._loops.items():
            recent = sum(1 for t in loop.restarts if t >= now - self.window)
            if loop.level == 0 and recent < self.threshold:
                continue
            wait = min(self.cap, self.base * 2.0 ** min(loop.level, 32))
            found[key] = CrashLoopHold(loop.last_restart + wait, recent)
        return found

    def record_restart(self, key: str) -> None:
        loop = self._recent(key)
        if self.in_loop(key):
            loop.level += 1
        now = self.clock.wall()
        loop.restarts.append(now)
        loop.last_restart = now
        loop.running_since = None

    def observed_running(self, key: str, since: float | None) -> None:
        """The container runs, started at wall time `since`; long enough, and the loop is forgiven."""
        loop = self._loops.get(key)
        if loop is None or since is None:
            return
        loop.running_since = since
        # Podman's container list gives start times in whole seconds: a start in the same second
        # as the restart that caused it reads as earlier than it.
        if self.clock.wall() - since >= self.stable and since >= math.floor(loop.last_restart):
            del self._loops[key]

    def restarts(self, key: str) -> int:
        return len(self._recent(key).restarts) if key in self._loops else 0

    def forget(self, key: str) -> None:
        self._loops.pop(key, None)

    def to_json(self) -> dict[str, Any]:
        return {
            key: {"restarts": list(loop.restarts), "level": loop.level, "last": loop.last_restart}
            for key, loop in self._loops.items()
        }

    def restore(self, data: dict[str, Any]) -> None:
        for key, item in data.items():
            try:
                self._loops[key] = _Loop(
                    deque(float(t) for t in item["restarts"]), int(item["level"]), float(item["last"])
                )
            except (KeyError, TypeError, ValueError):
                continue  # a record monop cannot read is no reason not to start
