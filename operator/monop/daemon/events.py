"""Events: every transition of a resource (and of the daemon's source), kept, logged, readable.

As Kubernetes events: a type (`Normal`/`Warning`), a CamelCase reason, a message, the resource
(`Kind/name`, or None for the daemon itself) and the revision in force. The daemon appends each
to `<state_dir>/events.jsonl` (one JSON object per line, time in RFC 3339) and logs it; the file
is bounded: when it holds twice `keep` lines it is rewritten with the newest `keep`.
`monop events` reads it with `read_events`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from monop import log, secrets
from monop.files import write_atomic
from monop.times import parse_rfc3339, rfc3339

EVENTS_FILE = "events.jsonl"
KEEP = 1000


@dataclass(frozen=True)
class Event:
    time: float  # wall seconds
    type: Literal["Normal", "Warning"]
    reason: str  # CamelCase: Created, Recreated, Drifted, CrashLoopBackOff, ...
    message: str
    resource: str | None = None  # Kind/name; None for the daemon itself
    revision: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": rfc3339(self.time),
            "type": self.type,
            "reason": self.reason,
            "resource": self.resource,
            "message": self.message,
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, data: object) -> Event | None:
        if not isinstance(data, dict):
            return None
        when = parse_rfc3339(data.get("time"))
        kind = data.get("type")
        if when is None or kind not in ("Normal", "Warning"):
            return None
        resource, revision = data.get("resource"), data.get("revision")
        return cls(
            when,
            kind,
            str(data.get("reason", "")),
            str(data.get("message", "")),
            str(resource) if resource is not None else None,
            str(revision) if revision is not None else None,
        )


class EventLog:
    """The daemon's events: appended to the file and logged; `recent()` from memory.

    `emit` raises OSError when the file cannot be written (a full disk); the event is still
    logged and kept in memory, and the caller counts the failure as it does for the state file.
    """

    def __init__(self, directory: Path, keep: int = KEEP) -> None:
        self.path = directory / EVENTS_FILE
        self.keep = keep
        self._lines = _count_lines(self.path)
        self._recent: list[Event] = read_events(directory)[-keep:]

    def emit(self, event: Event) -> None:
        event = _scrubbed(event)
        self._recent.append(event)
        del self._recent[: -self.keep]
        fields = {k: v for k, v in event.to_json().items() if k not in ("time", "type")}
        logger = log.get()
        if event.type == "Warning":
            logger.warning("event_recorded", **fields)
        else:
            logger.info("event_recorded", **fields)
        line = json.dumps(event.to_json(), separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line)
        self._lines += 1
        if self._lines >= 2 * self.keep:
            self._compact()

    def recent(self, resource: str | None = None, limit: int | None = None) -> list[Event]:
        """Oldest first; only `resource`'s when given; the newest `limit`."""
        found = [e for e in self._recent if resource is None or e.resource == resource]
        return found[-limit:] if limit else found

    def _compact(self) -> None:
        body = "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in self._recent)
        write_atomic(self.path, body, mode=0o600)
        self._lines = len(self._recent)


def read_events(state_dir: Path, resource: str | None = None) -> list[Event]:
    """The events in the file, oldest first; a line that cannot be read (a torn write) is skipped."""
    try:
        text = (state_dir / EVENTS_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [e for e in _parse(text.splitlines()) if resource is None or e.resource == resource]


def _parse(lines: Iterable[str]) -> Iterable[Event]:
    for line in lines:
        try:
            event = Event.from_json(json.loads(line))
        except ValueError:
            continue
        if event is not None:
            yield event


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _scrubbed(event: Event) -> Event:
    """A message can quote a container's error output: secrets never reach the file or the log."""
    clean = secrets.scrub(event.message)
    return event if clean == event.message else Event(**{**event.__dict__, "message": clean})
