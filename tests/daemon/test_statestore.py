"""The daemon's state file and its lock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monop.daemon.statestore import AlreadyRunning, DaemonLock, DaemonRecord, ResourceRecord, StateStore


def record(n: int) -> tuple[DaemonRecord, dict[str, ResourceRecord]]:
    daemon = DaemonRecord(pid=42, started_at=1.0, updated_at=float(n), source="desired/", ready=True)
    resources = {
        f"Exporter/e{i}": ResourceRecord(f"Exporter/e{i}", state="InSync", restart_count=n) for i in range(50)
    }
    return daemon, resources


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    daemon, resources = record(7)
    store.save(daemon, resources)
    assert store.load() == (daemon, resources)


def test_missing_or_corrupt_state_reads_as_empty(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.load() == (None, {})
    store.path.write_text("{not json")
    assert store.load() == (None, {})
    store.path.write_text(json.dumps({"daemon": {"pid": 1}, "resources": {}}))  # fields missing
    assert store.load() == (None, {})


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(*record(0))
    done = threading.Event()
    torn: list[str] = []

    def read() -> None:
        while not done.is_set():
            text = store.path.read_text()
            try:
                json.loads(text)
            except ValueError:
                torn.append(text)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(200):
        store.save(*record(n))
    done.set()
    reader.join()
    assert torn == []
    assert store.load()[0] == record(199)[0]
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp files left


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from monop.daemon.statestore import DaemonLock; "
            "DaemonLock(pathlib.Path(sys.argv[1])).acquire(); print('held', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning, match=rf"pid {holder.pid}\).*{tmp_path}"):
            DaemonLock(tmp_path).acquire()
    finally:
        holder.communicate("", timeout=10)
    # The kernel released the lock with the process: the directory is free again.
    lock = DaemonLock(tmp_path)
    lock.acquire()
    lock.release()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"daemon": {"pid": 1, "started_at": 1, "updated_at": 2, "source": "d", "crash_loops": "x"}}',
         "daemon.crash_loops: Input should be an object"),
        ('{"daemon": {"pid": 1, "started_at": 1, "updated_at": 2, "source": "d", "git": {"applied": "abc"}}}',
         "daemon.git.applied: Input should be a valid dictionary"),
        ('{"version": 9, "resources": {}}', "version: Input should be 1"),
        ("[1, 2]", "the file: Input should be an object"),
    ],
)  # fmt: skip
def test_a_state_file_of_the_wrong_shape_is_kept_aside_and_read_as_empty(
    tmp_path: Path, body: str, reason: str
) -> None:
    store = StateStore(tmp_path)
    store.path.write_text(body)
    assert store.load() == (None, {})  # `monop status` reads it and moves nothing
    assert store.path.exists()
    daemon, resources, unreadable = store.recover()
    assert (daemon, resources) == (None, {})
    assert unreadable is not None and reason in unreadable.reason
    assert unreadable.kept_as is not None and unreadable.kept_as.read_text() == body
    assert not store.path.exists()
    store.save(*record(1))  # and the daemon writes a fresh one
    assert store.load() == record(1)
