"""The README's main command: the demo stack converges under the daemon, and cleans up after."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop_testbed.prometheus_server import free_port

pytestmark = pytest.mark.podman


@pytest.fixture
def base() -> Iterator[Path]:
    # Podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long.
    path = Path(tempfile.mkdtemp(prefix="monop-demo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_demo_converges_and_leaves_nothing_running(base: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "monop_testbed.demo", "--base", str(base)),
            *("--metrics-address", "127.0.0.1:0", "--until-converged", "90"),
            *("--prometheus-port", str(free_port()), "--alertmanager-port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo: converged: every resource is InSync" in done.stdout
    assert sorted(p.name for p in (base / "desired").iterdir()) == [
        "alert-rules.yaml",
        "alerting.yaml",
        "business.yaml",
        "cadvisor.yaml",
        "node-exporter.yaml",
        "nvidia-gpu-exporter.yaml",
        "prometheus",
        "prometheus.yaml",
    ]
    # The rules were checked and loaded, and the targets written, before it stopped.
    assert (base / "rules" / "system-critical.yml").exists()
    assert (base / "file_sd" / "node-exporter.json").exists()
    # Prometheus and Alertmanager ran as containers and loaded what monop wrote.
    assert "alertmanager_config_written" in done.stderr + done.stdout
    left = subprocess.run(
        ["pgrep", "-f", f"(podman|prometheus).*{base}"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert left == []
