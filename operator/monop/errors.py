"""monop's errors, all of them. Every error a user can cause says where: file, line, resource, field.

    MonopError                  .operation (what monop was doing), .location (on what), .terminal
    ├── InvalidDesiredState     the desired state has problems (a list of Problem); nothing of it is applied
    ├── SettingsError           a setting or the config file is wrong
    ├── StateDirUnusable        the state directory is a file, or its lock file a directory
    ├── AlreadyRunning          another daemon holds the state directory
    ├── PodmanUnavailable       Podman's API cannot be reached: every operation waits for it
    ├── PodmanError             one operation on one container or image failed (runtime.podman)
    ├── ActionError             an action could not be carried out (reconcile.execute); may wrap a PodmanError
    ├── GitError                git could not fetch, find or export a revision (desired.git)
    └── PrometheusUnreachable   Prometheus's API did not answer (prometheus.api)
        └── PrometheusRefused   it answered, with an error for that request (a query it will not run)

An error is `terminal` when trying again cannot help and a person must act (an image
reference that can never be pulled, a spec Podman refuses as invalid): the daemon marks the
resource Stalled instead of retrying it. The CLI maps each to an exit code in one place.
Problems met while reading the desired state (YAML, a secret file, a target) become `Problem`s
of one InvalidDesiredState, never errors of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Self


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
    """Base of every error monop reports to a user; the message is for a person, as it stands."""

    _reason = "Failed"

    def __init__(self, message: str, *, operation: str | None = None, location: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation  # what monop was doing: "create", "pull", "fetch", ...
        self.location = location  # on what: a container, an image reference, a URL, a file

    @property
    def terminal(self) -> bool:
        """True when trying again cannot help: a person must change something first."""
        return False

    @property
    def reason(self) -> str:
        """A CamelCase reason for a condition or an event (`ImagePullFailed`, `InvalidSpec`, ...)."""
        return self._reason

    def redacted(self, redact: Callable[[str], str]) -> Self:
        """The same error with its message passed through `redact` (secrets masked)."""
        text = str(self)
        clean = redact(text)
        if clean == text:
            return self
        other = self.__class__.__new__(self.__class__)
        other.__dict__.update(self.__dict__)
        other.args = (clean,)
        return other


class InvalidDesiredState(MonopError):
    """The desired state cannot be applied; nothing of it is."""

    _reason = "InvalidDesiredState"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0, str(p))))
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} problem(s) in the desired state", operation="load")


class SettingsError(MonopError):
    """A setting, or the config file that holds it, is wrong."""

    _reason = "InvalidSettings"


class StateDirUnusable(MonopError):
    """The state directory is not a directory monop can use (a file, or its lock path a directory)."""

    _reason = "StateDirUnusable"


class AlreadyRunning(MonopError):
    """Another daemon holds the state directory."""

    _reason = "AlreadyRunning"


class PodmanUnavailable(MonopError):
    """Podman's API cannot be reached: no socket, refused, or the service went away."""

    _reason = "PodmanUnavailable"


# What registries and Podman answer for an image reference no retry can pull (containers/image's
# and the distribution spec's words); a network error, a timeout or a 5xx is worth retrying.
_UNPULLABLE = (
    "invalid reference format",
    "manifest unknown",
    "name unknown",
    "repository name must be lowercase",
    "repository name must have at least one component",
)
# What Podman answers at create for a spec it refuses as such (not for a busy port or a missing device).
_INVALID_SPEC = ("invalid reference format", "invalid argument", "invalid config provided")


class PodmanError(MonopError):
    """One operation on one container or image failed; the others are unaffected.

    `operation` is the API call (`create`, `start`, `pull`, ...), `target` (also `location`) the
    container or image it was for, `status` Podman's HTTP status when it answered one.
    """

    def __init__(self, operation: str, target: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{operation} {target}: {message}", operation=operation, location=target)
        self.target = target
        self.message = message
        self.status = status

    @property
    def terminal(self) -> bool:
        said = self.message.lower()
        if self.operation == "pull":
            return any(words in said for words in _UNPULLABLE)
        if self.operation == "create":
            return any(words in said for words in _INVALID_SPEC)
        return False

    @property
    def reason(self) -> str:
        if self.operation == "pull":
            return "ImagePullFailed"
        if self.operation == "create" and self.terminal:
            return "InvalidSpec"
        return f"{(self.operation or 'Podman').capitalize()}Failed"  # CreateFailed, StartFailed, ...


class ActionError(MonopError):
    """An action could not be carried out; the message says why, for a person.

    `cause`: the error that made it fail, when one did (a PodmanError of a swap's create);
    the action's error is terminal when its cause is.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        location: str | None = None,
        cause: MonopError | None = None,
    ) -> None:
        super().__init__(
            message,
            operation=operation or (cause.operation if cause else None),
            location=location or (cause.location if cause else None),
        )
        self.cause = cause

    @property
    def terminal(self) -> bool:
        return self.cause is not None and self.cause.terminal

    @property
    def reason(self) -> str:
        if self.cause is not None:
            return self.cause.reason
        return f"{self.operation.capitalize()}Failed" if self.operation else "ActionFailed"


class GitError(MonopError):
    """git could not do what monop asked: an unreachable remote, an unknown branch or revision."""

    _reason = "GitOperationFailed"


class PrometheusUnreachable(MonopError):
    """Prometheus's API did not answer, or answered that it could not do what was asked."""

    _reason = "PrometheusUnreachable"


class PrometheusRefused(PrometheusUnreachable):
    """Prometheus answered, refusing this one request (HTTP 4xx/5xx, or `status: error`): its
    message, without HTTP's; another request to the same Prometheus may well succeed."""

    _reason = "PrometheusRefused"
