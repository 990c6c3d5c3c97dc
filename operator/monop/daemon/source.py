"""Following the desired state's source, a directory or a git branch, and its history.

`SourceTracker` reads the source off the event loop, one refresh at a time, and adopts a valid
desired state; an invalid one is refused whole (the last valid one stays in force), said once per
git revision, and kept in the history. From git it follows the branch's newest commit, or the one
`monop rollback` holds, and remembers the revision applied and the one refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from monop import secrets
from monop.daemon.metrics import Metrics
from monop.daemon.statestore import DaemonRecord
from monop.daemon.supervise import Health, inject
from monop.desired import source
from monop.desired.git import Commit
from monop.desired.source import Revision
from monop.desired.state import DesiredState
from monop.errors import GitError, InvalidDesiredState
from monop.reconcile.plan import Unit, units
from monop.settings import Settings

DESIRED_LOAD = "desired-state load"  # the part /readyz names when loading fails unexpectedly


@dataclass(frozen=True)
class Adopted:
    """A desired state just put in force: the units before and now, by key."""

    state: DesiredState
    before: Mapping[str, Unit]
    units: Mapping[str, Unit]


class SourceTracker:
    """The desired state in force (`units`, `desired`) and where it came from (`applied`, `newest`, ...)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock_wall: Callable[[], float],
        metrics: Metrics,
        health: Health,
        log: Any,
        adopted: Callable[[Adopted], None],
        changed: Callable[[], None],
        append_history: Callable[[dict[str, Any]], None],
    ) -> None:
        self.settings = settings
        self._wall = clock_wall
        self.metrics = metrics
        self.health = health
        self.log = log
        self._adopted = adopted  # told of each desired state put in force
        self._changed = changed  # told when something worth saving changed
        self._append_history = append_history
        self.git = source.git_source(settings, on_fetch=self.metrics.git_fetched)
        self.units: dict[str, Unit] | None = None  # None until a valid desired state was read
        self.desired: DesiredState | None = None
        self.applied: Commit | None = None  # the revision in force
        self.newest: Commit | None = None  # the branch's newest commit, as last fetched
        self.rejected: dict[str, Any] | None = None  # the last revision refused, while it is the newest
        self.held: str | None = None  # the revision `monop rollback` holds, as last read
        self.error: str | None = None  # why the desired state is not (or no longer) valid
        self.refresh_task: asyncio.Future[None] | None = None
        self._refresh_again = False
        self._restored_applied: str | None = None
        self._rejected_recorded: set[str] = set()  # revisions whose rejection is in the history

    def use_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.git = source.git_source(settings, on_fetch=self.metrics.git_fetched)

    def restore(self, daemon: DaemonRecord | None, history: list[dict[str, Any]]) -> None:
        """Pick up what the previous daemon knew: the revision it applied, the one it refused."""
        self._rejected_recorded = {str(e.get("revision")) for e in history if e.get("result") == "rejected"}
        if daemon is None:
            return
        applied = (daemon.git or {}).get("applied") or {}
        self._restored_applied = applied.get("revision")  # used when the remote cannot be reached
        # What was newest, and refused, stays so until a fetch says otherwise.
        self.newest = _commit_of((daemon.git or {}).get("newest"))
        rejected = (daemon.git or {}).get("rejected")
        if self.newest is not None and rejected and rejected.get("revision") == self.newest.sha:
            self.rejected = rejected
            self.error = "; ".join(rejected.get("errors") or []) or "rejected"
            self.metrics.desired_valid.set(0)

    def reconsider(self) -> None:
        """Asked to look again (SIGHUP): a refused revision is tried again too."""
        self.rejected = None

    @property
    def name(self) -> str:
        """The source as a person knows it: the git URL without credentials, or the path."""
        return secrets.public_url(self.settings.git_url) or str(self.settings.desired)

    def record(self) -> dict[str, Any] | None:
        """What the state file keeps of a git source: URL, branch, applied, newest, held, rejected."""
        if self.git is None:
            return None
        return {
            "url": secrets.public_url(self.settings.git_url),
            "branch": self.settings.git_branch,
            "applied": _commit_json(self.applied) if self.applied else None,
            "newest": _commit_json(self.newest) if self.newest else None,
            "held": self.held,
            "rejected": self.rejected,
        }

    # -- reading -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the desired state; an invalid one is refused and the last valid one stays in force.

        The files are read (and a git source fetched) in a worker thread, off the event loop, one
        refresh at a time (a trigger during one runs another after it).
        """
        if self.refresh_task is not None and not self.refresh_task.done():
            self._refresh_again = True
            return
        self.refresh_task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        while True:
            self._refresh_again = False
            try:
                inject("desired-load")
                await self._refresh_once()
            # A bug met while loading (an exception nobody foresaw): said, counted, and the next
            # trigger (an edit, a fetch, SIGHUP) tries again; the last valid state stays in force.
            except Exception as err:
                error = f"{type(err).__name__}: {err}"
                self.metrics.task_failures.labels("desired-load").inc()
                self.metrics.desired_valid.set(0)
                self.health.down(DESIRED_LOAD, error)
                self.log.exception("desired_state_load_failed", source=self.name, error=error)
                self._changed()
            else:
                if self.health.up(DESIRED_LOAD):
                    self._changed()
            if not self._refresh_again:
                return

    async def _refresh_once(self) -> None:
        """Fetch the branch; adopt the commit to follow (the held one, else the newest) if valid."""
        if self.git is None:
            try:
                revision = await asyncio.to_thread(source.read, self.settings)
            except InvalidDesiredState as err:
                self._reject(err, None)
                return
            self._adopt(revision)
            return
        git = self.git
        try:
            self.newest = await asyncio.to_thread(git.fetch)
        except GitError as err:
            self.metrics.git_fetch_errors.inc()
            self.log.warning("git_fetch_failed", error=str(err))
        hold = source.read_hold(self.settings.state_dir)
        self.held = hold.revision if hold else None
        wanted = self.held or (self.newest.sha if self.newest else self._restored_applied)
        if wanted is None:
            self._changed()
            return
        try:
            # The newest commit was just read by the fetch; only another revision needs git again.
            if self.newest is not None and self.newest.sha == wanted:
                commit = self.newest
            else:
                commit = await asyncio.to_thread(git.commit, wanted)
        except GitError as err:
            self.log.error("git_revision_unknown", revision=wanted, error=str(err))
            self._changed()
            return
        if self.applied is not None and commit.sha == self.applied.sha and self.units is not None:
            self._changed()
            return
        if (
            self.rejected is not None
            and self.rejected.get("revision") == commit.sha
            and self.units is not None
        ):
            return  # refused already; said once
        try:
            revision = await asyncio.to_thread(source.read, self.settings, commit, activate=True)
        except InvalidDesiredState as err:
            self._reject(err, commit)
            restored = self._restored_applied
            if self.units is None and restored and restored != commit.sha:
                # Just started, and the branch's head is invalid: the revision applied before
                # the restart stays in force, as it would have had the daemon kept running.
                self.log.info("git_keeping_applied_revision", revision=restored)
                await self._adopt_revision(restored, result="applied")
            return
        except (GitError, OSError) as err:  # the export failed: the applied revision stays
            self.log.error("git_export_failed", revision=commit.sha, error=str(err))
            return
        self._adopt(revision, result="rollback" if hold else "applied")

    async def _adopt_revision(self, sha: str, result: str) -> None:
        assert self.git is not None
        try:
            commit = await asyncio.to_thread(self.git.commit, sha)
            revision = await asyncio.to_thread(source.read, self.settings, commit, activate=True)
        except (InvalidDesiredState, GitError, OSError) as err:
            self.log.error("git_revision_unusable", revision=sha, error=str(err))
            return
        self._adopt(revision, result=result)

    def _adopt(self, revision: Revision, result: str = "applied") -> None:
        state, commit = revision.state, revision.commit
        before = self.units or {}
        self.units = {u.key: u for u in units(state, self.settings.instance)}
        changes = {
            "created": sorted(set(self.units) - set(before)),
            "recreated": sorted(
                k for k in set(self.units) & set(before) if self.units[k].spec_hash != before[k].spec_hash
            ),
            "removed": sorted(set(before) - set(self.units)),
        }
        self.desired = state  # its targets are written after the next look at Podman
        if self.rejected is None or self.newest is None or self.rejected.get("revision") != self.newest.sha:
            # A refused revision is shown for as long as it is the newest, whatever stays in force.
            self.error = None
            self.rejected = None
            self.metrics.desired_valid.set(1)
        where = {"revision": commit.sha, "subject": commit.subject} if commit else {}
        self.log.info("desired_state_loaded", source=state.source, resources=len(self.units), **where)
        for warning in state.warnings:  # once per load: an unpinned image, a device this host lacks
            self.log.warning("desired_state_warning", problem=str(warning))
        if commit is not None:
            restarted = not before and commit.sha == self._restored_applied  # what ran already: not news
            self.applied = commit
            self.metrics.applied_revision.labels(self.metrics.host).info({"revision": commit.sha})
            if not restarted:
                self._append_history(
                    {**_commit_json(commit), "at": self._wall(), "result": result, **changes}
                )
        self._adopted(Adopted(state, before, self.units))

    def _reject(self, err: InvalidDesiredState, commit: Commit | None) -> None:
        errors = [str(p) for p in err.problems if p.severity.value == "error"]
        self.error = "; ".join(errors[:5]) + (f" (+{len(errors) - 5} more)" if len(errors) > 5 else "")
        self.metrics.desired_valid.set(0)
        self.metrics.desired_errors.inc()
        where = {"revision": commit.sha, "author": commit.author} if commit else {}
        self.log.error("desired_state_rejected", source=self.name, problems=errors, **where)
        if commit is not None:
            self.rejected = {**_commit_json(commit), "errors": errors}
            if commit.sha not in self._rejected_recorded:  # a fact about a revision: recorded once
                self._rejected_recorded.add(commit.sha)
                self._append_history({**self.rejected, "at": self._wall(), "result": "rejected"})
        self._changed()


def _commit_of(data: object) -> Commit | None:
    """A commit as `_commit_json` wrote it, or None."""
    if not isinstance(data, dict):
        return None
    try:
        return Commit(str(data["revision"]), str(data["author"]), str(data["subject"]), float(data["time"]))
    except (KeyError, TypeError, ValueError):
        return None


def _commit_json(commit: Commit) -> dict[str, Any]:
    return {"revision": commit.sha, "author": commit.author, "subject": commit.subject, "time": commit.time}
