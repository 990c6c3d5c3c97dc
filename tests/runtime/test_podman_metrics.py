"""Podman operations counted and timed through the client's hook, against a real Podman service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monop.daemon.metrics import Metrics
from monop.errors import PodmanUnavailable
from monop.runtime.podman import OPERATIONS, RESULTS, Podman, PodmanError
from monop_testbed.podman_service import PodmanService


def count(metrics: Metrics, operation: str, result: str) -> float:
    got = metrics.registry.get_sample_value(
        "monop_podman_requests_total", {"operation": operation, "result": result}
    )
    assert got is not None
    return got


def timed(metrics: Metrics, operation: str) -> float:
    got = metrics.registry.get_sample_value(
        "monop_podman_request_duration_seconds_count", {"operation": operation}
    )
    assert got is not None
    return got


def test_every_operation_and_result_starts_at_zero() -> None:
    metrics = Metrics(CollectorRegistry())
    assert all(count(metrics, op, result) == 0 for op in OPERATIONS for result in RESULTS)
    assert all(timed(metrics, op) == 0 for op in OPERATIONS)


@pytest.mark.podman
def test_answered_and_refused_operations_are_counted_by_result(podman_service: PodmanService) -> None:
    metrics = Metrics(CollectorRegistry())
    client = Podman(podman_service.url, on_request=metrics.podman_request)
    try:
        asyncio.run(client.observe())
        with pytest.raises(PodmanError):
            asyncio.run(client.start("no-such-container"))
        with pytest.raises(PodmanError):
            asyncio.run(client.inspect("no-such-container"))
    finally:
        client.close()
    assert count(metrics, "list", "success") == 1
    assert count(metrics, "start", "error") == 1
    assert count(metrics, "inspect", "error") == 1
    assert (timed(metrics, "list"), timed(metrics, "start"), timed(metrics, "create")) == (1, 1, 0)


def test_no_answer_is_counted_as_unreachable(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    client = Podman(f"unix://{tmp_path}/absent.sock", on_request=metrics.podman_request)
    with pytest.raises(PodmanUnavailable):
        asyncio.run(client.observe())
    assert count(metrics, "list", "unreachable") == 1
    assert count(metrics, "list", "error") == 0
