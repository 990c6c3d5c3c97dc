"""The work queue and its workers: dedupe, one worker per key, backoff per key, timed re-adds."""

from __future__ import annotations

import asyncio
from collections import Counter

from aio import run_clean

from monop.controller.backoff import Backoff
from monop.controller.clock import FakeClock, settle
from monop.controller.queue import ShutDown, WorkQueue
from monop.controller.workers import Result, Workers


def test_a_waiting_key_is_not_queued_twice() -> None:
    async def scenario() -> list[str]:
        queue = WorkQueue(FakeClock())
        for key in ["a", "b", "a", "c", "b"]:
            queue.add(key)
        got = [await queue.get() for _ in range(3)]
        assert len(queue) == 0
        queue.shutdown()
        return got

    assert run_clean(scenario) == ["a", "b", "c"]


def test_a_key_added_while_in_flight_is_handled_again_after_done() -> None:
    async def scenario() -> None:
        queue = WorkQueue(FakeClock())
        queue.add("a")
        assert await queue.get() == "a"
        queue.add("a")
        assert queue.waiting() == []  # not handed to another worker while in flight
        queue.done("a")
        assert await queue.get() == "a"
        queue.shutdown()

    run_clean(scenario)


def test_never_two_workers_on_one_key() -> None:
    async def scenario() -> tuple[Counter[str], int]:
        clock = FakeClock()
        queue = WorkQueue(clock)
        running: Counter[str] = Counter()
        handled: Counter[str] = Counter()
        worst = 0

        async def reconcile(key: str) -> Result:
            nonlocal worst
            running[key] += 1
            worst = max(worst, running[key])
            for _ in range(3):
                await asyncio.sleep(0)
            running[key] -= 1
            handled[key] += 1
            return Result()

        workers = Workers(queue, reconcile, Backoff(clock), n=4)
        workers.start()

        async def hammer(i: int) -> None:
            for j in range(50):
                queue.add(f"k{(i + j) % 5}")
                await asyncio.sleep(0)

        await asyncio.gather(*(hammer(i) for i in range(8)))
        await settle(200)
        queue.add("k0")  # added after the storm: must be handled once more
        await settle(50)
        await workers.stop(timeout=1)
        return handled, worst

    handled, worst = run_clean(scenario)
    assert worst == 1
    assert set(handled) == {f"k{i}" for i in range(5)}


def test_a_failing_key_backs_off_without_delaying_others() -> None:
    async def scenario() -> list[tuple[float, str]]:
        clock = FakeClock(start=0)
        queue = WorkQueue(clock)
        seen: list[tuple[float, str]] = []

        async def reconcile(key: str) -> Result:
            seen.append((clock.now(), key))
            return Result(error="boom") if key == "bad" else Result()

        workers = Workers(queue, reconcile, Backoff(clock), n=2)
        workers.start()
        queue.add("bad")
        await settle()
        for _ in range(8):
            queue.add("good")
            await settle()
            await clock.advance(1)
        await workers.stop(timeout=1)
        return seen

    seen = run_clean(scenario)
    assert [t for t, key in seen if key == "bad"] == [0, 1, 3, 7]  # 1 s, 2 s, 4 s later
    assert [t for t, key in seen if key == "good"] == list(range(8))


def test_add_after_earliest_deadline_wins_and_success_requeue() -> None:
    async def scenario() -> list[float]:
        clock = FakeClock(start=0)
        queue = WorkQueue(clock)
        queue.add_after("a", 10)
        queue.add_after("a", 30)  # later: ignored
        queue.add_after("a", 5)  # earlier: wins
        got = []

        async def take() -> None:
            got.append((await queue.get(), clock.now()))

        task = asyncio.create_task(take())
        await clock.advance(4)
        assert not got
        await clock.advance(1)
        await task
        queue.shutdown()
        return [t for _, t in got]

    assert run_clean(scenario) == [5]


def test_shutdown_without_drain_stops_waiters_at_once() -> None:
    async def scenario() -> None:
        queue = WorkQueue(FakeClock())
        queue.add("a")
        queue.shutdown(drain=False)
        try:
            await queue.get()
        except ShutDown:
            return
        raise AssertionError("get() after shutdown should raise ShutDown")

    run_clean(scenario)


def test_a_terminal_error_is_not_retried_and_its_backoff_is_forgotten() -> None:
    async def scenario() -> tuple[list[float], int, dict[str, float]]:
        clock = FakeClock(start=0)
        queue = WorkQueue(clock)
        backoff = Backoff(clock)
        seen: list[float] = []

        async def reconcile(key: str) -> Result:
            seen.append(clock.now())
            # The first try fails as one a retry may fix; the second as one only a person can.
            return Result(error="boom", terminal=len(seen) > 1)

        workers = Workers(queue, reconcile, backoff, n=1)
        workers.start()
        queue.add("stalled")
        await settle()
        await clock.advance(600)
        await workers.stop(timeout=1)
        return seen, backoff.attempts("stalled"), queue.scheduled()

    seen, attempts, scheduled = run_clean(scenario)
    assert seen == [0, 1]  # retried once after 1 s, then never again
    assert attempts == 0 and scheduled == {}


def test_the_next_delay_is_the_one_a_failure_waits() -> None:
    backoff = Backoff(FakeClock(start=0))
    for _ in range(12):
        expected = backoff.next_delay("k")
        assert backoff.failure("k") == expected
    assert backoff.next_delay("k") == 300.0
