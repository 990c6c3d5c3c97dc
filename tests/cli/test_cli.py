"""The command line: help, version, JSON output, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def monop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, cwd=cwd)


def test_version() -> None:
    result = monop("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("monop ")


@pytest.mark.parametrize("command", ["validate", "crds"])
def test_every_command_has_help(command: str) -> None:
    result = monop(command, "--help")
    assert result.returncode == 0
    assert "Usage: monop " + command in result.stdout


def test_validate_json_for_scripts(repo: Path) -> None:
    result = monop("validate", "--json", "--desired", str(repo / "desired"))
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["valid"] is True
    assert "CAdvisor/cadvisor" in report["resources"]
    assert {p["severity"] for p in report["problems"]} <= {"warning"}


def test_strict_turns_warnings_into_failure(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\n"
        "spec: {image: 'prom/node-exporter', ports: ['9100:9100']}\n"
    )
    assert monop("validate", str(tmp_path)).returncode == 0
    strict = monop("validate", "--strict", "--json", str(tmp_path))
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["problems"][0]["field"] == "spec.image"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert monop("validate", "--no-such-flag").returncode == 2
    (tmp_path / "c.yaml").write_text("bogus: 1\n")
    result = monop("--config", str(tmp_path / "c.yaml"), "validate")
    assert result.returncode == 2
    assert result.stderr.strip() == f"monop: setting bogus (in {tmp_path}/c.yaml): unknown setting"


def test_crds_check_reports_stale_files(tmp_path: Path) -> None:
    assert monop("crds", "--check", "--output", str(tmp_path)).returncode == 1
    assert monop("crds", "--output", str(tmp_path)).returncode == 0
    result = monop("crds", "--check", "--output", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "")


def test_validate_output_forms_and_streams(repo: Path, tmp_path: Path) -> None:
    tree = str(repo / "desired")
    names = monop("validate", tree, "-o", "name")
    assert "CAdvisor/cadvisor\n" in names.stdout and "AlertRuleGroup/" in names.stdout
    assert yaml.safe_load(monop("validate", tree, "-o", "yaml").stdout)["valid"] is True
    (tmp_path / "x.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\n"
        "spec: {image: 'prom/node-exporter', ports: ['9100:9100']}\n"
    )
    warned = monop("validate", str(tmp_path))
    # The warning is a diagnostic (stderr); the verdict is the result (stdout).
    assert ": warning: Exporter/x: spec.image: " in warned.stderr
    assert warned.stdout == f"{tmp_path}: 1 resources valid, 1 warning(s)\n"


def test_history_json_times_are_rfc3339(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text(
        json.dumps(
            {
                "at": 1764541262.5,
                "time": 1764541200.0,
                "revision": "a" * 40,
                "result": "applied",
                "created": ["Exporter/x"],
            }
        )
        + "\n"
    )
    done = monop("history", "-o", "json", "--state-dir", str(tmp_path))
    assert json.loads(done.stdout)[0]["at"] == "2025-11-30T22:21:02Z"
    assert json.loads(done.stdout)[0]["time"] == "2025-11-30T22:20:00Z"  # the commit's own time
    table = monop("history", "--state-dir", str(tmp_path))
    assert table.stdout.splitlines()[1].split()[2:5] == ["aaaaaaaaaaaa", "applied", "-"]
