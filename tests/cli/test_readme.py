"""The README's example outputs are what the commands print: each block marked
`<!-- output: NAME -->` is compared with what scenario NAME prints, run for real (Podman too).

Times, ages, container IDs and pids differ from run to run, and column widths with them: both
sides are normalised the same way before they are compared. `MONOP_README_WRITE=1` writes what
the commands print into the README instead (then read the diff before committing it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monop_testbed import images
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- output: (?P<name>[\w-]+) -->\n```[a-z]*\n(?P<body>.*?)```\n", re.DOTALL)
NODE_EXPORTER = f"""\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: node-exporter
spec:
  image: {images.NODE_EXPORTER}
  ports: ["127.0.0.1:19352:9100"]
"""


def blocks() -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(README.read_text(encoding="utf-8"))}


def normalise(text: str) -> list[str]:
    """What stays the same from run to run: no times, ages, IDs or pids; single column gaps."""
    text = re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", "<time>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<id>", text)
    text = re.sub(r"\b[0-9a-f]{12}\b", "<id>", text)
    text = re.sub(r"(?<![\w.:])\d+[smhd]\b(?!\w)", "<age>", text)
    text = re.sub(r"\bpid \d+", "pid <pid>", text)
    text = re.sub(r"exit code \d+|code \d+\)", "exit code <n>", text)
    return [re.sub(r" {2,}", "  ", line).rstrip() for line in text.strip("\n").splitlines()]


def monop(cwd: Path, env: dict[str, str], *args: str) -> str:
    """What a person sees: stderr's diagnostics, then stdout's result."""
    done = subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )
    return done.stderr + done.stdout


def validate(tmp_path: Path, env: dict[str, str]) -> str:
    (tmp_path / "desired").mkdir()
    business = (README.parent / "desired" / "business.yaml").read_text(encoding="utf-8")
    (tmp_path / "desired" / "business.yaml").write_text(business.replace('"8502:8501"', '"8501:8501"'))
    return monop(tmp_path, env, "validate", "desired/")


def stack(tmp_path: Path, env: dict[str, str], podman_service: PodmanService) -> None:
    """Three resources applied; then one edited (Drifted) and one stopped by hand (Stopped)."""
    desired = tmp_path / "desired"
    write_service(desired, "business-metrics", 19350, metrics="business_metrics_up 1")
    write_service(desired, "business-dashboard", 19351, metrics="business_dashboard_up 1")
    (desired / "node-exporter.yaml").write_text(NODE_EXPORTER)
    applied = monop(tmp_path, env, "apply")
    for key in (
        "Exporter/node-exporter",
        "BusinessService/business-metrics",
        "BusinessService/business-dashboard",
    ):
        assert f"create {key}: ok" in applied, applied  # the README's figures start from three running
    write_service(desired, "business-dashboard", 19351, metrics="business_dashboard_up 2")
    podman_service.podman("stop", "-t", "1", "node-exporter")


def status(tmp_path: Path, env: dict[str, str], podman_service: PodmanService) -> str:
    stack(tmp_path, env, podman_service)
    return monop(tmp_path, env, "status")


def diff(tmp_path: Path, env: dict[str, str], podman_service: PodmanService) -> str:
    stack(tmp_path, env, podman_service)
    return monop(tmp_path, env, "diff")


def describe(tmp_path: Path, env: dict[str, str], podman_service: PodmanService) -> str:
    stack(tmp_path, env, podman_service)
    return monop(tmp_path, env, "describe", "Exporter/node-exporter")


PLAIN: dict[str, Callable[[Path, dict[str, str]], str]] = {"validate": validate}
LIVE: dict[str, Callable[[Path, dict[str, str], PodmanService], str]] = {
    "status": status,
    "diff": diff,
    "describe": describe,
}


def environment(tmp_path: Path, podman_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONOP_") or k == "MONOP_TEST_HOST"}
    env |= {
        "MONOP_STATE_DIR": str(tmp_path / "state"),
        "MONOP_SD_DIR": str(tmp_path / "file_sd"),
        "MONOP_RULES_DIR": str(tmp_path / "rules"),
        "MONOP_CONFIG": str(tmp_path / "no-config.yaml"),
        "COLUMNS": "200",
    }
    (tmp_path / "no-config.yaml").write_text("{}\n")
    if podman_url:
        env["MONOP_PODMAN_URL"] = podman_url
    return env


def check(name: str, printed: str) -> None:
    if os.environ.get("MONOP_README_WRITE"):
        text = README.read_text(encoding="utf-8")
        start = text.index(f"<!-- output: {name} -->\n")
        body = text.index("\n", text.index("```", start)) + 1
        end = text.index("```\n", body)
        README.write_text(text[:body] + printed.rstrip("\n") + "\n" + text[end:], encoding="utf-8")
        return
    assert normalise(printed) == normalise(blocks()[name])


def test_every_marked_block_has_a_scenario() -> None:
    assert set(blocks()) == set(PLAIN) | set(LIVE)


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_readme_output(name: str, tmp_path: Path) -> None:
    check(name, PLAIN[name](tmp_path, environment(tmp_path)))


@pytest.mark.podman
@pytest.mark.parametrize("name", sorted(LIVE))
def test_readme_output_against_podman(
    name: str, tmp_path: Path, podman_service: PodmanService, podman: object
) -> None:
    check(name, LIVE[name](tmp_path, environment(tmp_path, podman_service.url), podman_service))
    shutil.rmtree(tmp_path / "desired", ignore_errors=True)
