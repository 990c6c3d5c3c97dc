"""The state vocabulary, defined once and used by planner, status, metrics and logs alike."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    IN_SYNC = "InSync"
    MISSING = "Missing"
    STOPPED = "Stopped"
    UNHEALTHY = "Unhealthy"
    DRIFTED = "Drifted"
    CRASH_LOOP = "CrashLoopBackOff"
    ORPHAN = "Orphan"
    CONFLICT = "Conflict"
    FAILED = "Failed"
    STALLED = (
        "Stalled"  # failed in a way retrying cannot fix (an image that cannot exist): waits for a person
    )

    @property
    def ok(self) -> bool:
        return self is State.IN_SYNC


class ActionKind(StrEnum):
    REMOVE = "remove"
    RECREATE = "recreate"
    CREATE = "create"
    START = "start"
    UNPAUSE = "unpause"
    RESTART = "restart"
    COMPLETE = "complete"  # finish a replacement interrupted after the old container was stopped
