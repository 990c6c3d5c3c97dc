"""Two monop instances on one real Podman: neither plans for, prunes nor touches the other's containers.

Applies name their instance with `MONOP_INSTANCE`, plans and statuses with `--instance`, so
both ways are used.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monop.runtime import ownership
from monop.runtime.container import ContainerConfig
from monop.runtime.expand import spec_hash
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19420


def monop(service: PodmanService, instance: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`monop ARGS` as `instance`: through --instance for plan and status, else MONOP_INSTANCE."""
    env = {**os.environ, "MONOP_PODMAN_URL": service.url}
    flag: list[str] = []
    if args[0] in ("plan", "status"):
        flag = ["--instance", instance]
    else:
        env["MONOP_INSTANCE"] = instance
    return subprocess.run(
        [sys.executable, "-m", "monop", *args, *flag], capture_output=True, text=True, env=env, timeout=120
    )


def made(service: PodmanService) -> dict[str, tuple[str, str]]:
    """name -> (ID, instance label) of every container but the host's own."""
    return {
        c["Names"][0]: (c["Id"], (c.get("Labels") or {}).get(ownership.INSTANCE, ""))
        for c in service.containers()
    }


@pytest.fixture
def trees(tmp_path: Path, podman: Podman) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    write_service(a, "svc-a", PORT)
    write_service(b, "svc-b", PORT + 1)
    return a, b


def test_two_instances_apply_side_by_side(trees: tuple[Path, Path], podman_service: PodmanService) -> None:
    a, b = trees
    assert monop(podman_service, "a", "apply", "-d", str(a)).returncode == 0
    first = made(podman_service)
    assert monop(podman_service, "b", "apply", "-d", str(b)).returncode == 0
    both = made(podman_service)
    assert both.get("svc-a") == first["svc-a"], "b's apply removed a's container"
    assert (both["svc-a"][1], both["svc-b"][1]) == ("a", "b")
    # Each sees only its own: nothing to do, nothing orphaned, in sync.
    for instance, tree in (("a", a), ("b", b)):
        planned = monop(podman_service, instance, "plan", "-d", str(tree))
        assert (planned.returncode, planned.stdout.strip()) == (0, "nothing to do")
        status = monop(podman_service, instance, "status", "--json", "-d", str(tree))
        assert status.returncode == 0, status.stdout + status.stderr
        assert [r["state"] for r in json.loads(status.stdout)["resources"]] == ["InSync"]
        assert monop(podman_service, instance, "apply", "-d", str(tree)).returncode == 0
    assert made(podman_service) == both


def test_another_instances_container_holding_a_desired_name_is_a_conflict(
    trees: tuple[Path, Path], podman_service: PodmanService
) -> None:
    a, b = trees
    assert monop(podman_service, "a", "apply", "-d", str(a)).returncode == 0
    before = made(podman_service)
    write_service(b, "svc-a", PORT)  # b wants the name a's container holds
    done = monop(podman_service, "b", "apply", "-d", str(b))
    assert made(podman_service).get("svc-a") == before["svc-a"], "b's apply replaced a's container"
    assert done.returncode == 1
    assert "Conflict" in done.stderr and "belongs to monop instance 'a'" in done.stderr


def test_containers_made_before_instances_are_the_default_instances(
    trees: tuple[Path, Path], podman: Podman, podman_service: PodmanService
) -> None:
    a, b = trees
    # What monop made before this change: its labels, without an instance label.
    config = ContainerConfig(name="legacy", image=images.BUSYBOX, args=("sleep", "600"))
    labels = ownership.labels("Exporter", config, spec_hash(config), {})
    del labels[ownership.INSTANCE]
    asyncio.run(podman.create(config, labels))
    assert monop(podman_service, "a", "apply", "-d", str(a)).returncode == 0
    assert "legacy" in made(podman_service)  # not instance a's to prune
    assert monop(podman_service, "default", "apply", "-d", str(b)).returncode == 0
    # The default instance's: pruned as an orphan; instance a's container is not its to prune.
    assert set(made(podman_service)) == {"svc-a", "svc-b"}


def test_a_daemon_leaves_another_instances_containers_alone(
    trees: tuple[Path, Path], podman_service: PodmanService, tmp_path: Path
) -> None:
    a, b = trees
    daemon = DaemonProcess(
        podman_service.url, a, tmp_path / "state", resync_interval="1s", extra_env={"MONOP_INSTANCE": "a"}
    )
    with daemon:
        daemon.wait_ready()
        wait_for(
            lambda: made(podman_service).get("svc-a", ("", ""))[1] == "a", 60, "the daemon to create svc-a"
        )
        assert monop(podman_service, "b", "apply", "-d", str(b)).returncode == 0
        theirs = made(podman_service)["svc-b"]
        since = daemon.metric("monop_last_full_reconcile_timestamp_seconds") or 0.0

        def resynced_twice() -> bool:
            last = daemon.metric("monop_last_full_reconcile_timestamp_seconds") or 0.0
            return last > since + 1.5

        wait_for(resynced_twice, 30, "two full resyncs of the daemon after b's apply")
        assert made(podman_service).get("svc-b") == theirs, "the daemon removed b's container"
        assert not daemon.events("container_removed")
        assert made(podman_service)["svc-a"][1] == "a"
