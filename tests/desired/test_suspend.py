"""The suspended-resources file: what `monop suspend` writes and the daemon reads."""

from __future__ import annotations

import stat
from pathlib import Path

from monop.desired.suspend import SUSPEND_FILE, read_suspended, resume, suspend


def test_suspend_then_resume_round_trips(tmp_path: Path) -> None:
    assert suspend(tmp_path, "Exporter/node", 100.0, by="alice")
    assert not suspend(tmp_path, "Exporter/node", 200.0, by="bob")  # the first one is kept
    assert suspend(tmp_path, "CAdvisor/cadvisor", 150.0, by="bob")
    found = read_suspended(tmp_path)
    assert set(found) == {"Exporter/node", "CAdvisor/cadvisor"}
    assert (found["Exporter/node"].since, found["Exporter/node"].by) == (100.0, "alice")
    assert stat.S_IMODE((tmp_path / SUSPEND_FILE).stat().st_mode) == 0o600
    assert resume(tmp_path, "Exporter/node")
    assert not resume(tmp_path, "Exporter/node")
    assert set(read_suspended(tmp_path)) == {"CAdvisor/cadvisor"}
    assert resume(tmp_path, "CAdvisor/cadvisor")
    assert not (tmp_path / SUSPEND_FILE).exists()


def test_an_unreadable_file_suspends_nothing(tmp_path: Path) -> None:
    (tmp_path / SUSPEND_FILE).write_text("{not json")
    assert read_suspended(tmp_path) == {}
    (tmp_path / SUSPEND_FILE).write_text("[1, 2]")
    assert read_suspended(tmp_path) == {}
    assert read_suspended(tmp_path / "missing") == {}
