"""A git repository as the source of desired state, through the `git` command.

monop keeps its own bare clone in the state directory and never writes to the user's
repository or working tree. A revision is read by exporting its tree (`git archive`) into
a directory of the state directory, then loaded like any desired-state directory, its
problems named `REV:path/file.yaml:LINE`.

Credentials (the user and password of an `https://user:pass@host/repo.git`, or the
git_username and git_password settings) are never written anywhere: the clone's remote is
the URL without them, and git gets them for each call from a credential helper that reads
them from that call's environment, so they are on no command line either.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monop import secrets
from monop.errors import GitError as GitError  # its home was here

KEEP_EXPORTS = 5
FETCH_RESULTS = ("success", "error")
OnFetch = Callable[[str, float], None]  # (result, seconds) of each fetch: the daemon's metrics
# Says only the names of the variables; their values are in the environment of the one git call.
_HELPER = (
    '!f() { test "$1" = get || exit 0; echo "username=${MONOP_GIT_USERNAME}"; '
    'echo "password=${MONOP_GIT_PASSWORD}"; }; f'
)


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    subject: str
    time: float

    @property
    def short(self) -> str:
        return self.sha[:12]


class GitSource:
    """monop's clone of `url` in `workdir`. With `shared` (the daemon's `state_dir/git`), a
    read-only command's clone borrows that one's objects and applied tree and never writes to it."""

    def __init__(
        self,
        url: str,
        branch: str,
        path: str,
        workdir: Path,
        *,
        shared: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        on_fetch: OnFetch | None = None,
    ) -> None:
        self.on_fetch = on_fetch
        self.url, url_user, url_password = secrets.split_userinfo(url)  # url: nothing secret in it
        user, password = url_user or username, url_password or password
        self._credentials = (user or "monop", password or "") if user or password else None
        self._secrets = secrets.Secrets(frozenset(v for v in (password, url_user) if v))
        self.branch = branch
        self.path = path.strip("/") or "."
        self.workdir = workdir
        self.repo = workdir / "clone.git"
        self.exports = workdir / "revisions"
        self.home = shared or workdir  # where the applied tree is

    def applied_revision(self) -> str | None:
        """The commit whose tree is in `applied/`, the one containers mount files from."""
        try:
            return (self.home / "applied.revision").read_text().strip() or None
        except OSError:
            return None

    def applied_path(self) -> Path:
        return self.home / "applied" / self.path

    @property
    def local_git_dir(self) -> Path | None:
        """The git directory of a local source repository (a plain path), whose refs can be watched.

        A URL (`file://` included) is treated as a remote: fetched on an interval and by the webhook.
        """
        if "://" in self.url or ":" in self.url.split("/", 1)[0]:
            return None
        path = Path(self.url)
        if not path.exists():
            return None
        return path / ".git" if (path / ".git").is_dir() else path

    def _git(self, *args: str, timeout: float = 120) -> str:
        # The environment's own git and ssh setup (keys, credential helpers) applies; git never
        # stops to ask for a password on a terminal nobody watches.
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        options: list[str] = []
        if self._credentials is not None:
            # Only monop's helper: another (`store`) would be handed the password to keep.
            options = ["-c", "credential.helper=", "-c", f"credential.helper={_HELPER}"]
            env["MONOP_GIT_USERNAME"], env["MONOP_GIT_PASSWORD"] = self._credentials
        try:
            done = subprocess.run(
                ["git", f"--git-dir={self.repo}", *options, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise GitError(
                f"git {args[0]}: {self._secrets.redact(str(err))}", operation=args[0], location=self.url
            ) from None
        if done.returncode != 0:
            said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            why = self._secrets.redact(said[0]) if said else f"exit {done.returncode}"
            raise GitError(f"git {args[0]} {self.url}: {why}", operation=args[0], location=self.url)
        return done.stdout

    def _ensure_repo(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)  # monop's alone: revisions, the clone and its config
        if (self.repo / "HEAD").exists():
            return
        self._git("init", "--bare", "--quiet")
        self._git("remote", "add", "origin", self.url)
        borrowed = self.home / "clone.git" / "objects"
        if self.home != self.workdir and borrowed.is_dir():
            (self.repo / "objects" / "info" / "alternates").write_text(f"{borrowed.absolute()}\n")

    def fetch(self) -> Commit:
        """Bring the branch up to date in monop's clone; the commit it points at.

        Raises GitError; one naming the `git_branch` setting and the branches there are when
        the repository has no such branch. `on_fetch` hears how it ended and how long it took.
        """
        started = time.monotonic()
        result = "error"
        try:
            commit = self._fetch()
            result = "success"
            return commit
        finally:
            if self.on_fetch is not None:
                self.on_fetch(result, time.monotonic() - started)

    def _fetch(self) -> Commit:
        if (self.repo / "HEAD").exists():
            self._git("remote", "set-url", "origin", self.url)  # git_url may have changed since
        self._ensure_repo()
        try:
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
            )
        except GitError:
            branches = self._branches()
            if branches is not None and self.branch not in branches:
                raise GitError(
                    f"setting git_branch: {self.url} has no branch {self.branch!r}; "
                    f"its branches: {', '.join(branches) or 'none'}"
                ) from None
            raise
        return self.commit(f"refs/remotes/origin/{self.branch}")

    def _branches(self) -> list[str] | None:
        """The remote's branch names, or None when it cannot be asked."""
        try:
            out = self._git("ls-remote", "--heads", "origin", timeout=60)
        except GitError:
            return None
        return sorted(line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line)

    def commit(self, rev: str) -> Commit:
        """The commit `rev` names in monop's clone (a sha, a prefix of one, or a ref)."""
        self._ensure_repo()
        # --end-of-options: a revision from a hold file or the command line is never an option.
        out = self._git("log", "-1", "--format=%H%x00%an <%ae>%x00%s%x00%ct", "--end-of-options", rev, "--")
        sha, author, subject, when = out.rstrip("\n").split("\0")
        return Commit(sha, author, subject, float(when))

    def export(self, commit: Commit) -> Path:
        """The desired-state directory of `commit`, exported once into the state directory."""
        target = self.exports / commit.sha
        if not target.exists():
            archive = subprocess.run(
                ["git", f"--git-dir={self.repo}", "archive", "--format=tar", commit.sha],
                capture_output=True,
                timeout=120,
            )
            if archive.returncode != 0:
                raise GitError(
                    f"git archive {commit.short}: {archive.stderr.decode(errors='replace').strip()}",
                    operation="archive",
                    location=commit.sha,
                )
            self.exports.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{commit.sha[:12]}-", dir=self.exports))
            try:
                with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                    _extract(tar, partial)
                partial.rename(target)
            except (tarfile.TarError, OSError) as err:
                if not target.exists():  # else another monop process exported it meanwhile
                    raise GitError(
                        f"cannot export {commit.short}: {err}", operation="export", location=str(target)
                    ) from None
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            self._prune(keep=commit.sha)
        return target / self.path

    def activate(self, commit: Commit) -> Path:
        """Make `commit`'s tree the one containers read (`applied/`), swapped in whole.

        Containers mount files from here, so the path must not change from one revision to
        the next: only content that changed makes a container's spec change.
        """
        source = self.exports / commit.sha
        applied, fresh, old = (
            self.workdir / "applied",
            self.workdir / ".applied.new",
            self.workdir / ".applied.old",
        )
        for leftover in (fresh, old):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(source, fresh, symlinks=True)
        if applied.exists():
            applied.rename(old)
        fresh.rename(applied)
        shutil.rmtree(old, ignore_errors=True)
        (self.workdir / "applied.revision").write_text(commit.sha + "\n")
        return applied / self.path

    def display(self, commit: Commit) -> str:
        """How messages name the desired state of `commit`: `abc123def456:desired`."""
        return f"{commit.short}:{self.path}"

    def _prune(self, keep: str) -> None:
        exported = sorted(
            (p for p in self.exports.iterdir() if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in exported[:-KEEP_EXPORTS]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract a `git archive`, refusing members that would land outside `into`.

    tarfile's `data` filter does this where Python has it (3.11.4 and later); the same
    checks by hand elsewhere.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        where = (root / member.name).resolve()
        if not where.is_relative_to(root):
            raise tarfile.TarError(f"{member.name}: outside the tree")
        if member.issym() or member.islnk():
            target = (where.parent / member.linkname).resolve()
            if Path(member.linkname).is_absolute() or not target.is_relative_to(root):
                raise tarfile.TarError(f"{member.name}: links outside the tree ({member.linkname})")
    tar.extractall(into)
