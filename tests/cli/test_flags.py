"""Every setting is a flag of every command that reads settings, generated from the settings model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monop.cli import flags
from monop.settings import Settings

COMMANDS = [
    "validate",
    "plan",
    "diff",
    "apply",
    "run",
    "status",
    "get",
    "describe",
    "events",
    "history",
    "rollback",
    "suspend",
    "resume",
    "reconcile",
    "render prometheus",
]


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True)


def test_the_flags_are_those_the_settings_model_makes_now() -> None:
    assert flags.from_settings() == flags.FLAGS, "run `python -m monop.cli.flags` and `ruff format`"


def test_a_mapping_setting_is_a_json_flag_and_no_flag_shows_a_missing_default() -> None:
    """The generator itself, not only its output: a regenerated file keeps what it knows."""
    import typing

    by_name = {f.field: f for f in flags.FLAGS}
    for name, info in Settings.model_fields.items():
        if typing.get_origin(info.annotation) is dict and name in by_name:
            assert by_name[name].type == "json", name
    assert not [f.field for f in flags.FLAGS if "PydanticUndefined" in f.help]


def test_every_setting_is_a_flag_but_credentials() -> None:
    named = {f.field for f in flags.FLAGS}
    assert named | flags.NOT_FLAGS == set(Settings.model_fields)
    assert not named & flags.NOT_FLAGS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_that_reads_settings_takes_every_setting_flag(command: str) -> None:
    shown = monop(*command.split(), "--help")
    assert shown.returncode == 0, shown.stderr
    for flag in flags.FLAGS:
        assert flags.option_name(flag.field) + " " in shown.stdout, (command, flag.field)
    for secret in flags.NOT_FLAGS:
        assert flags.option_name(secret) not in shown.stdout


def test_a_setting_flag_reaches_the_settings_before_the_command_or_after_it(repo: Path) -> None:
    tree = str(repo / "desired")
    before = monop("--parallelism", "0", "validate", tree)
    after = monop("validate", tree, "--parallelism", "0")
    for done in (before, after):
        assert done.returncode == 2
        assert done.stderr == "monop: setting parallelism: Input should be greater than or equal to 1\n"
    # The command's own flag wins over the one given before it.
    assert monop("--parallelism", "0", "validate", tree, "--parallelism", "3").returncode == 0


def test_run_takes_git_url_as_a_flag(tmp_path: Path) -> None:
    # --workers 0 stops it before it starts: the settings were read, --git-url among them.
    done = monop("run", "--git-url", str(tmp_path), "--git-branch", "prod", "--workers", "0")
    assert (done.returncode, done.stderr) == (
        2,
        "monop: setting workers: Input should be greater than or equal to 1\n",
    )


def test_a_flag_that_takes_json_says_so(tmp_path: Path) -> None:
    done = monop("validate", str(tmp_path), "--policy", "{not json")
    assert done.returncode == 2
    assert "--policy" in done.stderr and "should be JSON" in done.stderr
    done = monop("validate", str(tmp_path), "--policy", '{"allowed_host_paths": ["srv"]}')
    assert (done.returncode, done.stderr) == (
        2,
        "monop: setting policy.allowed_host_paths: 'srv' is not an absolute path\n",
    )


def test_a_wrong_choice_or_duration_is_a_usage_error(tmp_path: Path) -> None:
    assert monop("validate", str(tmp_path), "--health-checks", "sometimes").returncode == 2
    done = monop("validate", str(tmp_path), "--resync-interval", "soon")
    assert done.returncode == 2 and done.stderr.startswith("monop: setting resync_interval: ")
