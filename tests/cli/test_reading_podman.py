"""get, status, describe, diff and their output forms, against a real Podman."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from monop.daemon.events import Event, EventLog
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ESCAPE = "\x1b["


@pytest.fixture
def env(tmp_path: Path, podman_service: PodmanService, podman: object) -> dict[str, str]:
    return {
        **os.environ,
        "MONOP_PODMAN_URL": podman_service.url,
        "MONOP_DESIRED": str(tmp_path / "desired"),
        "MONOP_STATE_DIR": str(tmp_path / "state"),
        "MONOP_SD_DIR": str(tmp_path / "file_sd"),
        "MONOP_RULES_DIR": str(tmp_path / "rules"),
    }


@pytest.fixture
def tree(tmp_path: Path, env: dict[str, str]) -> Path:
    desired = tmp_path / "desired"
    write_service(desired, "alpha", 19240)
    write_service(desired, "beta", 19241)
    done = monop(env, "apply")
    assert done.returncode == 0, done.stderr
    return desired


def monop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.split("\n\n")[0].splitlines()]


def test_get_selects_by_kind_and_name(tree: Path, env: dict[str, str]) -> None:
    every = monop(env, "get")
    assert every.returncode == 0, every.stderr
    table = rows(every.stdout)
    assert table[0] == ["KIND", "NAME", "STATE", "TARGET", "RESTARTS", "SINCE", "IMAGE", "REASON"]
    assert [r[:3] for r in table[1:]] == [
        ["BusinessService", "alpha", "InSync"],
        ["BusinessService", "beta", "InSync"],
    ]
    assert "daemon:" not in every.stdout  # that is status's
    for wanted in ("businessservice/alpha", "BusinessService/alpha", "alpha"):
        one = monop(env, "get", wanted, "--no-headers")
        assert [r[:3] for r in rows(one.stdout)] == [["BusinessService", "alpha", "InSync"]], wanted
    assert len(rows(monop(env, "get", "businessservices").stdout)) == 3
    missing = monop(env, "get", "Exporter/alpha")
    assert missing.returncode == 1
    assert missing.stderr == (
        "monop: Exporter/alpha: no such resource in the desired state or among monop's containers\n"
    )


def test_output_forms(tree: Path, env: dict[str, str]) -> None:
    names = monop(env, "get", "-o", "name")
    assert names.stdout == "BusinessService/alpha\nBusinessService/beta\n"
    document = json.loads(monop(env, "status", "-o", "json").stdout)
    assert document == json.loads(monop(env, "status", "--json").stdout) | {"daemon": document["daemon"]}
    assert yaml.safe_load(monop(env, "status", "-o", "yaml").stdout)["resources"] == document["resources"]
    alpha = document["resources"][0]
    assert RFC3339.match(alpha["since"]) and RFC3339.match(alpha["container"]["started"])
    assert alpha["specHash"] and alpha["suspended"] is False
    wide = rows(monop(env, "get", "-o", "wide").stdout)
    assert wide[0][7:] == ["CONTAINER", "SYNC", "HEALTH", "REVISION", "REASON"]
    assert wide[1][7:10] == [alpha["container"]["id"][:12], "Synced", "Healthy"]
    plain = monop(env, "get", "--no-headers")
    assert not plain.stdout.startswith("KIND") and ESCAPE not in plain.stdout


def test_drift_exits_1_for_status_get_plan_and_diff(tree: Path, env: dict[str, str]) -> None:
    write_service(tree, "alpha", 19240, metrics="app_up 2")
    for command in ("status", "get", "plan", "diff"):
        done = monop(env, command)
        assert done.returncode == 1, (command, done.stderr)
    diff = monop(env, "diff")
    assert diff.stdout.startswith("[1] recreate BusinessService/alpha: env METRICS: ")
    assert monop(env, "diff", "-o", "name").stdout == "BusinessService/alpha\n"
    assert json.loads(monop(env, "diff", "-o", "json").stdout)[0]["action"] == "recreate"
    assert monop(env, "get", "beta").returncode == 0  # only what is shown counts


def test_describe(tree: Path, env: dict[str, str], podman_service: PodmanService) -> None:
    podman_service.podman("stop", "-t", "1", "beta")
    state = Path(env["MONOP_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    EventLog(state).emit(
        Event(time.time() - 30, "Warning", "Stopped", "state: exited", "BusinessService/beta")
    )
    EventLog(state).emit(Event(time.time() - 20, "Normal", "Created", "created", "BusinessService/alpha"))
    done = monop(env, "describe", "BusinessService/beta")
    assert done.returncode == 1
    document = json.loads(monop(env, "describe", "beta", "-o", "json").stdout)
    text = done.stdout
    assert text.startswith("Name:          beta\nKind:          BusinessService\nState:         Stopped\n")
    assert f"Spec hash:     {document['specHash']}\n" in text
    assert f"  ID:          {document['container']['id']}\n" in text
    assert re.search(r"  State:       exited \(exit code \d+\)\n", text)
    assert re.search(
        r"Events:\n  LAST SEEN  TYPE     REASON   OBJECT                MESSAGE\n"
        r"  3\ds        Warning  Stopped  BusinessService/beta  state: exited\n",
        text,
    ), text
    assert [e["reason"] for e in document["events"]] == ["Stopped"]  # beta's only
    assert monop(env, "describe", "Exporter/zz").returncode == 1


def test_suspended_resources_are_shown(tree: Path, env: dict[str, str]) -> None:
    assert monop(env, "suspend", "BusinessService/alpha").returncode == 0
    shown = monop(env, "status")
    assert "SUSPENDED by " in shown.stdout and "\nsuspended: BusinessService/alpha" in shown.stdout
    document = json.loads(monop(env, "status", "-o", "json").stdout)
    assert [r["suspended"] for r in document["resources"]] == [True, False]
    assert document["suspended"] == ["BusinessService/alpha"]


def test_colour_on_a_terminal_but_not_with_no_color(tree: Path, env: dict[str, str]) -> None:
    assert ESCAPE in monop(env, "get", "--colour").stdout
    assert ESCAPE in terminal(env, "get")
    assert ESCAPE not in terminal({**env, "NO_COLOR": "1"}, "get")


def terminal(env: dict[str, str], *args: str, stream: str = "stdout") -> str:
    """What monop prints on a terminal (a pseudo-terminal as its stdout, or its stderr)."""
    leader, follower = pty.openpty()
    where = {stream: follower, "stderr" if stream == "stdout" else "stdout": subprocess.DEVNULL}
    process = subprocess.Popen([sys.executable, "-m", "monop", *args], env=env, **where)  # type: ignore[call-overload]
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    process.wait(timeout=60)
    os.close(leader)
    return out.decode()


def test_apply_shows_its_progress_on_a_terminal_only(tree: Path, env: dict[str, str]) -> None:
    write_service(tree, "alpha", 19240, metrics="app_up 2")
    assert "applying" in terminal(env, "apply", stream="stderr")
    write_service(tree, "alpha", 19240, metrics="app_up 3")
    piped = monop(env, "apply")
    assert "recreate BusinessService/alpha: ok" in piped.stdout
    assert "applying" not in piped.stderr


def test_watch_prints_again_when_a_state_changes(
    tree: Path, env: dict[str, str], podman_service: PodmanService
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "monop", "get", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def printed(text: str) -> bool:
        return any(text in line for line in list(seen))

    try:
        wait_for(lambda: printed("beta"), 60, "the first table")
        assert not any("Stopped" in line for line in seen)
        podman_service.podman("stop", "-t", "1", "beta")
        wait_for(lambda: printed("Stopped"), 60, "the table again, beta Stopped")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0
    tables = "".join(seen).split("\n\n")
    assert len(tables) == 2, seen  # printed again once, for the change; not for ages ticking


def test_apply_gives_up_at_its_timeout_and_the_next_apply_finishes(
    tree: Path, env: dict[str, str], podman_service: PodmanService
) -> None:
    write_service(tree, "alpha", 19240, metrics="app_up 2")
    cut = monop(env, "apply", "--timeout", "1ms")
    assert cut.returncode == 3
    assert cut.stderr.endswith("monop: apply did not finish within 1ms; run it again to finish\n")
    assert ESCAPE not in cut.stderr  # no spinner off a terminal
    again = monop(env, "apply")
    assert again.returncode == 0, again.stderr
    assert [r[:3] for r in rows(monop(env, "get").stdout)[1:]] == [
        ["BusinessService", "alpha", "InSync"],
        ["BusinessService", "beta", "InSync"],
    ]
    assert sorted(c["Names"][0] for c in podman_service.containers()) == ["alpha", "beta"]
    assert monop(env, "apply", "--timeout", "soon").returncode == 2


def test_status_exits_3_when_prometheus_or_podman_cannot_be_asked(
    tree: Path, env: dict[str, str], tmp_path: Path
) -> None:
    # Port 9 (discard) on loopback: nothing listens there.
    done = monop(env, "--prometheus-url", "http://127.0.0.1:9", "status")
    assert done.returncode == 3, done.stderr
    assert "prometheus: UNREACHABLE, targets not verified: " in done.stdout
    assert [r[3] for r in rows(done.stdout)[1:]] == ["?", "?"]  # TARGET: could not tell
    gone = monop(env, "--podman-url", f"unix://{tmp_path}/nothing.sock", "get")
    assert gone.returncode == 3
    assert gone.stderr.startswith(f"monop: cannot reach Podman at unix://{tmp_path}/nothing.sock: ")
