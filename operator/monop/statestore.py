"""What the daemon knows, kept in its state directory: written atomically, read by `monop status`.

The state directory is 0700 and its files 0600: they name what runs and why, and are
scrubbed of secrets anyway (monop.secrets). When Prometheus's file_sd or rules directory
lies inside it (the default), it is 0711 instead, so Prometheus, another user, can reach
its files by name without reading or listing anything else.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from monop import secrets
from monop.errors import MonopError
from monop.files import write_atomic

STATE_FILE = "status.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = "monop.lock"


class AlreadyRunning(MonopError):
    """Another daemon holds the state directory."""


@dataclass(frozen=True)
class ResourceRecord:
    """The daemon's memory of one resource."""

    key: str
    state: str | None = None
    last_reconcile_at: float | None = None
    last_result: str | None = None
    last_action: str | None = None
    last_reason: str | None = None
    last_error: str | None = None
    restart_count: int = 0
    backoff_until: float | None = None
    # The last verdicts of monop's own checks: {"check": {...}, "probe": {...}} (monop.health.Verdict).
    health: dict[str, Any] | None = None


@dataclass(frozen=True)
class DaemonRecord:
    """The daemon's own state: who it is, what it applies, whether it can."""

    pid: int
    started_at: float
    updated_at: float
    source: str
    ready: bool = False
    podman_reachable: bool = False
    desired_error: str | None = None
    last_full_reconcile_at: float | None = None
    crash_loops: dict[str, Any] = field(default_factory=dict)
    metrics_address: str | None = None  # where it serves /metrics: monop's own scrape target
    rule_errors: dict[str, str] = field(default_factory=dict)  # rule groups refused, and why
    # From a git source: {"applied": {...}, "newest": {...}, "held": sha, "rejected": {...}}.
    git: dict[str, Any] | None = None


def secure_dir(directory: Path, shared: Iterable[Path] = ()) -> None:
    """Create `directory` if need be; 0700, or 0711 when a `shared` path (for Prometheus) is inside it."""
    directory.mkdir(parents=True, exist_ok=True)
    inside = any(p.absolute().is_relative_to(directory.absolute()) for p in shared)
    directory.chmod(0o711 if inside else 0o700)


class StateStore:
    def __init__(self, directory: Path, shared: Iterable[Path] = ()) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.shared = tuple(shared)  # directories Prometheus reads: sd_dir, rules_dir

    def save(self, daemon: DaemonRecord, resources: dict[str, ResourceRecord]) -> None:
        """Replace the file whole: a reader sees the old state or the new, never half of one."""
        secure_dir(self.directory, self.shared)
        body = json.dumps(
            secrets.scrub(
                {"daemon": asdict(daemon), "resources": {k: asdict(r) for k, r in sorted(resources.items())}}
            ),
            indent=1,
            sort_keys=True,
        )
        write_atomic(self.path, body, mode=0o600)

    def load(self) -> tuple[DaemonRecord | None, dict[str, ResourceRecord]]:
        """The saved state; a missing or unreadable file is an empty state, never an error."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            daemon = DaemonRecord(**data["daemon"]) if data.get("daemon") else None
            resources = {k: ResourceRecord(**v) for k, v in data.get("resources", {}).items()}
            return daemon, resources
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None, {}

    def append_history(self, entry: dict[str, Any]) -> None:
        """One line per applied or rejected revision, appended and synced."""
        secure_dir(self.directory, self.shared)
        fd = os.open(
            self.directory / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        os.fchmod(fd, 0o600)  # a file an older monop made 0644
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(json.dumps(secrets.scrub(entry), sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def history(self) -> list[dict[str, Any]]:
        """Every entry, oldest first; a line that cannot be read (a torn last write) is skipped."""
        try:
            lines = (self.directory / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out


class DaemonLock:
    """An exclusive lock on the state directory, released by the kernel when the holder dies."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"another monop daemon (pid {holder}) is running on {self.path.parent}; "
                "stop it first, or give this one another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def holder(self) -> int | None:
        """The pid of the daemon holding the lock now, or None: a pid file alone can be stale."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        else:
            return None  # nobody holds it
        finally:
            os.close(fd)  # closing drops the shared lock, if it was taken

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
