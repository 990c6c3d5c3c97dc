"""Settings: flags over MONOP_* environment over the config file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from monop.errors import SettingsError
from monop.settings import load_settings


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("parallelism: 5\nscrape-address: from-file\nstate_dir: /srv/monop\n")
    monkeypatch.setenv("MONOP_PARALLELISM", "3")
    monkeypatch.setenv("MONOP_SCRAPE_ADDRESS", "from-env")
    monkeypatch.delenv("MONOP_STATE_DIR")  # conftest points it into the session's tmp
    settings = load_settings({"scrape_address": "from-flag"}, config)
    assert settings.scrape_address == "from-flag"
    assert settings.parallelism == 3
    assert settings.state_dir == Path("/srv/monop")
    assert settings.desired == Path("desired")


def test_config_file_named_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("desired: /srv/desired\n")
    monkeypatch.setenv("MONOP_CONFIG", str(config))
    assert load_settings().desired == Path("/srv/desired")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", r"setting bogus \(in .*c.yaml\): unknown setting"),
        ("parallelism: lots\n", r"setting parallelism .*valid integer"),
        ("- a\n", r"c.yaml: the config file must be a mapping"),
        ("a: [\n", r"c.yaml: invalid YAML"),
    ],
)
def test_bad_config_files_name_the_file_and_setting(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings({}, tmp_path / "c.yaml")


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings({}, tmp_path / "missing.yaml")


def test_instance_defaults_to_default_and_must_be_a_label_value(tmp_path: Path) -> None:
    assert load_settings({}).instance == "default"
    assert load_settings({"instance": "team-a.prod"}).instance == "team-a.prod"
    (tmp_path / "c.yaml").write_text("instance: Team A\n")
    with pytest.raises(
        SettingsError, match=r"setting instance \(in .*c.yaml\): .*'Team A' is not an instance name"
    ):
        load_settings({}, tmp_path / "c.yaml")


def test_another_instance_keeps_its_files_apart_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONOP_STATE_DIR", "MONOP_SD_DIR", "MONOP_RULES_DIR"):
        monkeypatch.delenv(name)  # conftest points them into the session's tmp
    default = load_settings({})
    assert (default.state_dir, default.sd_dir) == (Path("/var/lib/monop"), Path("/var/lib/monop/file_sd"))
    a = load_settings({"instance": "a", "rules_dir": "/srv/rules"})
    assert (a.state_dir, a.sd_dir, a.rules_dir) == (
        Path("/var/lib/monop/instance/a"),
        Path("/var/lib/monop/instance/a/file_sd"),
        Path("/srv/rules"),
    )


@pytest.mark.parametrize("address", ["0.0.0.0", "::1:80", "127.0.0.1:99999", "127.0.0.1:http"])
@pytest.mark.parametrize("setting", ["metrics_address", "webhook_address"])
def test_an_address_that_is_not_host_port_is_a_settings_error(setting: str, address: str) -> None:
    with pytest.raises(SettingsError, match=f"setting {setting}: '.*' is not host:port"):
        load_settings({setting: address})


@pytest.mark.parametrize("address", [":9469", "127.0.0.1:0", "[::1]:9469", "localhost:9469"])
def test_host_port_forms_are_accepted(address: str) -> None:
    assert load_settings({"webhook_address": address}).webhook_address == address


@pytest.mark.parametrize("address", ["http://b:9469", "host:abc", "b:99999", "b 9469"])
def test_a_fleet_address_that_is_not_host_port_is_a_settings_error(address: str) -> None:
    with pytest.raises(
        SettingsError, match=r"setting fleet_addresses: beta: '.*' is not host, host:port or \[v6\]:port"
    ):
        load_settings({"fleet_addresses": {"beta": address}})


def test_a_fleet_address_names_a_host() -> None:
    with pytest.raises(SettingsError, match="setting fleet_addresses: 'bad name' is not a host name"):
        load_settings({"fleet_addresses": {"bad name": "10.0.0.2"}})


def test_an_unquoted_yaml_label_value_is_told_to_be_quoted(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("host_labels: {gpu: yes}\n")
    with pytest.raises(
        SettingsError, match=r"setting host_labels.gpu \(in .*c.yaml\): should be a string: quote the value"
    ):
        load_settings(config=config)


def test_host_labels_cannot_set_hostname() -> None:
    with pytest.raises(
        SettingsError, match="setting host_labels: 'hostname' is the host's name, always: set host_name"
    ):
        load_settings({"host_labels": {"hostname": "other"}})
