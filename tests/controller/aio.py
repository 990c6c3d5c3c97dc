"""Controller tests run on a fake clock, and fail if they leave tasks behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_clean(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run `scenario` and fail if any task it started is still pending at the end (kopf's rule)."""

    async def wrapper() -> T:
        before = asyncio.all_tasks()
        # Fake time never waits, so real seconds passing means the scenario is stuck.
        result = await asyncio.wait_for(scenario(), timeout=10)
        leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
        assert not leaked, f"tasks leaked: {leaked}"
        return result

    return asyncio.run(wrapper())
