"""POST /hooks/git: replays refused, and the webhook on its own address, apart from /metrics."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from monop.daemon.webhook import Deliveries, signature
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService

SECRET = "s3cret"
PORT = 19570
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Ops",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Ops",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_delivery_is_refused_again_by_its_id_or_its_body_until_it_expires() -> None:
    clock = Clock()
    seen = Deliveries(ttl=3600, size=100, clock=clock)
    assert seen.accept("d-1", b'{"after": "a"}')
    assert not seen.accept("d-1", b'{"after": "a"}')  # a replay as sent
    assert not seen.accept("d-2", b'{"after": "a"}')  # the signed body with a made-up id
    assert not seen.accept("d-1", b'{"after": "b"}')  # an id used again
    assert seen.accept(None, b'{"after": "c"}')  # no id: known by its body alone
    assert not seen.accept(None, b'{"after": "c"}')
    clock.now += 3601
    assert seen.accept("d-1", b'{"after": "a"}')  # forgotten after ttl seconds


def test_deliveries_kept_are_bounded_in_count() -> None:
    seen = Deliveries(ttl=3600, size=10, clock=Clock())
    for n in range(100):
        assert seen.accept(f"d-{n}", f"body {n}".encode())
    assert len(seen) <= 10
    assert not seen.accept("d-99", b"body 99")


def git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    )
    return done.stdout.strip()


@pytest.mark.podman
def test_a_replayed_delivery_is_refused_and_the_webhook_listens_apart_from_metrics(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    work, remote = tmp_path / "work", tmp_path / "remote.git"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    write_service(work / "desired", "hooked", PORT)
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "one service")
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(remote)], check=True)
    env = {
        "MONOP_GIT_URL": f"file://{remote}",
        "MONOP_GIT_FETCH_INTERVAL": "1h",
        "MONOP_WEBHOOK_SECRET": SECRET,
        "MONOP_WEBHOOK_ADDRESS": "127.0.0.1:0",
    }
    with DaemonProcess(podman_service.url, tmp_path / "unused", tmp_path / "state", extra_env=env) as daemon:
        daemon.wait_ready()
        hook = daemon.events("daemon_started")[0]["webhook"]
        webhook_base = hook.removesuffix("/hooks/git")
        assert webhook_base != daemon.base_url
        # Each listener serves only its own routes.
        assert httpx.get(webhook_base + "/metrics", timeout=5).status_code == 404
        assert httpx.get(webhook_base + "/healthz", timeout=5).status_code == 404
        assert httpx.post(daemon.base_url + "/hooks/git", content=b"{}", timeout=5).status_code == 404

        def post(body: bytes, delivery: str | None) -> int:
            headers = {"X-Hub-Signature-256": signature(SECRET, body)}
            if delivery is not None:
                headers["X-GitHub-Delivery"] = delivery
            return httpx.post(hook, content=body, headers=headers, timeout=5).status_code

        body = json.dumps({"ref": "refs/heads/main", "after": "1" * 40}).encode()
        assert post(body, "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 202
        assert post(body, "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 409  # replayed as captured
        assert post(body, "00000000-0000-0000-0000-000000000000") == 409  # with a new id
        other = json.dumps({"ref": "refs/heads/main", "after": "2" * 40}).encode()
        assert post(other, "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 409  # an id seen before
        assert post(other, None) == 202  # no id: accepted, known by its body from now on
        assert post(other, None) == 409
        assert daemon.metric("monop_webhook_refused_total", reason="replayed") == 4
        assert daemon.metric("monop_webhook_refused_total", reason="signature") == 0
