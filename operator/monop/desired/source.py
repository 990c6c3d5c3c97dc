"""Where the desired state comes from: a directory, or a revision of a git repository.

A git revision is validated whole in its own exported tree before it is made the applied
one, so an invalid commit never touches what containers read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from monop.desired import fleet
from monop.desired.git import Commit, GitSource, OnFetch
from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.settings import Settings

HOLD_FILE = "hold.json"


@dataclass(frozen=True)
class Revision:
    """A desired state and, from git, the commit it is."""

    state: DesiredState
    commit: Commit | None = None


def git_source(
    settings: Settings, workdir: Path | None = None, *, on_fetch: OnFetch | None = None
) -> GitSource | None:
    """The daemon's git source, its clone in `state_dir/git`; with `workdir` (a temporary
    directory), a read-only command's: its clone and exports there, the daemon's objects and
    applied tree borrowed, never written. `on_fetch`: see GitSource."""
    if not settings.git_url:
        return None
    return GitSource(
        settings.git_url,
        settings.git_branch,
        settings.git_path,
        workdir or settings.state_dir / "git",
        shared=None if workdir is None else settings.state_dir / "git",
        username=settings.git_username,
        password=settings.git_password,
        on_fetch=on_fetch,
    )


def this_host(settings: Settings) -> fleet.Host:
    """The host whose selection this monop runs: `host_name` (else the hostname), `host_labels`."""
    return fleet.this_host(settings.host_name, settings.host_labels)


def scratch_git(settings: Settings, workdir: Path) -> GitSource | None:
    """The git source of a read-only command (validate, plan, status), in `workdir`."""
    return git_source(settings, workdir)


def read(
    settings: Settings,
    commit: Commit | None = None,
    *,
    activate: bool = False,
    git: GitSource | None = None,
    check_rules: bool = False,
    host: fleet.Host | None = None,
) -> Revision:
    """The desired state: the directory, or a git commit (default: the branch's newest).

    Raises InvalidDesiredState naming `REV:path/file:LINE`; with `activate`, a valid commit
    becomes the tree containers mount files from. `git`: another clone than the state
    directory's (`scratch_git`). With `check_rules`, promtool checks the rule groups. `host`:
    whose selection (default this one, `this_host`).
    """
    host = host or this_host(settings)
    git = git or git_source(settings)
    if git is None:
        return Revision(
            load(
                settings.desired,
                default_address=settings.scrape_address,
                check_rules=check_rules,
                policy=settings.policy,
                host=host,
            )
        )
    commit = commit or git.fetch()
    exported = git.export(commit)
    display = git.display(commit)
    state = load(
        exported,
        default_address=settings.scrape_address,
        revision=commit.sha,
        display=display,
        check_rules=check_rules,
        policy=settings.policy,
        host=host,
    )
    # Containers mount files from the applied tree, a path that does not change between
    # revisions: the applied commit is read from there, so its specs match what runs.
    if activate:
        git.activate(commit)
    if git.applied_revision() == commit.sha:
        state = load(
            git.applied_path(),
            default_address=settings.scrape_address,
            revision=commit.sha,
            display=display,
            policy=settings.policy,
            host=host,
        )
    return Revision(state, commit)


@dataclass(frozen=True)
class Hold:
    """`monop rollback` holds the daemon at one revision until `monop rollback --release`."""

    revision: str
    since: float
    reason: str = "rollback"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_hold(state_dir: Path) -> Hold | None:
    try:
        return Hold(**json.loads((state_dir / HOLD_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def write_hold(state_dir: Path, hold: Hold | None) -> None:
    from monop.files import write_atomic

    path = state_dir / HOLD_FILE
    if hold is None:
        path.unlink(missing_ok=True)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(hold.to_json()) + "\n", mode=0o600)
