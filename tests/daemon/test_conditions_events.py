"""A real `monop run`: each resource's conditions in the state file and its events, as they happen.

Against real Podman: a resource found in sync is Ready; an edit makes it Drifted (a Warning
event) and its repair a `Recreated` event; a container killed behind the daemon's back is
`Started` again; `monop_resource_info` and the condition gauges follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monop.daemon.events import read_events
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman
PORT = 19390


def record(state_dir: Path, key: str) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / "status.json").read_text())["resources"].get(key) or {})
    except (OSError, ValueError):
        return {}


def ready(state_dir: Path, key: str) -> tuple[str, str] | None:
    for condition in record(state_dir, key).get("conditions") or []:
        if condition["type"] == "Ready":
            return condition["status"], condition["reason"]
    return None


def sample(process: DaemonProcess, metric: str, **labels: str) -> float | None:
    """One sample of /metrics (DaemonProcess.metric cannot take a label called `name`)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(process.get("/metrics").text):
        for s in family.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):  # and any host
                return float(s.value)
    return None


def reasons(state_dir: Path, key: str) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in read_events(state_dir, key)]


@pytest.fixture
def daemon(tmp_path: Path, podman_service: PodmanService) -> Iterator[tuple[DaemonProcess, Path]]:
    tree = tmp_path / "desired"
    write_service(tree, "cond", PORT)
    state = tmp_path / "state"
    with DaemonProcess(podman_service.url, tree, state) as process:
        process.wait_ready()
        wait_for(lambda: ready(state, "BusinessService/cond") == ("True", "InSync"), 60, "cond Ready")
        yield process, tree


def test_a_drift_and_its_repair_are_events_and_conditions(
    daemon: tuple[DaemonProcess, Path], podman_service: PodmanService, tmp_path: Path
) -> None:
    process, tree = daemon
    state, key = tmp_path / "state", "BusinessService/cond"
    first = record(state, key)
    assert (first["sync"], first["health_status"]) == ("Synced", "Healthy")
    assert first["last_applied_revision"]
    since = next(c for c in first["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
    assert since.endswith("Z")
    assert (
        sample(
            process,
            "monop_resource_info",
            kind="BusinessService",
            name="cond",
            sync="Synced",
            health="Healthy",
        )
        == 1
    )
    assert ("Normal", "Created") in reasons(state, key)

    write_service(tree, "cond", PORT, metrics="app_up 2")  # a new spec: the container drifts
    wait_for(lambda: ("Normal", "Recreated") in reasons(state, key), 90, "the recreate event")
    seen = reasons(state, key)
    assert seen.index(("Warning", "Drifted")) < seen.index(("Normal", "Recreated"))
    wait_for(lambda: ready(state, key) == ("True", "InSync"), 60, "Ready again")
    drifted = next(e for e in read_events(state, key) if e.reason == "Drifted")
    assert drifted.revision

    podman_service.podman("stop", "-t", "0", "cond")
    wait_for(lambda: ("Normal", "Started") in reasons(state, key), 60, "the start event")
    wait_for(lambda: ready(state, key) == ("True", "InSync"), 60, "Ready after the start")
    assert (
        sample(
            process,
            "monop_resource_condition",
            kind="BusinessService",
            name="cond",
            type="Ready",
            status="True",
        )
        == 1
    )
    # Every event was logged as well as kept.
    assert process.events("event_recorded", resource=key, reason="Recreated")


def test_a_suspended_resource_is_reported_not_repaired_until_resumed(
    daemon: tuple[DaemonProcess, Path], podman_service: PodmanService, tmp_path: Path
) -> None:
    import time

    import httpx

    from monop.desired.suspend import resume, suspend

    process, _ = daemon
    state, key = tmp_path / "state", "BusinessService/cond"
    assert suspend(state, key, time.time(), by="test")
    podman_service.podman("stop", "-t", "0", "cond")
    wait_for(lambda: ready(state, key) == ("False", "Suspended"), 60, "cond shown suspended")
    assert record(state, key)["suspended"] is True
    assert record(state, key)["health_status"] == "Suspended"
    assert ("Normal", "Suspended") in reasons(state, key)
    assert sample(process, "monop_suspended_resources") == 1
    assert (
        podman_service.podman("inspect", "cond", "--format", "{{.State.Status}}").stdout.strip() == "exited"
    )

    assert resume(state, key)
    answer = httpx.post(process.base_url + "/reconcile", params={"resource": key}, timeout=10)
    assert answer.status_code == 202, answer.text
    wait_for(lambda: ready(state, key) == ("True", "InSync"), 60, "cond running again")
    assert ("Normal", "Started") in reasons(state, key)
    assert sample(process, "monop_suspended_resources") == 0
