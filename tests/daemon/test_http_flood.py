"""1,100 slow clients against a real `monop run` held to systemd's default 1,024 open files.

The daemon must keep answering its probes, keep following git, and say so in a few log lines.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.flood import SlowClients
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.fault]

PORT = 19560
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Ops",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Ops",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}
FLOOD_SECONDS = 40.0


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    )
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def probe(url: str) -> int:
    """The status of one GET, which must answer within 3 s (a Kubernetes probe's default is 1 s)."""
    return httpx.get(url, timeout=3).status_code


@pytest.fixture
def room_for_clients() -> Iterator[None]:
    """This test process holds 1,100 sockets itself: raise its own soft open-file limit if need be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1100 + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit ({hard}) leaves no room for 1,100 client sockets")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("room_for_clients")
def test_slow_clients_cannot_starve_the_probes_or_stop_git_following(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    repo = tmp_path / "work"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    write_service(repo / "desired", "flooded", PORT, metrics="app_up 1")
    first = commit(repo, "one service")
    env = {
        "MONOP_GIT_URL": str(repo),
        "MONOP_GIT_PATH": "desired",
        "MONOP_GIT_FETCH_INTERVAL": "1h",  # the ref watch sees the commit
    }
    daemon = DaemonProcess(
        podman_service.url, tmp_path / "unused", tmp_path / "state", extra_env=env, nofile=1024
    )
    with daemon:
        daemon.wait_ready()
        daemon.wait_event("desired_state_loaded", revision=first)
        host, _, port = daemon.base_url.removeprefix("http://").rpartition(":")
        with SlowClients(host, int(port), count=1100, every=5.0, duration=FLOOD_SECONDS) as flood:
            wait_for(lambda: flood.connects >= 1100, 30, "1,100 slow clients connected")
            # Three rounds of header bytes: every client has been slow longer than a header may take.
            wait_for(lambda: flood.rounds >= 3, 30, "three rounds of slow header bytes")
            for path in ("/healthz", "/readyz", "/metrics", "/healthz"):
                assert probe(daemon.base_url + path) == 200, path
            write_service(repo / "desired", "flooded", PORT, metrics="app_up 2")
            second = commit(repo, "app_up 2")
            daemon.wait_event("desired_state_loaded", timeout=30, revision=second)
            assert probe(daemon.base_url + "/healthz") == 200
            open_during = flood.open
        assert daemon.alive
        code = daemon.stop()
    assert code == 0
    assert open_during > 0  # the flood was still on when the probes were answered
    lines = [json.dumps(line) for line in daemon.logs]
    emfile = [line for line in lines if "Too many open files" in line]
    assert len(emfile) <= 3, emfile[:5]
    shed = daemon.events("http_clients_shed")
    # Once per interval (10 s) at most, not once per connection.
    assert 1 <= len(shed) <= FLOOD_SECONDS / 10 + 3, shed
