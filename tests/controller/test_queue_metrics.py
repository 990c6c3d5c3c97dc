"""The work queue's client-go style metrics (monop_workqueue_*), on a fake clock and a fresh registry."""

from __future__ import annotations

from aio import run_clean
from prometheus_client import CollectorRegistry

from monop.controller.backoff import Backoff
from monop.controller.clock import FakeClock, settle
from monop.controller.queue import WorkQueue
from monop.controller.workers import Result, Workers
from monop.daemon.metrics import Metrics

NAME = {"name": "resources"}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, {**NAME, **labels})
    assert got is not None, f"{name} {labels} is not exported"
    return got


def followed(clock: FakeClock) -> tuple[WorkQueue, Metrics]:
    queue, metrics = WorkQueue(clock), Metrics(CollectorRegistry())
    metrics.follow_queue("resources", queue)
    return queue, metrics


def test_every_queue_series_is_exported_at_zero_before_any_key() -> None:
    queue, metrics = followed(FakeClock())
    for name in (
        "monop_workqueue_depth",
        "monop_workqueue_adds_total",
        "monop_workqueue_retries_total",
        "monop_workqueue_queue_duration_seconds_count",
        "monop_workqueue_work_duration_seconds_count",
        "monop_workqueue_unfinished_work_seconds",
        "monop_workqueue_longest_running_processor_seconds",
    ):
        assert value(metrics, name) == 0, name
    assert len(queue) == 0


def test_depth_adds_waiting_and_working_follow_the_keys() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue, metrics = followed(clock)
        for key in ["a", "b", "a"]:
            queue.add(key)  # the second "a" is already waiting: no add
        assert value(metrics, "monop_workqueue_adds_total") == 2
        assert value(metrics, "monop_workqueue_depth") == 2
        await clock.advance(3)
        assert await queue.get() == "a"
        assert value(metrics, "monop_workqueue_depth") == 1
        assert value(metrics, "monop_workqueue_queue_duration_seconds_sum") == 3
        await clock.advance(2)
        assert value(metrics, "monop_workqueue_unfinished_work_seconds") == 2
        assert value(metrics, "monop_workqueue_longest_running_processor_seconds") == 2
        queue.add("a")  # in flight: added, handed out once done
        queue.add("a")
        assert value(metrics, "monop_workqueue_adds_total") == 3
        assert value(metrics, "monop_workqueue_depth") == 1
        await clock.advance(1)
        queue.done("a")
        assert value(metrics, "monop_workqueue_work_duration_seconds_sum") == 3
        assert value(metrics, "monop_workqueue_work_duration_seconds_count") == 1
        assert value(metrics, "monop_workqueue_unfinished_work_seconds") == 0
        assert value(metrics, "monop_workqueue_depth") == 2
        assert await queue.get() == "b"
        assert await queue.get() == "a"  # waited from its add while in flight, 1 s before
        assert value(metrics, "monop_workqueue_queue_duration_seconds_sum") == 3 + 6 + 1
        assert value(metrics, "monop_workqueue_adds_total") == 3
        queue.shutdown()

    run_clean(scenario)


def test_a_failed_reconcile_is_a_retry_and_its_timed_re_add_an_add() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue, metrics = followed(clock)
        results = iter([Result(error="create x: no such image"), Result()])

        async def reconcile(key: str) -> Result:
            return next(results)

        workers = Workers(queue, reconcile, Backoff(clock), n=1)
        workers.start()
        queue.add("x")
        await settle()
        assert value(metrics, "monop_workqueue_retries_total") == 1
        assert value(metrics, "monop_workqueue_adds_total") == 1  # not until its backoff ends
        await clock.advance(60)
        assert value(metrics, "monop_workqueue_adds_total") == 2
        assert value(metrics, "monop_workqueue_work_duration_seconds_count") == 2
        assert value(metrics, "monop_workqueue_retries_total") == 1
        await workers.stop(1)

    run_clean(scenario)
