"""The daemon's state is private: files 0600 in a 0700 directory (0711 when Prometheus's files are inside)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from monop import secrets
from monop.daemon.statestore import DaemonLock, DaemonRecord, StateStore
from monop.desired import source


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def record() -> DaemonRecord:
    return DaemonRecord(pid=1, started_at=0.0, updated_at=0.0, source="https://u:pw-3Fq@h/r.git")


def test_state_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "history.jsonl").write_text("")
    (state / "history.jsonl").chmod(0o644)  # as an older monop left it
    store = StateStore(state, shared=(tmp_path / "file_sd", tmp_path / "rules"))
    store.save(record(), {})
    store.append_history({"revision": "abc", "at": time.time()})
    source.write_hold(state, source.Hold("abc", time.time()))
    lock = DaemonLock(state)
    lock.acquire()
    lock.release()
    assert mode(state) == 0o700
    for name in ("status.json", "history.jsonl", "hold.json", "monop.lock"):
        assert mode(state / name) == 0o600, name
    # A URL's password never reaches the file, whoever put it in the record.
    assert "pw-3Fq" not in (state / "status.json").read_text()


def test_a_state_directory_holding_prometheus_files_lets_prometheus_pass_only(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state", shared=(tmp_path / "state" / "file_sd",))
    store.save(record(), {})
    assert mode(tmp_path / "state") == 0o711


def test_history_entries_are_scrubbed_of_remembered_secrets(tmp_path: Path) -> None:
    secrets.remember(secrets.collect([("API_TOKEN", "hist-secret-51")]))
    store = StateStore(tmp_path)
    store.append_history({"errors": ["spec.args[0]: --mirror=hist-secret-51 is not valid"]})
    assert "hist-secret-51" not in (tmp_path / "history.jsonl").read_text()


def test_parents_monop_creates_for_another_instance_let_prometheus_pass(tmp_path: Path) -> None:
    """`/var/lib/monop/instance/<name>` under a 0077 umask: Prometheus must reach its file_sd too."""
    import os

    state = tmp_path / "lib" / "instance" / "b"
    old = os.umask(0o077)
    try:
        StateStore(state, shared=(state / "file_sd",)).save(record(), {})
    finally:
        os.umask(old)
    assert [mode(d) for d in (tmp_path / "lib", tmp_path / "lib" / "instance", state)] == [0o711] * 3
