"""A bare git repository that daemons follow, and the working clone a test or benchmark pushes from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# A committer for the commits tests make, whatever git's global config says (none in CI).
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Ops",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Ops",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}


class PushedRepo:
    """`base/fleet.git` (bare, branch main) and `base/work`, a clone whose `desired/` is written and pushed."""

    def __init__(self, base: Path) -> None:
        self.bare = base / "fleet.git"
        self.path = base / "work"
        self.desired = self.path / "desired"
        self.git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=base)
        self.git("clone", "--quiet", str(self.bare), str(self.path), cwd=base)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **GIT_ENV},
        )
        return done.stdout.strip()

    def write(self, relative: str, text: str) -> None:
        """Write `desired/<relative>`, making its folders."""
        path = self.desired / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def push(self, message: str) -> str:
        """Commit everything and push it to the bare repository's main; the new revision."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        self.git("push", "--quiet", "origin", "HEAD:main")
        return self.git("rev-parse", "HEAD")
