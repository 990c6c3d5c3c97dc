"""The event log: appended, bounded, read back, logged, and free of secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from structlog.testing import capture_logs

from monop import secrets
from monop.daemon.events import EVENTS_FILE, Event, EventLog, read_events


def event(i: int, resource: str | None = "Exporter/node", kind: str = "Normal") -> Event:
    return Event(1_764_542_400.0 + i, kind, "Recreated", f"recreated #{i}", resource, "abc123")  # type: ignore[arg-type]


def test_events_are_appended_and_read_back_in_order(tmp_path: Path) -> None:
    events = EventLog(tmp_path)
    events.emit(event(1))
    events.emit(event(2, "CAdvisor/cadvisor", "Warning"))
    events.emit(event(3, None))
    assert stat.S_IMODE((tmp_path / EVENTS_FILE).stat().st_mode) == 0o600
    assert read_events(tmp_path) == [event(1), event(2, "CAdvisor/cadvisor", "Warning"), event(3, None)]
    assert read_events(tmp_path, "Exporter/node") == [event(1)]
    first = json.loads((tmp_path / EVENTS_FILE).read_text().splitlines()[0])
    assert first["time"] == "2025-11-30T22:40:01Z"
    # A restarted daemon remembers what the file holds.
    assert EventLog(tmp_path).recent("CAdvisor/cadvisor") == [event(2, "CAdvisor/cadvisor", "Warning")]


def test_the_file_stays_bounded(tmp_path: Path) -> None:
    events = EventLog(tmp_path, keep=5)
    for i in range(23):
        events.emit(event(i))
    lines = (tmp_path / EVENTS_FILE).read_text().splitlines()
    assert 5 <= len(lines) < 10
    assert read_events(tmp_path)[-5:] == [event(i) for i in range(18, 23)]
    assert events.recent(limit=2) == [event(21), event(22)]


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    EventLog(tmp_path).emit(event(1))
    with (tmp_path / EVENTS_FILE).open("a") as f:
        f.write('{"time": "2025-11-30T22:40:02Z", "ty')
    assert read_events(tmp_path) == [event(1)]


def test_events_are_logged_and_scrubbed(tmp_path: Path) -> None:
    secrets.remember(secrets.Secrets(frozenset({"hunter2-very-secret"})))
    with capture_logs() as logs:
        EventLog(tmp_path).emit(
            Event(
                1.0,
                "Warning",
                "Unhealthy",
                "probe said: token hunter2-very-secret refused",
                "BusinessService/api",
            )
        )
    assert logs[0]["event"] == "event_recorded"
    assert logs[0]["reason"] == "Unhealthy" and logs[0]["log_level"] == "warning"
    assert "hunter2-very-secret" not in str(logs)
    assert "hunter2-very-secret" not in (tmp_path / EVENTS_FILE).read_text()
