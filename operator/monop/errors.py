"""monop's errors. Every error a user can cause says where: file, line, resource, field.

    MonopError
    ├── InvalidDesiredState     the desired state has problems (a list of Problem)
    ├── SettingsError           a setting or the config file is wrong
    └── PodmanUnavailable       Podman's API cannot be reached (monop.runtime.podman)

The CLI maps each to an exit code in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the desired state, located as precisely as the input allows."""

    file: str
    line: int | None
    resource: str | None
    field: str | None
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where]
        if self.severity is Severity.WARNING:
            parts.append("warning")
        if self.resource:
            parts.append(self.resource)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "resource": self.resource,
            "field": self.field,
            "message": self.message,
            "severity": self.severity.value,
        }


class MonopError(Exception):
    """Base of every error monop reports to a user."""


class InvalidDesiredState(MonopError):
    """The desired state cannot be applied; nothing of it is."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0, str(p))))
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} problem(s) in the desired state")


class SettingsError(MonopError):
    """A setting, or the config file that holds it, is wrong."""


class PodmanUnavailable(MonopError):
    """Podman's API cannot be reached: no socket, refused, or the service went away."""
