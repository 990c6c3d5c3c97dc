"""Which mounts show a file monop writes, and where the host reaches a container's reload endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from monop.daemon.reloads import endpoint
from monop.runtime.container import ContainerConfig, PortMapping
from monop.settings import Settings
from monop.written import WrittenPath, digest, mounted_writes, written_paths

RULES = WrittenPath("rule files", Path("/var/lib/monop/rules"))
AM = WrittenPath("alertmanager.yml", Path("/var/lib/monop/alertmanager/alertmanager.yml"))


@pytest.mark.parametrize(
    ("host_path", "names", "watched"),
    [
        ("/var/lib/monop/rules", ["rule files"], "/var/lib/monop/rules"),  # the directory itself
        ("/var/lib/monop/rules/", ["rule files"], "/var/lib/monop/rules"),
        ("/var/lib/monop/rules/a.yml", ["rule files"], "/var/lib/monop/rules/a.yml"),  # one file in it
        ("/var/lib/monop/alertmanager", ["alertmanager.yml"], "/var/lib/monop/alertmanager/alertmanager.yml"),
        ("/var/lib/monop/rulesx", [], None),  # a sibling whose name starts the same
        ("/srv/other", [], None),
    ],
)
def test_a_mount_shows_a_written_path_when_it_is_it_inside_it_or_above_it(
    host_path: str, names: list[str], watched: str | None
) -> None:
    found = mounted_writes([(host_path, "/in")], [RULES, AM])
    assert [m.written.name for m in found] == names
    if watched is not None:
        assert str(found[0].watched) == watched


def test_a_parent_directory_shows_every_written_path_below_it() -> None:
    found = mounted_writes([("/var/lib/monop", "/monop")], [RULES, AM])
    assert {m.written.name for m in found} == {"rule files", "alertmanager.yml"}


def test_the_written_paths_follow_the_settings_and_file_sd_needs_no_reload() -> None:
    settings = Settings(rules_dir=Path("/r"), sd_dir=Path("/s"), alertmanager_config=Path("/a/am.yml"))
    paths = {w.name: w for w in written_paths(settings)}
    assert paths["rule files"].path == Path("/r")
    assert paths["alertmanager.yml"].path == Path("/a/am.yml")
    assert paths["file_sd targets"].self_watched  # Prometheus re-reads file_sd files itself


def test_the_digest_changes_with_content_and_ignores_monops_hidden_candidates(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("groups: []\n")
    before = digest([tmp_path])
    (tmp_path / ".a.check").write_text("a candidate promtool has not passed yet")
    assert digest([tmp_path]) == before
    (tmp_path / "a.yml").write_text("groups: [{name: x, rules: []}]\n")
    assert digest([tmp_path]) != before


def test_a_reload_endpoint_is_reached_through_the_published_port_or_the_host_network() -> None:
    bridge = ContainerConfig(
        "p", "img", ports=(PortMapping(9090, 20201, "tcp", "127.0.0.1"), PortMapping(9093, 9093, "tcp", ""))
    )
    assert endpoint(bridge, 9090, "/-/reload") == "http://127.0.0.1:20201/-/reload"
    assert endpoint(bridge, 9093, "/-/reload") == "http://127.0.0.1:9093/-/reload"
    assert endpoint(bridge, 9100, "/-/reload") is None  # not published: cannot be reached
    host = ContainerConfig("p", "img", network="host")
    assert endpoint(host, 9090, "/reload") == "http://127.0.0.1:9090/reload"


def test_a_written_file_mounted_by_itself_is_known_as_one(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text("route: {}\n")
    written = WrittenPath("alertmanager.yml", config)
    [as_file] = mounted_writes([(str(config), "/etc/alertmanager/alertmanager.yml")], [written])
    [as_directory] = mounted_writes([(str(tmp_path), "/etc/alertmanager")], [written])
    assert as_file.single_file  # monop renames a new file into place: this mount keeps the old one
    assert not as_directory.single_file


def test_a_symlinked_setting_matches_a_mount_of_the_real_directory(tmp_path: Path) -> None:
    real = tmp_path / "real-rules"
    real.mkdir()
    (tmp_path / "rules").symlink_to(real)
    [found] = mounted_writes([(str(real), "/rules")], [WrittenPath("rule files", tmp_path / "rules")])
    assert not found.incidental


def test_a_mount_far_above_a_written_path_is_incidental_its_directory_is_not() -> None:
    [root] = mounted_writes([("/", "/host")], [RULES])
    [holder] = mounted_writes([("/var/lib/monop/alertmanager", "/etc/alertmanager")], [AM])
    assert root.incidental  # node-exporter's /:/host shows the rules by chance
    assert not holder.incidental  # the directory directly holding alertmanager.yml
