"""`monop run` frees ports and names before it takes them, and reports a failed recreate while
the old container keeps serving (real Podman, real daemon process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import service_yaml, write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19830
# httpd as PID 1 ignores SIGTERM: stopping or removing it takes the whole stop timeout, as
# with many real applications; the stand-in image's own STOPSIGNAL (SIGKILL) would hide that.
SLOW_STOP = "  stopSignal: SIGTERM\n  stopTimeout: 3s\n"


def containers(service: PodmanService) -> dict[str, tuple[str, str]]:
    """name -> (ID, state) of the containers this test made (not a lived-in host's own)."""
    return {c["Names"][0]: (c["Id"], c["State"]) for c in service.containers()}


def served(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


@pytest.fixture
def daemon(tmp_path: Path, podman: object, podman_service: PodmanService) -> Iterator[DaemonProcess]:
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT).write_text(service_yaml("alpha", PORT) + SLOW_STOP)
    write_service(desired, "beta", PORT + 1)
    with DaemonProcess(podman_service.url, desired, tmp_path / "state") as process:
        process.wait_ready()
        wait_for(
            lambda: [s for _, s in containers(podman_service).values()] == ["running", "running"],
            60,
            "alpha and beta running",
        )
        yield process


def failures(daemon: DaemonProcess) -> list[str]:
    return [
        str(line["event"])
        for line in daemon.logs
        if str(line.get("event", "")).endswith("_failed") or line.get("event") == "crash_loop_backoff"
    ]


def test_a_renamed_resource_keeping_its_port_starts_once_the_old_one_is_gone(
    daemon: DaemonProcess, podman_service: PodmanService
) -> None:
    # The rename in one save: the new file appears, the old one goes; both publish PORT.
    write_service(daemon.desired, "alpha-renamed", PORT, metrics="app_up 2")
    (daemon.desired / "alpha.yaml").unlink()
    wait_for(
        lambda: (
            set(containers(podman_service)) == {"alpha-renamed", "beta"}
            and containers(podman_service)["alpha-renamed"][1] == "running"
        ),
        30,
        "alpha-renamed running in place of alpha",
    )
    assert served(PORT) == "app_up 2\n"
    assert daemon.events("container_removed", resource="BusinessService/alpha")
    assert failures(daemon) == [], daemon.stderr_tail(30)
    assert len(daemon.events("container_created", resource="BusinessService/alpha-renamed")) == 1
    assert daemon.metric("monop_resources", state="CrashLoopBackOff") == 0
    code, shown = daemon.status()
    assert code == 0, shown


def test_a_failed_recreate_is_reported_while_the_old_container_serves(
    daemon: DaemonProcess, podman_service: PodmanService
) -> None:
    before = containers(podman_service)["alpha"]
    (daemon.desired / "alpha.yaml").write_text(
        service_yaml("alpha", PORT, "app_up 2")
        + SLOW_STOP
        + '  devices: ["/dev/no-such-device:/dev/x:rwm"]\n'
    )
    failed = daemon.wait_event("container_recreate_failed", resource="BusinessService/alpha")
    assert "/dev/no-such-device" in failed["error"]
    assert containers(podman_service)["alpha"] == before
    assert served(PORT) == "app_up 1\n"
    assert (
        daemon.metric("monop_actions_total", kind="BusinessService", action="recreate", result="error") == 1
    )
    code, shown = daemon.status()
    [alpha] = [r for r in shown["resources"] if r["name"] == "alpha"]  # type: ignore[attr-defined]
    assert code == 1
    assert alpha["state"] == "Drifted"
    assert "/dev/no-such-device" in alpha["daemon"]["lastError"]


def test_a_daemon_killed_mid_swap_is_finished_by_the_next_one(
    daemon: DaemonProcess, podman_service: PodmanService, tmp_path: Path
) -> None:
    temp = "alpha_monop-new"
    (daemon.desired / "alpha.yaml").write_text(service_yaml("alpha", PORT, "app_up 2"))
    # The replacement runs under its swap name while the executor checks it stays up (1 s):
    # SIGKILL the daemon there, after the old one was stopped and before it was removed.
    wait_for(lambda: containers(podman_service).get(temp, ("", ""))[1] == "running", 30, "the swap under way")
    daemon.process.kill()  # type: ignore[union-attr]
    daemon.process.wait(10)  # type: ignore[union-attr]
    made = containers(podman_service)[temp][0]
    assert containers(podman_service)["alpha"][1] != "running"
    with DaemonProcess(podman_service.url, daemon.desired, daemon.state_dir) as again:
        again.wait_ready()
        wait_for(
            lambda: again.events("container_replacement_completed", resource="BusinessService/alpha"),
            30,
            "the swap completed",
        )
        assert containers(podman_service)["alpha"] == (made, "running")  # renamed, not made again
        assert set(containers(podman_service)) == {"alpha", "beta"}
        assert served(PORT) == "app_up 2\n"
        assert failures(again) == []
