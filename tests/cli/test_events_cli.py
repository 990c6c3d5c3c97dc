"""`monop events`: the daemon's event log, read as kubectl and flux users read theirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from monop.daemon.events import Event, EventLog
from monop_testbed.podman_service import wait_for


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=os.environ, timeout=60
    )


def recorded(state: Path) -> float:
    """Events as the daemon records them (its EventLog writes events.jsonl), ages counted from
    now (not from when the module was collected: a long suite would age them); returns now."""
    state.mkdir(parents=True, exist_ok=True)
    events = EventLog(state)
    now = time.time()
    events.emit(Event(now - 120, "Normal", "Created", "created", "Exporter/a", "abc123"))
    events.emit(Event(now - 60, "Warning", "Stopped", "state: exited (code 137)", "Exporter/b"))
    events.emit(Event(now - 5, "Normal", "InSync", "running as declared", "Exporter/b"))
    return now


def test_events_table_and_filter(tmp_path: Path) -> None:
    recorded(tmp_path)
    done = monop("events", "--state-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[0].split()[0] == "2m"  # as kubectl shows an event's age
    assert [line.split()[1:] for line in rows] == [
        ["Normal", "Created", "Exporter/a", "created"],
        ["Warning", "Stopped", "Exporter/b", "state:", "exited", "(code", "137)"],
        ["Normal", "InSync", "Exporter/b", "running", "as", "declared"],
    ]
    only = monop("events", "--for", "Exporter/b", "--no-headers", "--state-dir", str(tmp_path))
    assert [line.split()[1:3] for line in only.stdout.splitlines()] == [
        ["Warning", "Stopped"],
        ["Normal", "InSync"],
    ]


def test_events_as_json_lines(tmp_path: Path) -> None:
    now = recorded(tmp_path)
    done = monop("events", "-o", "json", "--state-dir", str(tmp_path))
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 120)),
        "type": "Normal",
        "reason": "Created",
        "resource": "Exporter/a",
        "message": "created",
        "revision": "abc123",
    }
    assert monop("events", "-o", "name", "--state-dir", str(tmp_path)).stdout.split() == [
        "Exporter/a",
        "Exporter/b",
        "Exporter/b",
    ]


def test_no_events_is_said_on_stderr(tmp_path: Path) -> None:
    done = monop("events", "--state-dir", str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"no events recorded in {tmp_path}\n"


def test_events_watch_prints_each_new_event_once(tmp_path: Path) -> None:
    recorded(tmp_path)
    log = EventLog(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "monop", "events", "-w", "-o", "json", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: len(seen) == 3, 30, "the three recorded events")
        log.emit(Event(time.time(), "Warning", "Drifted", "env X: 1 -> 2", "Exporter/a"))
        wait_for(lambda: len(seen) == 4, 30, "the new event")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0
    assert [json.loads(line)["reason"] for line in seen] == ["Created", "Stopped", "InSync", "Drifted"]
