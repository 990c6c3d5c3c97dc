"""`monop render grafana`: the provisioning files the daemon writes, printed or written now."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def monop(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, cwd=cwd)


def test_it_prints_every_file_after_its_path() -> None:
    result = monop("render", "grafana", "-f", str(REPO / "desired"))
    assert result.returncode == 0, result.stderr
    chunks = result.stdout.split("# ==> ")[1:]
    files = dict(chunk.split("\n", 1) for chunk in chunks)
    assert sorted(files) == [
        "dashboards/monop.yaml",
        "dashboards/monop/Seed/gpu-performance.json",
        "dashboards/monop/Seed/media-pipeline.json",
        "dashboards/monop/Seed/mobile-status.json",
        "dashboards/monop/Seed/system-overview.json",
        "dashboards/monop/monop.json",
        "datasources/monop.yaml",
    ]
    assert json.loads(files["dashboards/monop/monop.json"])["title"] == "monop"
    assert yaml.safe_load(files["datasources/monop.yaml"])["datasources"][0]["uid"] == "prometheus"
    as_json = json.loads(monop("render", "grafana", "-f", str(REPO / "desired"), "-o", "json").stdout)
    assert as_json == files


def test_write_writes_only_what_changed(tmp_path: Path) -> None:
    args = ("render", "grafana", "-f", str(REPO / "desired"), "--write", "--grafana-dir", str(tmp_path / "g"))
    first = monop(*args)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("wrote: ") == 7
    (tmp_path / "g/dashboards/monop/monop.json").write_text("{}")  # edited by hand: put back
    again = monop(*args)
    assert again.stderr.strip() == f"wrote: {tmp_path}/g/dashboards/monop/monop.json"


def test_without_grafana_resources_it_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec: {image: x:1, scrape: {enabled: false}}\n"
    )
    result = monop("render", "grafana", "-f", str(tmp_path))
    assert result.returncode == 1
    assert "no GrafanaDashboard or GrafanaDatasource" in result.stderr
