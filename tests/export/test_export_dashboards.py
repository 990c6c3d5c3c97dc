"""`monop export kubernetes` carries the GrafanaDashboards as the Grafana sidecar's ConfigMaps.

Grafana and a cluster cannot run here: the ConfigMaps are checked against the JSON monop
provisions for the same dashboards (`monop render grafana`), which the grafana tests check
against Grafana's own model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

DESIRED = Path(__file__).resolve().parents[2] / "desired"


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, timeout=120)


def test_the_desired_dashboards_are_exported_as_the_sidecars_config_maps() -> None:
    done = monop("export", "kubernetes", "-d", str(DESIRED), "-n", "monitoring")
    assert done.returncode == 0, done.stderr
    maps = {
        m["metadata"]["name"]: m
        for m in yaml.safe_load_all(done.stdout)
        if m and m["kind"] == "ConfigMap" and m["metadata"]["labels"].get("grafana_dashboard") == "1"
    }
    assert set(maps) == {
        "dashboard-system-overview",
        "dashboard-gpu-performance",
        "dashboard-media-pipeline",
        "dashboard-mobile-status",
        "dashboard-monop",
    }
    files: dict[str, str] = json.loads(monop("render", "grafana", "-d", str(DESIRED), "-o", "json").stdout)
    gpu = maps["dashboard-gpu-performance"]
    assert gpu["metadata"]["annotations"] == {"grafana_folder": "Seed"}
    [(name, text)] = gpu["data"].items()
    assert name == "gpu-performance.json"
    assert json.loads(text)["title"] == "GPU Performance"
    assert files["dashboards/monop/Seed/gpu-performance.json"] == text  # what Grafana is given
