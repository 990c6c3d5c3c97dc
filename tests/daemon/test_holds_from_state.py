"""`monop plan` and `apply` read the daemon's holds from its files: crash loops, stalls, suspensions."""

from __future__ import annotations

from pathlib import Path

from monop.daemon.records import holds_from_state
from monop.daemon.statestore import DaemonRecord, ResourceRecord, StateStore
from monop.desired.suspend import suspend
from monop.reconcile.holds import CrashLoopHold, Holds, Stall

NOW = 1_700_000_000.0


def test_holds_come_from_the_state_file_and_the_suspend_file(tmp_path: Path) -> None:
    loops = {
        "Exporter/looping": {"restarts": [NOW - 30, NOW - 20, NOW - 10], "level": 1, "last": NOW - 10},
        "Exporter/calm": {"restarts": [NOW - 30], "level": 0, "last": NOW - 30},  # one restart: no loop
        "Exporter/forgotten": {
            "restarts": [NOW - 900] * 3,
            "level": 0,
            "last": NOW - 900,
        },  # out of the window
    }
    records = {
        "Exporter/bad": ResourceRecord(
            "Exporter/bad", state="Stalled", last_error="pull x: manifest unknown", stalled_spec_hash="abc"
        ),
        "Exporter/failed": ResourceRecord("Exporter/failed", state="Failed", last_error="start: busy"),
    }
    StateStore(tmp_path).save(
        DaemonRecord(pid=1, started_at=NOW, updated_at=NOW, source="d", crash_loops=loops), records
    )
    suspend(tmp_path, "Exporter/held", NOW, "ops")

    assert holds_from_state(tmp_path, NOW) == Holds(
        NOW,
        crash_loops={"Exporter/looping": CrashLoopHold(NOW - 10 + 20, 3)},
        suspended=frozenset({"Exporter/held"}),
        stalled={"Exporter/bad": Stall("abc", "pull x: manifest unknown")},
    )
    # apply: a person asking is what a stalled resource waits for.
    assert holds_from_state(tmp_path, NOW, stalled=False).stalled == {}


def test_no_daemon_no_holds(tmp_path: Path) -> None:
    assert holds_from_state(tmp_path / "absent", NOW) == Holds(NOW)
    (tmp_path / "status.json").write_text("{torn")
    assert holds_from_state(tmp_path, NOW) == Holds(NOW)
