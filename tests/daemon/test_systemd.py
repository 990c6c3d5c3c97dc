"""sd_notify, received on our own datagram socket as systemd would receive it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.daemon import systemd


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        address = str(tmp_path / "notify")
        sock.bind(address)
    else:
        name = f"monop-test-{os.getpid()}-{id(sock)}"
        sock.bind("\0" + name)
        address = "@" + name
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    yield sock
    sock.close()


def test_each_notification_arrives_as_one_datagram(notify_socket: socket.socket) -> None:
    assert systemd.ready("3 resources")
    assert systemd.status("3 resources, 1 drifted")
    assert systemd.watchdog()
    assert systemd.reloading()
    assert systemd.stopping()
    got = [notify_socket.recv(4096).decode() for _ in range(5)]
    assert got[:3] == ["READY=1\nSTATUS=3 resources", "STATUS=3 resources, 1 drifted", "WATCHDOG=1"]
    reloading, monotonic = got[3].split("\n")
    assert reloading == "RELOADING=1" and int(monotonic.removeprefix("MONOTONIC_USEC=")) > 0
    assert got[4] == "STOPPING=1"


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_us() -> None:
    pid = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 15.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
