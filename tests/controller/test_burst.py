"""Keys of a burst of container events are queued together, on a fake clock."""

from __future__ import annotations

import asyncio

from aio import run_clean

from monop.controller.burst import EventBurst
from monop.controller.clock import FakeClock, settle


def test_a_burst_is_queued_once_the_stream_is_quiet_each_key_with_its_first_event() -> None:
    async def scenario() -> list[tuple[str, float]]:
        clock, queued = FakeClock(start=0.0), []
        burst = EventBurst(clock, lambda key, at: queued.append((key, at)), quiet=0.05, longest=0.5)
        for key in ["a", "b", "a", "c"]:
            burst.add(key)
            await clock.advance(0.03)  # events closer together than the quiet time
        assert queued == []
        await clock.advance(0.03)
        await settle()
        await burst.close()
        return queued

    assert run_clean(scenario) == [("a", 0.0), ("b", 0.03), ("c", 0.09)]


def test_an_endless_burst_is_queued_after_the_longest_wait() -> None:
    async def scenario() -> None:
        clock, queued = FakeClock(start=0.0), []
        burst = EventBurst(clock, lambda key, at: queued.append((key, at)), quiet=0.05, longest=0.5)
        for i in range(20):
            burst.add(f"k{i}")
            await clock.advance(0.04)
            if clock.now() < 0.5:
                assert queued == []
        assert [key for key, _ in queued][:13] == [f"k{i}" for i in range(13)]
        await burst.close()
        assert len(queued) == 20

    run_clean(scenario)


def test_closing_queues_what_is_held_at_once() -> None:
    async def scenario() -> list[str]:
        clock, queued = FakeClock(start=0.0), []
        burst = EventBurst(clock, lambda key, at: queued.append(key))
        burst.add("a")
        await burst.close()
        await asyncio.sleep(0)
        return queued

    assert run_clean(scenario) == ["a"]
