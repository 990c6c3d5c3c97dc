"""What several commands read: the desired state (never applied when invalid) and the daemon's record."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from monop.cli.app import EXIT_PROBLEM, fail, note

if TYPE_CHECKING:
    from monop.daemon.statestore import DaemonRecord
    from monop.desired.fleet import Host
    from monop.desired.state import DesiredState
    from monop.runtime.podman import Podman
    from monop.settings import Settings


def desired_state(
    settings: Settings, revision: str | None = None, *, activate: bool = False, host: Host | None = None
) -> DesiredState:
    """The desired state, or exit 1 with every problem on stderr: an invalid state is never applied.

    From git: `revision`, else the one the daemon is held at, else the branch's newest. Only
    `activate` (apply) writes to state_dir's clone; otherwise a temporary one borrows from it.
    `host`: whose selection (default this host's).
    """
    import tempfile

    from monop.desired import source
    from monop.desired.git import GitError
    from monop.errors import InvalidDesiredState
    from monop.secrets import public_url

    try:
        if not settings.git_url:
            return source.read(settings, host=host).state
        hold = source.read_hold(settings.state_dir)
        wanted = revision or (hold.revision if hold else None)
        with tempfile.TemporaryDirectory(prefix="monop-git-") as scratch:
            git = source.git_source(settings) if activate else source.scratch_git(settings, Path(scratch))
            assert git is not None
            if wanted is None:
                commit = git.fetch()
            else:
                try:
                    commit = git.commit(wanted)  # known to the daemon's clone
                except GitError:
                    git.fetch()
                    commit = git.commit(wanted)
            return source.read(settings, commit, activate=activate, git=git, host=host).state
    except InvalidDesiredState as err:
        for problem in err.problems:
            note(str(problem))
        fail(
            f"{public_url(settings.git_url) or settings.desired}: the desired state is invalid; nothing was changed",
            EXIT_PROBLEM,
        )


def running(daemon: DaemonRecord | None, state_dir: Path) -> TypeGuard[DaemonRecord]:
    """Whether the daemon whose record this is still holds its state directory's lock."""
    from monop.daemon.statestore import DaemonLock

    return daemon is not None and DaemonLock(state_dir).holder() == daemon.pid


def signal_daemon(state_dir: Path) -> bool:
    """SIGHUP the daemon holding this state directory, if one does: it re-reads its desired state."""
    from monop.daemon.statestore import DaemonLock

    pid = DaemonLock(state_dir).holder()
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def connect(settings: Settings) -> Podman:
    from monop.runtime.podman import Podman, resolve_url

    return Podman(resolve_url(settings.podman_url))
