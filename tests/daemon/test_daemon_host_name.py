"""A daemon's host name is fixed at start: with host_name unset, the hostname then, not at each read.

No Podman is needed: the daemon is only built and its settings reloaded (the socket is never dialled).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from monop.controller.clock import FakeClock
from monop.daemon.daemon import Daemon
from monop.desired.source import this_host
from monop.settings import Settings, load_settings


def test_an_unset_host_name_is_the_hostname_at_start_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def settings() -> Settings:
        return load_settings({"state_dir": tmp_path, "podman_url": f"unix://{tmp_path}/none.sock"})

    monkeypatch.setattr(socket, "gethostname", lambda: "first")
    d = Daemon(settings(), clock=FakeClock(), load_settings=settings)
    monkeypatch.setattr(socket, "gethostname", lambda: "renamed")
    # Each read of the desired state selects for this host, as the series are labelled.
    assert this_host(d.settings).name == d.host_name == "first"
    d.reload_settings()
    assert this_host(d.settings).name == "first"
    assert this_host(d.source.settings).name == "first"
