"""git credentials: given in the URL or the environment, used for each call, written nowhere.

The remote is a real git server over http on loopback that demands basic auth
(`git http-backend` behind monop_testbed.git_http); the daemon is a real `monop run`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.desired.git import GitError, GitSource
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.git_http import GitHttpServer
from monop_testbed.podman_service import PodmanService, wait_for

USER = "monop-reader"
PASSWORD = "pw-7Hq2-git"
WRONG = "wrong-9Zx4-pw"
PORT = 19760


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttpServer]:
    work = tmp_path / "work"
    write_service(work / "desired", "gitsecret", PORT)
    env = {
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "a@x",
    }
    for args in (
        ["init", "--quiet", "--initial-branch=main"],
        ["add", "--all"],
        ["commit", "--quiet", "-m", "one"],
    ):
        subprocess.run(["git", "-C", str(work), *args], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    served = tmp_path / "served"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(served / "stack.git")], check=True)
    with GitHttpServer(served, USER, PASSWORD) as running:
        yield running


def files_under(directory: Path) -> Iterator[tuple[Path, bytes]]:
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path, path.read_bytes()


def test_credentials_in_the_url_are_used_and_written_nowhere(server: GitHttpServer, tmp_path: Path) -> None:
    workdir = tmp_path / "state" / "git"
    # A clone an older monop made, with the password in its remote.
    subprocess.run(["git", "init", "--quiet", "--bare", str(workdir / "clone.git")], check=True)
    subprocess.run(
        [
            "git",
            f"--git-dir={workdir / 'clone.git'}",
            "remote",
            "add",
            "origin",
            server.url("stack.git", f"{USER}:{PASSWORD}"),
        ],
        check=True,
    )
    git = GitSource(server.url("stack.git", f"{USER}:{PASSWORD}"), "main", "desired", workdir)
    assert git.url == server.url("stack.git")
    commit = git.fetch()
    assert commit.subject == "one"
    assert ("/stack.git/git-upload-pack", 200) in server.requests
    for path, data in files_under(workdir):
        assert PASSWORD.encode() not in data, path
        assert USER.encode() not in data, path
    assert (workdir.stat().st_mode & 0o777) == 0o700


def test_credentials_from_the_settings_and_a_wrong_password_said_without_it(
    server: GitHttpServer, tmp_path: Path
) -> None:
    good = GitSource(
        server.url("stack.git"), "main", "desired", tmp_path / "a", username=USER, password=PASSWORD
    )
    assert good.fetch().subject == "one"
    bad = GitSource(server.url("stack.git", f"{USER}:{WRONG}"), "main", "desired", tmp_path / "b")
    with pytest.raises(GitError) as err:
        bad.fetch()
    assert "Authentication failed" in str(err.value)
    assert WRONG not in str(err.value)
    for _, data in files_under(tmp_path / "b"):
        assert WRONG.encode() not in data


@pytest.mark.podman
def test_a_daemon_following_a_url_with_credentials_never_stores_or_logs_them(
    server: GitHttpServer, tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    env = {
        "MONOP_GIT_URL": server.url("stack.git", f"{USER}:{WRONG}"),
        "MONOP_GIT_FETCH_INTERVAL": "1h",
    }
    state = tmp_path / "state"
    with DaemonProcess(podman_service.url, tmp_path / "unused", state, extra_env=env) as daemon:
        failed = daemon.wait_event("git_fetch_failed")
        assert "Authentication failed" in failed["error"]
        wait_for(lambda: (state / "status.json").exists(), 30, "status.json written")
        status = json.loads((state / "status.json").read_text())
        assert status["daemon"]["git"]["url"] == server.url("stack.git")
    log = "\n".join(json.dumps(line) for line in daemon.logs)
    assert WRONG not in log
    for path, data in files_under(state):
        assert WRONG.encode() not in data, path

    # The right password, from the environment as a systemd EnvironmentFile would give it.
    env = {
        "MONOP_GIT_URL": server.url("stack.git"),
        "MONOP_GIT_USERNAME": USER,
        "MONOP_GIT_PASSWORD": PASSWORD,
    }
    with DaemonProcess(podman_service.url, tmp_path / "unused", state, extra_env=env) as daemon:
        daemon.wait_ready()
        daemon.wait_event("container_created", resource="BusinessService/gitsecret")
        shown = subprocess.run(
            [sys.executable, "-m", "monop", "status", "--json", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            env=daemon.env,
            timeout=60,
        )
        assert PASSWORD not in shown.stdout + shown.stderr
    log = "\n".join(json.dumps(line) for line in daemon.logs)
    assert PASSWORD not in log
    for path, data in files_under(state):
        assert PASSWORD.encode() not in data, path
