"""Prometheus is told to scrape what monop owns and keeps: not less, not more.

Real Podman: an orphan `apply --no-prune` leaves running keeps its target; a container monop
does not own, holding a desired name, gets none (from `apply` and from the daemon) until the
name is monop's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19640  # 19640-19642: this file's host ports


def monop(tmp_path: Path, service: PodmanService, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONOP_PODMAN_URL": service.url,
        "MONOP_SD_DIR": str(tmp_path / "file_sd"),
        "MONOP_RULES_DIR": str(tmp_path / "rules"),
        "MONOP_STATE_DIR": str(tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "monop", *args, "-d", str(tmp_path / "desired")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def resources_in(sd_dir: Path) -> dict[str, list[str]]:
    """file name -> the resources its target groups belong to."""
    return {
        path.name: [group["labels"]["monop_resource"] for group in json.loads(path.read_text())]
        for path in sorted(sd_dir.glob("*.json"))
    }


def names(service: PodmanService) -> set[str]:
    return {c["Names"][0] for c in service.containers()}


@pytest.fixture
def conflicted(tmp_path: Path, podman: object, podman_service: PodmanService) -> Path:
    """alpha and gamma desired; gamma's name held by a container monop does not own (no monop labels)."""
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT)
    write_service(desired, "gamma", PORT + 2)
    podman_service.podman("run", "-d", "--name", "gamma", images.BUSYBOX, "sleep", "600")
    return desired


def test_apply_no_prune_keeps_the_target_of_the_orphan_it_keeps(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT)
    write_service(desired, "beta", PORT + 1)
    assert monop(tmp_path, podman_service, "apply").returncode == 0
    sd_dir = tmp_path / "file_sd"
    assert resources_in(sd_dir)["beta.json"] == ["BusinessService/beta"]

    (desired / "beta.yaml").unlink()
    kept = monop(tmp_path, podman_service, "apply", "--no-prune")
    assert "beta" in names(podman_service), kept.stdout + kept.stderr
    assert resources_in(sd_dir)["beta.json"] == ["BusinessService/beta"]  # still running, still scraped

    pruned = monop(tmp_path, podman_service, "apply")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "beta" not in names(podman_service)
    assert "beta.json" not in resources_in(sd_dir)


def test_apply_writes_no_target_for_a_name_another_container_holds(
    tmp_path: Path, conflicted: Path, podman_service: PodmanService
) -> None:
    done = monop(tmp_path, podman_service, "apply")
    assert done.returncode == 1 and "BusinessService/gamma: Conflict" in done.stderr
    sd_dir = tmp_path / "file_sd"
    assert "gamma.json" not in resources_in(sd_dir)
    assert resources_in(sd_dir)["alpha.json"] == ["BusinessService/alpha"]

    podman_service.podman("rm", "-f", "gamma")  # the name is free: monop creates gamma, and scrapes it
    assert monop(tmp_path, podman_service, "apply").returncode == 0
    assert resources_in(sd_dir)["gamma.json"] == ["BusinessService/gamma"]


def test_the_daemon_writes_no_target_for_a_name_another_container_holds(
    tmp_path: Path, conflicted: Path, podman_service: PodmanService
) -> None:
    state_dir = tmp_path / "state"
    sd_dir = state_dir / "file_sd"
    with DaemonProcess(podman_service.url, conflicted, state_dir, resync_interval="1s") as daemon:
        daemon.wait_ready()
        wait_for(
            lambda: (
                daemon.metric("monop_resources", state="Conflict") == 1
                and "alpha.json" in resources_in(sd_dir)
            ),
            30,
            "gamma seen as a Conflict and alpha's target written",
        )
        assert sorted(resources_in(sd_dir)) == ["alpha.json", "monop.json"]

        podman_service.podman("rm", "-f", "gamma")
        wait_for(
            lambda: resources_in(sd_dir).get("gamma.json") == ["BusinessService/gamma"],
            30,
            "gamma's target once the name is monop's",
        )
