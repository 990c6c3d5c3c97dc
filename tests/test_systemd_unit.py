"""The unit file says what the README promises: notify, watchdog, restart, hardening, ordering."""

from __future__ import annotations

import configparser
from pathlib import Path


def unit(repo: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(repo / "systemd" / "monop.service")
    return parser


def test_unit_is_notify_with_watchdog_restart_and_hardening(repo: Path) -> None:
    service = unit(repo)["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] and service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert "/var/lib/monop" in service["ReadWritePaths"]
    assert service["ExecStart"].split()[1:3] == ["run", "--log-format"]
    assert "podman.socket" in unit(repo)["Unit"]["After"]


def test_stop_timeout_leaves_room_for_the_daemons_own(repo: Path) -> None:
    from monop.model.duration import parse_duration
    from monop.settings import Settings

    assert parse_duration(unit(repo)["Service"]["TimeoutStopSec"]) > Settings().stop_timeout
