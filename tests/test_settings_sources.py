"""Where settings come from, now that monop gathers them itself (no pydantic-settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monop.errors import SettingsError
from monop.settings import Settings, load_settings


def test_a_structured_setting_is_json_in_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONOP_POLICY", '{"allow_privileged": true, "allowed_host_paths": ["/srv"]}')
    policy = load_settings().policy
    assert policy is not None and policy.allow_privileged and policy.allowed_host_paths == ("/srv",)


def test_a_structured_setting_that_is_not_json_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONOP_POLICY", "allow_privileged")
    with pytest.raises(SettingsError, match=r"setting policy \(MONOP_POLICY\): not valid JSON"):
        load_settings()


def test_variables_are_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("monop_parallelism", "3")
    assert load_settings().parallelism == 3


def test_variables_of_no_setting_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONOP_NOT_A_SETTING", "x")  # MONOP_CONFIG, MONOP_TEST_HOST, ... are not settings
    assert load_settings().workers == Settings.model_fields["workers"].default


def test_the_environment_wins_over_the_file_and_a_flag_over_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "c.yaml").write_text("workers: 2\nparallelism: 2\ndebounce: 1s\n")
    monkeypatch.setenv("MONOP_WORKERS", "3")
    monkeypatch.setenv("MONOP_PARALLELISM", "3")
    settings = load_settings({"parallelism": 5}, tmp_path / "c.yaml")
    assert (settings.workers, settings.parallelism, settings.debounce) == (3, 5, 1.0)


def test_importing_settings_stays_cheap() -> None:
    # Every `monop` command imports the settings: not pydantic-settings, not the resource models.
    script = (
        "import sys, monop.settings; "
        "print(sorted(m for m in ('pydantic_settings', 'yaml', 'monop.api.resources') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
