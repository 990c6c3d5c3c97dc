"""Faults that used to leave `monop run` looking healthy while it had stopped doing its job.

Each test makes the fault happen to a real daemon on real Podman and checks it is said
(log, metric, /readyz, `monop status`), survived, and that nothing is lost or duplicated.
`scripts/faults` runs them (and every other `fault` test) and prints a table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.faults import FaultRecord
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.fault]

NAMES = ("alpha", "beta")
PORT = 19340


def env_of(service: PodmanService, name: str, var: str = "METRICS") -> str | None:
    done = service.podman("inspect", name, "--format", "json", check=False)
    if done.returncode != 0:
        return None
    env = dict(item.partition("=")[::2] for item in json.loads(done.stdout)[0]["Config"]["Env"])
    return env.get(var)


def ids(service: PodmanService) -> dict[str, str]:
    return {c["Names"][0]: c["Id"] for c in service.containers()}  # not a lived-in host's own


def readyz(daemon: DaemonProcess) -> tuple[int, str]:
    response = daemon.get("/readyz")
    return response.status_code, response.text


@pytest.fixture
def desired(tmp_path: Path, podman: object) -> Path:
    tree = tmp_path / "desired"
    for i, name in enumerate(NAMES):
        write_service(tree, name, PORT + i)
    return tree


def start(
    service: PodmanService, desired: Path, state: Path, fault: FaultRecord, **env: str
) -> DaemonProcess:
    daemon = DaemonProcess(service.url, desired, state, resync_interval="1s", extra_env=env)
    return fault.watch(daemon)  # started by `with`


@pytest.fixture
def daemon(
    desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> Iterator[DaemonProcess]:
    with start(podman_service, desired, tmp_path / "state", fault) as process:
        process.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == set(NAMES), 60, "alpha and beta created")
        yield process
        fault.count(podman_service, NAMES)


def test_a_task_that_raises_is_logged_once_counted_restarted_and_named_by_readyz(
    desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    fault.inject("the desired-state watch raises twice (MONOP_FAULT_INJECT)")
    with start(
        podman_service, desired, tmp_path / "state", fault, MONOP_FAULT_INJECT="watch-desired:2"
    ) as daemon:
        wait_for(lambda: "task watch-desired" in readyz(daemon)[1], 30, "/readyz to name the watch")
        assert readyz(daemon)[0] == 503
        failed = daemon.wait_event("task_failed", task="watch-desired")
        assert "InjectedFault" in failed["exception"]  # the traceback, once
        again = daemon.wait_event("task_failed_again", task="watch-desired")
        assert "exception" not in again
        wait_for(lambda: readyz(daemon)[0] == 200, 30, "/readyz back to 200 once the watch is up")
        assert daemon.metric("monop_task_failures_total", task="watch-desired") == 2
        daemon.wait_event("task_recovered", task="watch-desired")
        # The watch works again: an edit is applied.
        write_service(desired, "alpha", PORT, metrics="app_up 7")
        wait_for(lambda: env_of(podman_service, "alpha") == "app_up 7", 30, "alpha recreated from the edit")
        fault.count(podman_service, NAMES)


def test_a_crash_while_loading_the_desired_state_is_said_and_the_next_edit_applies(
    desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    fault.inject("loading the desired state raises (MONOP_FAULT_INJECT)")
    with start(
        podman_service, desired, tmp_path / "state", fault, MONOP_FAULT_INJECT="desired-load:1"
    ) as daemon:
        failed = daemon.wait_event("desired_state_load_failed")
        assert "InjectedFault" in failed["exception"]
        code, why = readyz(daemon)
        assert code == 503 and "desired-state load" in why
        assert daemon.metric("monop_task_failures_total", task="desired-load") == 1
        assert daemon.metric("monop_desired_state_valid") == 0
        write_service(desired, "alpha", PORT, metrics="app_up 3")  # the watch still follows
        daemon.wait_ready()
        wait_for(lambda: env_of(podman_service, "alpha") == "app_up 3", 60, "alpha created from the edit")
        assert readyz(daemon)[0] == 200
        fault.count(podman_service, NAMES)


def test_the_watchdog_stops_when_a_task_stays_down_past_the_grace(
    desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    fault.inject("the resync task raises at every start")
    env = {"MONOP_FAULT_INJECT": "resync:1000", "WATCHDOG_USEC": "400000", "MONOP_WATCHDOG_GRACE": "2s"}
    with start(podman_service, desired, tmp_path / "state", fault, **env) as daemon:
        wait_for(lambda: daemon.notified("WATCHDOG=1"), 30, "the first watchdog ping")
        withheld = daemon.wait_event("watchdog_withheld")
        assert withheld["down"] == ["task resync"]
        pings = sum(n == "WATCHDOG=1" for n in daemon.notifications)
        failures = len(daemon.events("task_failed_again", task="resync"))
        wait_for(
            lambda: len(daemon.events("task_failed_again", task="resync")) > failures,
            30,
            "the resync to fail once more",
        )
        assert sum(n == "WATCHDOG=1" for n in daemon.notifications) == pings  # systemd would restart it
        assert daemon.get("/healthz").status_code == 200


def test_the_desired_directory_deleted_then_back_is_watched_again(
    daemon: DaemonProcess, desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    before = ids(podman_service)
    fault.inject("desired directory removed (rm -rf)")
    shutil.rmtree(desired)
    wait_for(lambda: "desired path" in readyz(daemon)[1], 30, "/readyz to say the path is missing")
    assert readyz(daemon)[0] == 503
    daemon.wait_event("desired_path_missing", path=str(desired))
    done = daemon.monop("status", "-d", str(desired))
    assert done.returncode == 1 and f"{desired}: no such file or directory" in done.stderr
    state = json.loads((daemon.state_dir / "status.json").read_text())
    assert "desired path" in state["daemon"]["down"]
    daemon.send(signal.SIGHUP)  # a reload meanwhile prunes nothing either
    wait_for(lambda: daemon.events("desired_state_rejected"), 30, "the reload to be refused")
    assert ids(podman_service) == before  # the last applied state stays in force

    fault.inject("desired directory created again with new content")
    write_service(desired, "alpha", PORT, metrics="app_up 2")
    write_service(desired, "beta", PORT + 1)
    wait_for(lambda: env_of(podman_service, "alpha") == "app_up 2", 30, "alpha recreated from the new tree")
    wait_for(lambda: readyz(daemon)[0] == 200, 30, "/readyz back to 200")
    assert ids(podman_service)["beta"] == before["beta"]

    fault.inject("desired directory replaced by a symlink")
    other = tmp_path / "elsewhere"
    write_service(other, "alpha", PORT, metrics="app_up 3")
    write_service(other, "beta", PORT + 1)
    shutil.rmtree(desired)
    desired.symlink_to(other)
    wait_for(lambda: env_of(podman_service, "alpha") == "app_up 3", 30, "alpha from the symlinked tree")
    write_service(other, "alpha", PORT, metrics="app_up 4")  # and edits behind the symlink are seen
    wait_for(lambda: env_of(podman_service, "alpha") == "app_up 4", 30, "alpha from an edit there")
    assert daemon.tracebacks() == 0


def test_a_desired_directory_copied_back_slowly_is_read_whole(
    daemon: DaemonProcess, desired: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    """`mkdir desired && cp -r new/* desired/`: half a tree is never the desired state (beta kept)."""
    before = ids(podman_service)
    fault.inject("desired directory removed, then copied back file by file")
    shutil.rmtree(desired)
    daemon.wait_event("desired_path_missing", path=str(desired))
    desired.mkdir()
    write_service(desired, "alpha", PORT, metrics="app_up 2")
    with (desired / "copying.part").open("ab") as part:  # a large file still arriving: 1.5 s of it
        for _ in range(15):
            part.write(b"x" * 4096)
            part.flush()
            time.sleep(0.1)  # the copy's own pace, not a wait on the daemon
    write_service(desired, "beta", PORT + 1)
    wait_for(lambda: env_of(podman_service, "alpha") == "app_up 2", 30, "alpha recreated from the new tree")
    assert ids(podman_service)["beta"] == before["beta"]  # never pruned as "no longer desired"
    assert not daemon.events("container_removed")


def test_a_fifo_or_dev_zero_named_yaml_is_refused_and_the_loop_keeps_answering(
    daemon: DaemonProcess, desired: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    before = ids(podman_service)
    fault.inject("a FIFO and a symlink to /dev/zero named *.yaml")
    os.mkfifo(desired / "pipe.yaml")
    (desired / "zero.yaml").symlink_to("/dev/zero")
    rejected = daemon.wait_event("desired_state_rejected")
    assert (
        f"{desired}/pipe.yaml: is a FIFO, not a regular file (nor a symlink to one)" in rejected["problems"]
    )
    assert any(p.startswith(f"{desired}/zero.yaml: is a character device") for p in rejected["problems"])
    assert httpx.get(daemon.base_url + "/healthz", timeout=5).status_code == 200
    assert daemon.metric("monop_desired_state_valid") == 0
    (desired / "pipe.yaml").unlink()
    (desired / "zero.yaml").unlink()
    wait_for(lambda: daemon.metric("monop_desired_state_valid") == 1, 30, "the tree valid again")
    assert ids(podman_service) == before


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(
            lambda p: p.write_text(
                json.dumps({"daemon": {**_record(), "crash_loops": "x"}, "resources": {}})
            ),
            id="wrong-shape",
        ),
        pytest.param(lambda p: p.write_text('{"daemon": {"pid": '), id="torn"),
        pytest.param(lambda p: p.mkdir(), id="a-directory"),
    ],
)
def test_an_unreadable_state_file_is_kept_aside_and_the_daemon_starts(
    damage: object, desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    fault.inject("status.json damaged before the start")
    damage(state / "status.json")  # type: ignore[operator]
    with start(podman_service, desired, state, fault) as daemon:
        daemon.wait_ready()
        said = daemon.wait_event("state_file_unreadable")
        [kept] = state.glob("status.json.corrupt-*")
        assert said["kept_as"] == str(kept)
        wait_for(lambda: set(ids(podman_service)) == set(NAMES), 60, "alpha and beta created")
        wait_for(lambda: (state / "status.json").is_file(), 30, "a new status.json")
        assert daemon.tracebacks() == 0
        fault.count(podman_service, NAMES)


def _record() -> dict[str, object]:
    return {"pid": 1, "started_at": 1.0, "updated_at": 2.0, "source": "desired"}


@pytest.mark.parametrize("case", ["lock-is-a-directory", "state-dir-is-a-file"])
def test_an_unusable_state_directory_is_one_clear_line(
    case: str, desired: Path, tmp_path: Path, fault: FaultRecord
) -> None:
    fault.inject(case.replace("-", " "))
    state = tmp_path / "state"
    if case == "lock-is-a-directory":
        (state / "monop.lock").mkdir(parents=True)
        expected = f"monop: the lock file {state}/monop.lock is a directory"
    else:
        state.write_text("not a directory\n")
        expected = f"monop: state_dir {state} is not a directory"
    done = subprocess.run(
        [sys.executable, "-m", "monop", "run", "-d", str(desired), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, mounted for this test and unmounted after it: a disk that can be filled."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` up: a file written until the kernel says ENOSPC."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_one_error_the_reconciles_carry_on_and_status_says_stale(
    desired: Path, small_disk: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    with start(podman_service, desired, small_disk / "state", fault) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == set(NAMES), 60, "alpha and beta created")
        fault.inject("the state directory's disk filled up")
        filler = fill(small_disk)
        wait_for(lambda: "state writes" in readyz(daemon)[1], 30, "/readyz to say writes fail")
        assert readyz(daemon)[0] == 503
        fault.inject("a container killed while the disk is full")
        podman_service.podman("kill", "beta")
        wait_for(
            lambda: daemon.events("container_started", resource="BusinessService/beta"), 30, "beta repaired"
        )
        assert len(daemon.events("state_write_failed")) == 1  # one clear line, not one per write
        assert not daemon.events("reconcile_crashed")
        assert daemon.metric("monop_state_write_errors_total") >= 2  # type: ignore[operator]

        def says_stale() -> bool:
            done = daemon.monop("status", "-d", str(desired))
            return "its record is STALE: last written" in done.stdout

        wait_for(says_stale, 60, "monop status to say the record is stale", interval=1)
        _, shown = daemon.status()
        assert shown["daemon"]["staleSince"] is not None  # type: ignore[index]
        fault.count(podman_service, NAMES)

        filler.unlink()
        daemon.wait_event("state_write_recovered")
        wait_for(lambda: readyz(daemon)[0] == 200, 30, "/readyz back to 200")
        wait_for(lambda: "STALE" not in daemon.monop("status", "-d", str(desired)).stdout, 30, "fresh record")
        assert daemon.tracebacks() == 0


def test_the_metrics_port_in_use_is_one_clear_line(desired: Path, tmp_path: Path, fault: FaultRecord) -> None:
    import socket

    fault.inject("metrics_address taken by another listener")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                *(
                    sys.executable,
                    "-m",
                    "monop",
                    "run",
                    "-d",
                    str(desired),
                    "--state-dir",
                    str(tmp_path / "s"),
                ),
                *("--metrics-address", f"127.0.0.1:{port}", "--log-format", "json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"monop: setting metrics_address: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
