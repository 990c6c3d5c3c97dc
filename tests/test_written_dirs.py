"""The directories monop writes into exist before a container mounts them, and `validate` says
when a mounted alertmanager.yml does not exist yet (real files in tmp_path; `monop validate`
run as a process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from monop.written import WrittenPath, create_mounted

SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: alertmanager}}
spec:
  image: localhost/alertmanager:1
  volumes:
    - {mount}
"""


def validate(tree: Path, env: dict[str, str]) -> list[dict[str, str]]:
    """`monop validate --json TREE`'s problems; it must find the tree valid."""
    done = subprocess.run(
        [sys.executable, "-m", "monop", "validate", str(tree), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout)["problems"])


def test_the_mounted_written_directories_are_created_the_root_mount_creates_nothing(tmp_path: Path) -> None:
    rules = WrittenPath("rule files", tmp_path / "lib" / "rules")
    am = WrittenPath("alertmanager.yml", tmp_path / "lib" / "alertmanager" / "alertmanager.yml")
    assert create_mounted([("/", "/host")], [rules, am]) == []  # node-exporter's mount
    assert not (tmp_path / "lib").exists()
    created = create_mounted(
        [(str(rules.path), "/rules"), (str(am.path.parent), "/etc/alertmanager")], [rules, am]
    )
    assert created == [rules.path, am.path.parent]
    assert rules.path.is_dir() and am.path.parent.is_dir()
    assert not am.path.exists()  # the file is the daemon's to write, checked by amtool
    assert create_mounted([(str(rules.path), "/rules")], [rules]) == []  # there already


def test_validate_warns_at_the_volume_that_mounts_a_missing_alertmanager_yml(tmp_path: Path) -> None:
    config = tmp_path / "am" / "alertmanager.yml"
    tree = tmp_path / "desired"
    tree.mkdir()
    (tree / "am.yaml").write_text(SERVICE.format(mount=f"{config.parent}:/etc/alertmanager:ro"))
    env = {**os.environ, "MONOP_ALERTMANAGER_CONFIG": str(config), "MONOP_STATE_DIR": str(tmp_path / "st")}

    def problems() -> list[dict[str, str]]:
        return [p for p in validate(tree, env) if "alertmanager.yml" in p["message"]]

    [warning] = problems()
    assert (warning["line"], warning["field"], warning["severity"]) == (7, "spec.volumes[0]", "warning")
    assert "does not exist yet" in warning["message"]
    config.parent.mkdir()
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    assert problems() == []


def test_validate_warns_at_a_volume_that_mounts_alertmanager_yml_by_itself(tmp_path: Path) -> None:
    config = tmp_path / "am" / "alertmanager.yml"
    config.parent.mkdir()
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    tree = tmp_path / "desired"
    tree.mkdir()
    (tree / "am.yaml").write_text(SERVICE.format(mount=f"{config}:/etc/alertmanager/alertmanager.yml:ro"))
    env = {**os.environ, "MONOP_ALERTMANAGER_CONFIG": str(config), "MONOP_STATE_DIR": str(tmp_path / "st")}
    [warning] = [p for p in validate(tree, env) if "mounted as a file" in p["message"]]
    assert (warning["line"], warning["field"]) == (7, "spec.volumes[0]")
    assert f"mount its directory ({config.parent})" in warning["message"]
