"""The commands that talk to a running daemon, against a real `monop run` and a real Podman.

suspend / resume take effect on the daemon; `reconcile --wait` returns once the daemon has
looked; `get -o json`, `describe` and `events` show the conditions and events the daemon keeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman
PORT = 19380
KEY = "BusinessService/held"


def monop(*args: str, podman_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MONOP_PODMAN_URL": podman_url, "NO_COLOR": "1"},
        timeout=60,
    )


def state_of(podman_service: PodmanService) -> str:
    done = podman_service.podman("inspect", "held", "--format", "{{.State.Status}}", check=False)
    return done.stdout.strip()


@pytest.fixture
def daemon(tmp_path: Path, podman_service: PodmanService) -> Iterator[DaemonProcess]:
    tree = tmp_path / "desired"
    write_service(tree, "held", PORT)
    with DaemonProcess(podman_service.url, tree, tmp_path / "state") as process:
        process.wait_ready()
        wait_for(lambda: state_of(podman_service) == "running", 60, "held running")
        yield process


def test_suspend_resume_reconcile_and_what_get_describe_events_show(
    daemon: DaemonProcess, podman_service: PodmanService
) -> None:
    url, state = podman_service.url, str(daemon.state_dir)
    common = ("-f", str(daemon.desired), "--state-dir", state)

    done = monop("suspend", KEY, "--state-dir", state, podman_url=url)
    assert done.returncode == 0, done.stderr
    podman_service.podman("stop", "-t", "0", "held")

    def shown() -> dict[str, object]:
        got = monop("get", KEY, "-o", "json", *common, podman_url=url)
        assert got.returncode in (0, 1), got.stderr
        document = json.loads(got.stdout)
        [resource] = [r for r in document["resources"] if f"{r['kind']}/{r['name']}" == KEY]
        return dict(resource)

    wait_for(lambda: shown().get("suspended") is True, 60, "get to show held suspended")
    assert state_of(podman_service) == "exited"  # reported, not repaired
    described = monop("describe", KEY, *common, podman_url=url)
    assert "Suspended" in described.stdout, described.stdout + described.stderr

    done = monop("resume", KEY, "--state-dir", state, podman_url=url)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: state_of(podman_service) == "running", 60, "held started again after resume")

    done = monop("reconcile", KEY, "--wait", "--timeout", "30s", "--state-dir", state, podman_url=url)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: shown().get("sync") == "Synced", 30, "held in sync")

    events = monop("events", "--for", KEY, "-o", "json", "--state-dir", state, podman_url=url)
    assert events.returncode == 0, events.stderr
    reasons = [(e["type"], e["reason"]) for e in map(json.loads, events.stdout.splitlines())]  # JSON Lines
    assert ("Normal", "Suspended") in reasons
    assert reasons.index(("Normal", "Suspended")) < len(reasons) - 1
    assert ("Normal", "Started") in reasons[reasons.index(("Normal", "Suspended")) :]

    unknown = monop("reconcile", "Exporter/nope", "--state-dir", state, podman_url=url)
    assert unknown.returncode == 1 and "Exporter/nope" in unknown.stderr
