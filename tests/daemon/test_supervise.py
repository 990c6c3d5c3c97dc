"""Supervised tasks on a fake clock: a failure is said once, counted, marked down and restarted with backoff."""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import CollectorRegistry, Counter
from structlog.testing import capture_logs

from monop.controller.clock import FakeClock, settle
from monop.daemon.supervise import BACKOFFS, HEALTHY_AFTER, Health, supervise


def test_a_task_failing_twice_is_logged_once_with_its_traceback_restarted_with_backoff_then_up() -> None:
    async def scenario() -> tuple[list[float], list[dict[str, object]], float, list[tuple[str, bool]]]:
        clock = FakeClock()
        health = Health(clock)
        failures = Counter("t_failures", "x", ["task"], registry=CollectorRegistry())
        stop = asyncio.Event()
        starts: list[float] = []
        seen: list[tuple[str, bool]] = []

        async def body() -> None:
            starts.append(clock.now())
            if len(starts) <= 2:
                raise ValueError("bad input")
            await stop.wait()

        with capture_logs() as logs:
            task = asyncio.ensure_future(
                supervise(
                    "watch", body, stop=stop, health=health, failures=failures,
                    log=structlog.get_logger(), clock=clock,
                )
            )  # fmt: skip
            await settle()
            seen.append(("after the first failure", health.is_down("task watch")))
            await clock.advance(BACKOFFS[0] + BACKOFFS[1])
            seen.append(("restarted, not yet healthy", health.is_down("task watch")))
            await clock.advance(HEALTHY_AFTER)
            seen.append(("ran for HEALTHY_AFTER", health.is_down("task watch")))
            stop.set()
            await task
        return starts, logs, failures.labels("watch")._value.get(), seen

    starts, logs, failed, seen = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert [round(t - starts[0], 3) for t in starts] == [0.0, BACKOFFS[0], BACKOFFS[0] + BACKOFFS[1]]
    assert failed == 2
    assert seen == [
        ("after the first failure", True),
        ("restarted, not yet healthy", True),
        ("ran for HEALTHY_AFTER", False),
    ]
    events = [(e["event"], "exc_info" in e) for e in logs if e["event"].startswith("task_")]
    assert events == [
        ("task_failed", True),  # with its traceback
        ("task_restarting", False),
        ("task_failed_again", False),  # the same error again: one line, no second traceback
        ("task_restarting", False),
        ("task_recovered", False),
    ]


def test_health_says_what_is_down_and_since_when() -> None:
    clock = FakeClock()
    health = Health(clock)
    assert health.summary() == ""
    assert health.down("task resync", "OSError: x") is True
    asyncio.run(clock.advance(30))
    assert health.down("task resync", "OSError: y") is False  # still down: since the first failure
    assert health.summary() == "task resync down for 30s: OSError: y"
    assert health.down_longer_than(20) == ["task resync"] and health.down_longer_than(40) == []
    assert health.up("task resync") is True and health.summary() == ""
