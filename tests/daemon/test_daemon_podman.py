"""`monop run` as a process against a real Podman: faults happen, the daemon repairs them.

The daemon is watched as systemd would watch it (its own NOTIFY_SOCKET), through its HTTP
endpoints, its JSON log lines, its state file and `monop status`. Waits are bounded polls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

NAMES = ("alpha", "beta", "gamma")
PORT = 19300


def containers(service: PodmanService) -> dict[str, dict[str, str]]:
    """name -> {id, state}, of every container in the private Podman but the host's own."""
    return {c["Names"][0]: {"id": c["Id"], "state": c["State"]} for c in service.containers()}


def env_of(service: PodmanService, name: str, var: str) -> str | None:
    """The value of `var` in container `name`, None while there is no such container (mid-recreate)."""
    done = service.podman("inspect", name, "--format", "json", check=False)
    if done.returncode != 0:
        return None
    for item in json.loads(done.stdout)[0]["Config"]["Env"]:
        key, _, value = item.partition("=")
        if key == var:
            return value
    return None


def all_running(service: PodmanService, names: tuple[str, ...] = NAMES) -> bool:
    live = containers(service)
    return set(live) == set(names) and all(c["state"] == "running" for c in live.values())


@pytest.fixture
def desired(tmp_path: Path, podman: object) -> Path:
    tree = tmp_path / "desired"
    tree.mkdir()
    for i, name in enumerate(NAMES):
        write_service(tree, name, PORT + i)
    return tree


@pytest.fixture
def daemon(desired: Path, tmp_path: Path, podman_service: PodmanService) -> Iterator[DaemonProcess]:
    with DaemonProcess(podman_service.url, desired, tmp_path / "state") as process:
        process.wait_ready()
        wait_for(lambda: all_running(podman_service), 60, "the daemon to create alpha, beta, gamma")
        yield process


def test_ready_then_converges_from_empty_and_reports_it(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    assert daemon.get("/readyz").status_code == 200
    wait_for(lambda: daemon.notified("STATUS=3 resources, 0 drifted"), 60, "STATUS with 3 in sync")
    assert (
        daemon.metric("monop_actions_total", kind="BusinessService", action="create", result="success") == 3
    )
    assert daemon.metric("monop_resources", state="InSync") == 3
    assert len(daemon.events("container_created")) == 3
    # What Prometheus is told to scrape: each resource's job, and the daemon itself where it listens.
    sd_dir = daemon.state_dir / "file_sd"
    assert sorted(p.name for p in sd_dir.iterdir()) == ["alpha.json", "beta.json", "gamma.json", "monop.json"]
    [own] = json.loads((sd_dir / "monop.json").read_text())
    assert own["targets"] == [daemon.base_url.removeprefix("http://")]
    code, shown = daemon.status()
    assert code == 0 and shown["daemon"]["running"] is True and shown["daemon"]["ready"] is True  # type: ignore[index]


def test_a_killed_container_is_restarted_by_the_event_not_the_resync(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    before = containers(podman_service)["beta"]["id"]
    podman_service.podman("kill", "beta")
    wait_for(
        lambda: daemon.events("container_started", resource="BusinessService/beta"), 20, "beta started again"
    )
    wait_for(lambda: all_running(podman_service), 20, "beta running again")
    assert containers(podman_service)["beta"]["id"] == before  # restarted, not recreated
    # The resync interval is 30 s: a repair within that came from the died event.
    assert daemon.metric("monop_event_to_repair_seconds_count") >= 1  # type: ignore[operator]
    code, shown = daemon.status()
    beta = next(r for r in shown["resources"] if r["name"] == "beta")  # type: ignore[attr-defined]
    assert code == 0 and beta["daemon"]["restartCount"] == 1 and beta["daemon"]["lastAction"] == "start"


def test_a_deleted_file_prunes_and_an_edited_one_recreates(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    (desired / "gamma.yaml").unlink()
    write_service(desired, "alpha", PORT, metrics="app_up 2")
    wait_for(lambda: set(containers(podman_service)) == {"alpha", "beta"}, 30, "gamma removed")
    wait_for(lambda: env_of(podman_service, "alpha", "METRICS") == "app_up 2", 30, "alpha recreated")
    wait_for(lambda: all_running(podman_service, ("alpha", "beta")), 30, "alpha running")
    assert daemon.events("container_removed", resource="BusinessService/gamma")
    assert not (daemon.state_dir / "file_sd" / "gamma.json").exists()  # nor scraped any more


def test_an_invalid_edit_is_refused_and_the_last_valid_state_stays(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    ids = {name: c["id"] for name, c in containers(podman_service).items()}
    (desired / "beta.yaml").write_text(
        (desired / "beta.yaml")
        .read_text()
        .replace(f":{PORT + 1}:", ":99999:")
        .replace("app_up 1", "app_up 9")
    )
    (desired / "gamma.yaml").unlink()  # in the same burst: must not be pruned either
    wait_for(lambda: daemon.events("desired_state_rejected"), 30, "the edit to be rejected")
    [rejected] = daemon.events("desired_state_rejected")
    assert any("beta.yaml:" in p and "99999" in p for p in rejected["problems"])
    assert daemon.metric("monop_desired_state_valid") == 0
    daemon.send(signal.SIGHUP)  # a resync and a reload: neither may apply the invalid state
    wait_for(lambda: len(daemon.events("desired_state_rejected")) >= 2, 30, "the reload to reject it again")
    assert {name: c["id"] for name, c in containers(podman_service).items()} == ids
    state = json.loads((daemon.state_dir / "status.json").read_text())
    assert "99999" in state["daemon"]["desired_error"]

    write_service(desired, "beta", PORT + 1, metrics="app_up 9")  # the fix
    wait_for(lambda: daemon.metric("monop_desired_state_valid") == 1, 30, "the fix to be accepted")
    wait_for(lambda: set(containers(podman_service)) == {"alpha", "beta"}, 30, "gamma pruned after the fix")
    wait_for(lambda: env_of(podman_service, "beta", "METRICS") == "app_up 9", 30, "beta recreated")


def test_ten_saves_in_a_burst_reload_once(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    wait_for(lambda: daemon.events("desired_state_loaded"), 10, "the first load")
    for i in range(10):
        write_service(desired, "alpha", PORT, metrics=f"app_up {i}")
    wait_for(lambda: env_of(podman_service, "alpha", "METRICS") == "app_up 9", 30, "alpha at the last save")
    wait_for(lambda: all_running(podman_service), 30, "alpha running")
    assert len(daemon.events("desired_state_changed")) == 1
    assert len(daemon.events("container_recreated", resource="BusinessService/alpha")) == 1


def test_podman_going_away_is_survived_and_repaired_after(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    podman_service.stop()
    try:
        wait_for(lambda: daemon.get("/readyz").status_code == 503, 30, "readyz to turn 503")
        assert "Podman" in daemon.get("/readyz").text
        assert daemon.alive
        assert daemon.get("/healthz").status_code == 200
    finally:
        podman_service.start()
    wait_for(lambda: daemon.get("/readyz").status_code == 200, 60, "readyz back to 200")
    assert daemon.metric("monop_podman_event_stream_reconnects_total") >= 1  # type: ignore[operator]
    # Containers outlive the API service; the event stream is back, so a kill is repaired again.
    podman_service.podman("kill", "alpha")
    wait_for(
        lambda: daemon.events("container_started", resource="BusinessService/alpha"), 30, "alpha restarted"
    )


def test_sigterm_during_a_change_then_a_new_daemon_converges_without_duplicates(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path, tmp_path: Path
) -> None:
    for i, name in enumerate(NAMES):
        write_service(desired, name, PORT + i, metrics="app_up 5")
    wait_for(lambda: daemon.events("desired_state_changed"), 30, "the change to be seen")
    assert daemon.stop(signal.SIGTERM, timeout=30) == 0
    assert daemon.notified("STOPPING=1")
    assert daemon.events("daemon_stopped")
    with DaemonProcess(podman_service.url, desired, daemon.state_dir) as second:
        second.wait_ready()
        wait_for(
            lambda: (
                all_running(podman_service)
                and all(env_of(podman_service, n, "METRICS") == "app_up 5" for n in NAMES)
            ),
            60,
            "every container at the new spec",
        )
    assert sorted(containers(podman_service)) == sorted(NAMES)


def test_a_second_daemon_on_the_same_state_directory_refuses_to_start(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monop", "run", "-d", str(desired), "--state-dir", str(daemon.state_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "MONOP_PODMAN_URL": podman_service.url},
        timeout=60,
    )
    assert done.returncode == 2
    assert f"another monop daemon (pid {daemon.process.pid})" in done.stderr  # type: ignore[union-attr]
    assert daemon.alive


def test_sighup_reloads_and_says_so(daemon: DaemonProcess) -> None:
    loads = len(daemon.events("desired_state_loaded"))
    daemon.send(signal.SIGHUP)
    wait_for(lambda: daemon.notified("RELOADING=1"), 10, "RELOADING=1")
    wait_for(lambda: len(daemon.events("desired_state_loaded")) > loads, 10, "the desired state reloaded")


def test_a_container_that_keeps_dying_goes_into_crash_loop_backoff(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    (desired / "crasher.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\nmetadata: {name: crasher}\n"
        f"spec:\n  image: {images.BUSYBOX}\n  command: [sh, -c, 'exit 3']\n"
        "  scrape: {port: 19399}\n"
    )

    def looping() -> bool:
        _code, shown = daemon.status()
        crasher = next((r for r in shown.get("resources", []) if r["name"] == "crasher"), None)  # type: ignore[attr-defined]
        return crasher is not None and crasher["state"] == "CrashLoopBackOff"

    wait_for(looping, 60, "crasher in CrashLoopBackOff", interval=0.5)
    code, shown = daemon.status()
    crasher = next(r for r in shown["resources"] if r["name"] == "crasher")  # type: ignore[attr-defined]
    assert code == 1
    assert crasher["daemon"]["restartCount"] >= 2
    assert any(r["field"].startswith("next try in") for r in crasher["reasons"])
    assert datetime.fromisoformat(crasher["daemon"]["backoffUntil"]).timestamp() > time.time()
    assert daemon.events("crash_loop_backoff", resource="BusinessService/crasher")
    # Spaced out: no restart while the backoff lasts. SIGHUP makes the daemon look at every
    # resource again at once; it declines crasher (another crash_loop_backoff line) and starts nothing.
    restarts = len(daemon.events("container_started", resource="BusinessService/crasher"))
    declined = len(daemon.events("crash_loop_backoff", resource="BusinessService/crasher"))
    daemon.send(signal.SIGHUP)
    wait_for(
        lambda: len(daemon.events("crash_loop_backoff", resource="BusinessService/crasher")) > declined,
        30,
        "crasher looked at again during its backoff",
    )
    assert len(daemon.events("container_started", resource="BusinessService/crasher")) == restarts


def test_warnings_of_the_desired_state_are_logged_once_per_load(
    daemon: DaemonProcess, podman_service: PodmanService, desired: Path
) -> None:
    images.tag(podman_service, images.METRICS, "localhost/monop-test/metrics:latest")
    write_service(desired, "delta", PORT + 3, image="localhost/monop-test/metrics:latest")
    warning = daemon.wait_event("desired_state_warning")
    assert "BusinessService/delta" in warning["problem"] and "not pinned" in warning["problem"]
    wait_for(
        lambda: all_running(podman_service, (*NAMES, "delta")), 30, "delta running: a warning does not block"
    )
