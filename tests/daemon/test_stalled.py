"""A resource whose error needs a person is Stalled: not retried until its spec changes or a person asks.

A real `monop run` against a real Podman: an image reference Podman can never parse (a
repository name must be lowercase) fails its pull at once and for good.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop.daemon.events import read_events
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

BAD = "BusinessService/bad"
BAD_IMAGE = "localhost/monop-test/Metrics:1"  # uppercase: an invalid reference, whatever registry
PORT = 19420


@pytest.fixture
def desired(tmp_path: Path, podman: object) -> Path:
    tree = tmp_path / "desired"
    write_service(tree, "good", PORT)
    write_service(tree, "bad", PORT + 1, image=BAD_IMAGE)
    return tree


@pytest.fixture
def daemon(podman_service: PodmanService, desired: Path, tmp_path: Path) -> Iterator[DaemonProcess]:
    with DaemonProcess(podman_service.url, desired, tmp_path / "state", resync_interval="0.5s") as d:
        yield d.wait_ready()


def failures(daemon: DaemonProcess) -> int:
    return len(daemon.events("container_create_failed", resource=BAD))


def record_of(daemon: DaemonProcess, key: str) -> dict[str, object]:
    """The daemon's record of `key` in its state file."""
    record: dict[str, object] = json.loads((daemon.state_dir / "status.json").read_text())["resources"][key]
    return record


def test_an_unpullable_image_stalls_until_a_person_asks_or_the_spec_changes(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    stalled = daemon.wait_event("resource_stalled", resource=BAD, timeout=60)
    assert stalled["error"] == f"pull {BAD_IMAGE}: repository name must be lowercase"
    assert failures(daemon) == 1
    assert (daemon.metric("monop_reconcile_total", kind="BusinessService", result="stalled") or 0) >= 1
    assert record_of(daemon, BAD)["state"] == "Stalled"

    # In the field's own terms: Stalled and not Ready, both for the error's reason, and an event.
    def ready() -> tuple[str, str]:
        found = {c["type"]: c for c in record_of(daemon, BAD)["conditions"]}  # type: ignore[attr-defined]
        return found["Ready"]["status"], found["Ready"]["reason"]

    # The record is saved as the action ends, its conditions an instant later: wait for them.
    wait_for(lambda: ready() == ("False", "ImagePullFailed"), 30, "Ready False for ImagePullFailed")
    conditions = {c["type"]: c for c in record_of(daemon, BAD)["conditions"]}  # type: ignore[attr-defined]
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "ImagePullFailed")
    assert (conditions["Stalled"]["status"], conditions["Stalled"]["reason"]) == ("True", "ImagePullFailed")
    assert "repository name must be lowercase" in conditions["Stalled"]["message"]
    assert [(e.type, e.reason) for e in read_events(daemon.state_dir, BAD)][-1] == (
        "Warning",
        "ImagePullFailed",
    )

    # Resyncs every 0.5 s for 4 s (a backoff would have retried after 1 s and 2 s): not tried again.
    since = _saved_at(daemon)
    wait_for(lambda: _saved_at(daemon) >= since + 4, 30, "4 s of resyncs")
    assert failures(daemon) == 1
    assert record_of(daemon, BAD)["state"] == "Stalled"
    assert record_of(daemon, BAD)["stalled_spec_hash"], "plan and apply read which spec stalled"

    # A person asks: tried again at once, and stalled again.
    answer = httpx.post(daemon.base_url + "/reconcile", params={"resource": BAD}, timeout=10)
    assert (answer.status_code, answer.json()) == (202, {"queued": [BAD]})
    wait_for(lambda: failures(daemon) == 2, 30, "a second attempt after POST /reconcile")
    unknown = httpx.post(daemon.base_url + "/reconcile", params={"resource": "Exporter/nope"}, timeout=10)
    assert unknown.status_code == 404 and "Exporter/nope" in unknown.json()["error"]

    # The spec changes: tried again, and it runs.
    write_service(desired, "bad", PORT + 1, image=images.METRICS)
    wait_for(
        lambda: any(c["Names"][0] == "bad" and c["State"] == "running" for c in podman_service.containers()),
        60,
        "bad running once its image is one that exists",
    )
    wait_for(lambda: record_of(daemon, BAD)["state"] == "InSync", 30, "bad InSync")


def _saved_at(daemon: DaemonProcess) -> float:
    """When the daemon last wrote its state file (it does at every resync)."""
    return float(json.loads((daemon.state_dir / "status.json").read_text())["daemon"]["updated_at"])
