"""The unit file says what the README promises: notify, watchdog, restart, hardening, ordering."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


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
    from monop.api.duration import parse_duration
    from monop.settings import Settings

    assert parse_duration(unit(repo)["Service"]["TimeoutStopSec"]) > Settings().stop_timeout


def test_devices_stay_visible_for_the_device_check_but_closed(repo: Path) -> None:
    """PrivateDevices=yes would hide /dev/nvidia*: the desired GPU exporter's device then 'does not exist'."""
    service = unit(repo)["Service"]
    assert service.get("PrivateDevices", "no") == "no"
    assert service["DevicePolicy"] == "closed"  # seen, never opened: Podman opens them


def test_network_online_is_wanted_as_well_as_waited_for(repo: Path) -> None:
    """After= alone orders after network-online.target only if something else pulls it in."""
    section = unit(repo)["Unit"]
    assert "network-online.target" in section["After"].split()
    assert "network-online.target" in section["Wants"].split()


def test_systemd_analyze_verify_accepts_the_unit(repo: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian's systemd package provides it)")
    # verify checks that ExecStart exists: point it at this checkout's monop instead of /opt/monop.
    monop = Path(sys.executable).parent / "monop"
    text = (repo / "systemd" / "monop.service").read_text().replace("/opt/monop/.venv/bin/monop", str(monop))
    copy = tmp_path / "monop.service"
    copy.write_text(text)
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "monop.service" not in done.stderr, done.stderr  # no warning about our unit either
