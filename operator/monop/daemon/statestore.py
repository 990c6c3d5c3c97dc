"""What the daemon knows, kept in its state directory: written atomically, read by `monop status`.

The state directory is 0700 and its files 0600: they name what runs and why, and are
scrubbed of secrets anyway (monop.secrets). When Prometheus's file_sd or rules directory
lies inside it (the default), it is 0711 instead, so Prometheus, another user, can reach
its files by name without reading or listing anything else.

`status.json` is `{"version": 1, "daemon": {...}, "resources": {key: {...}}}`, read back through
a schema (`_StateFile`): a file of another shape is unreadable, never half-trusted. The daemon
moves an unreadable file (or a directory in its place) aside as `status.json.corrupt-<UTC time>`
and starts with an empty record.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from monop import secrets
from monop.errors import AlreadyRunning as AlreadyRunning  # their home was here
from monop.errors import StateDirUnusable as StateDirUnusable
from monop.files import write_atomic

STATE_FILE = "status.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = "monop.lock"
VERSION = 1


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
    # The last verdicts of monop's own checks: {"check": {...}, "probe": {...}} (monop.reconcile.health.Verdict).
    health: dict[str, Any] | None = None
    # The spec hash whose action failed in a way only a person can fix (state Stalled); tried
    # again once the spec changes. None otherwise.
    stalled_spec_hash: str | None = None
    stalled_reason: str | None = None  # CamelCase: ImagePullFailed, InvalidSpec, ...
    # Status in the field's own terms (monop.reconcile.status): the two axes, the conditions as
    # JSON (RFC 3339 times), and the revisions last tried and last applied on this resource.
    sync: str | None = None
    health_status: str | None = None
    conditions: list[dict[str, Any]] | None = None
    suspended: bool = False
    last_applied_revision: str | None = None
    last_attempted_revision: str | None = None


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
    alertmanager_error: str | None = None  # why the desired alertmanager.yml is not the one running
    # The last dead-selector check (DeadSelector.to_json each) and when it ran (epoch seconds).
    dead_selectors: list[dict[str, Any]] = field(default_factory=list)
    rules_checked_at: float | None = None
    # The last panel check of the dashboards (monop.prometheus.panels.PanelReport.to_json).
    dashboards: dict[str, Any] | None = None
    # From a git source: {"applied": {...}, "newest": {...}, "held": sha, "rejected": {...}}.
    git: dict[str, Any] | None = None
    resync_interval: float | None = None  # seconds: a running daemon rewrites this file at least this often
    down: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # part -> {since, reason} (supervise.Health)


class _Loop(BaseModel):
    restarts: list[float]
    level: int
    last: float


class _Commit(BaseModel):
    revision: str
    author: str
    subject: str
    time: float


class _Rejected(_Commit):
    errors: list[str]


class _Git(BaseModel):
    url: str | None = None
    branch: str = ""
    applied: _Commit | None = None
    newest: _Commit | None = None
    held: str | None = None
    rejected: _Rejected | None = None


class _StateFile(BaseModel):
    """The schema of status.json; files written before it was versioned have no `version`."""

    version: Literal[1] = 1
    daemon: DaemonRecord | None = None
    resources: dict[str, ResourceRecord] = {}


_LOOPS = TypeAdapter(dict[str, _Loop])
_GIT = TypeAdapter(_Git | None)


@dataclass(frozen=True)
class Unreadable:
    """Why the state file could not be read, and where the daemon kept it (None: nothing to keep)."""

    reason: str
    kept_as: Path | None


def secure_dir(directory: Path, shared: Iterable[Path] = ()) -> None:
    """Create `directory` if need be; 0700, or 0711 when a `shared` path (for Prometheus) is inside it.

    Parents it creates on the way (`/var/lib/monop/instance` for another instance) get the
    same mode, so Prometheus can pass through them too.
    """
    inside = any(p.absolute().is_relative_to(directory.absolute()) for p in shared)
    mode = 0o711 if inside else 0o700
    for missing in reversed([d for d in (directory, *directory.parents) if not d.exists()]):
        missing.mkdir(exist_ok=True)
        missing.chmod(mode)
    directory.chmod(mode)


class StateStore:
    def __init__(self, directory: Path, shared: Iterable[Path] = ()) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.shared = tuple(shared)  # directories Prometheus reads: sd_dir, rules_dir
        # Each resource's text in the file, with the record and the secrets it was made from.
        self._texts: dict[str, tuple[ResourceRecord, secrets.Secrets, str]] = {}

    def save(self, daemon: DaemonRecord, resources: dict[str, ResourceRecord]) -> None:
        """Replace the file whole: a reader sees the old state or the new, never half of one.

        The text is `json.dumps(..., indent=1, sort_keys=True)` of the whole, made of each
        record's own text, which is kept and made again only when the record (or the set of
        secrets it is scrubbed of) changed: a daemon saves after every reconcile, and with a
        thousand resources encoding them all each time cost 50 ms of CPU.
        """
        secure_dir(self.directory, self.shared)
        known = secrets.known()
        head = _indented(json.dumps(secrets.scrub(asdict(daemon)), indent=1, sort_keys=True), 1)
        texts = {key: self._record_text(key, record, known) for key, record in sorted(resources.items())}
        for gone in self._texts.keys() - texts.keys():
            del self._texts[gone]
        items = ",".join(f"\n  {json.dumps(key)}: {text}" for key, text in texts.items())
        listed = f"{{{items}\n }}" if texts else "{}"
        body = f'{{\n "daemon": {head},\n "resources": {listed},\n "version": {VERSION}\n}}'
        write_atomic(self.path, body, mode=0o600)

    def _record_text(self, key: str, record: ResourceRecord, known: secrets.Secrets) -> str:
        """`record` as it stands in the file (indented for its depth), from the cache when unchanged."""
        kept = self._texts.get(key)
        if kept is not None and kept[1] is known and (kept[0] is record or kept[0] == record):
            return kept[2]
        text = _indented(json.dumps(secrets.scrub(asdict(record)), indent=1, sort_keys=True), 2)
        self._texts[key] = (record, known, text)
        return text

    def load(self) -> tuple[DaemonRecord | None, dict[str, ResourceRecord]]:
        """The saved state; a missing or unreadable file is an empty state, never an error."""
        daemon, resources, _ = self._read()
        return daemon, resources

    def recover(self) -> tuple[DaemonRecord | None, dict[str, ResourceRecord], Unreadable | None]:
        """As `load`, for the daemon: an unreadable file is moved aside to `status.json.corrupt-<time>`
        (so the daemon can write a new one and a person can look at the old) and said in the third value."""
        daemon, resources, reason = self._read()
        if reason is None:
            return daemon, resources, None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept: Path | None = None
        for n in range(100):
            candidate = self.path.with_name(f"{STATE_FILE}.corrupt-{stamp}" + (f"-{n}" if n else ""))
            if candidate.exists():
                continue
            try:
                self.path.rename(candidate)
            except OSError:
                break
            kept = candidate
            break
        return None, {}, Unreadable(reason, kept)

    def _read(self) -> tuple[DaemonRecord | None, dict[str, ResourceRecord], str | None]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, {}, None
        except (OSError, UnicodeDecodeError) as err:
            return None, {}, getattr(err, "strerror", None) or str(err)
        prefix: tuple[str, ...] = ()
        try:
            data = _StateFile.model_validate_json(text)
            daemon = data.daemon
            if daemon is not None:
                prefix = ("daemon", "crash_loops")
                _LOOPS.validate_python(daemon.crash_loops)
                prefix = ("daemon", "git")
                _GIT.validate_python(daemon.git)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in (*prefix, *first["loc"])) or "the file"
            return None, {}, f"not a monop state file ({where}: {first['msg']})"
        return daemon, data.resources, None

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
            lines = (self.directory / HISTORY_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
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


def _indented(text: str, depth: int) -> str:
    """JSON text made with indent=1 as it reads nested `depth` levels deep (a JSON string holds no newline)."""
    return text.replace("\n", "\n" + " " * depth)


class DaemonLock:
    """An exclusive lock on the state directory, released by the kernel when the holder dies."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; AlreadyRunning if another daemon has it, StateDirUnusable if it cannot be had."""
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise StateDirUnusable(
                f"state_dir {directory} is not a directory; set state_dir to one"
            ) from None
        except IsADirectoryError:
            raise StateDirUnusable(
                f"the lock file {self.path} is a directory; remove it, or give monop another state_dir"
            ) from None
        except OSError as err:
            raise StateDirUnusable(
                f"state_dir {directory}: cannot create the lock file: {err.strerror}"
            ) from None
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
