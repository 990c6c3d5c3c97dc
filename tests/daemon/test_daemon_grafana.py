"""A real `monop run` keeps Grafana's provisioning directory equal to the desired dashboards.

Grafana cannot run here (no registry this machine reaches has it): the test checks the files
a Grafana container would mount, that each is replaced whole (a new inode: written beside and
renamed) and only when its content changed, and that a dashboard removed from the desired
state leaves the directory. Needs no container: the desired state holds only Grafana's kinds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monop.daemon.grafanasync import GrafanaSync, publish, write_files
from monop.daemon.metrics import Metrics
from monop.desired.grafana_files import render
from monop.desired.loader import load
from monop.settings import Settings
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

DATASOURCE = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDatasource
metadata: {name: prometheus}
spec: {url: "http://prometheus:9090", isDefault: true}
"""
SHORT = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDashboard
metadata: {{name: short}}
spec:
  title: {title}
  folder: Team
  panels:
    - title: Up
      targets: [{{expr: up, legend: "{{{{job}}}}"}}]
"""
WHOLE = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDashboard
metadata: {name: whole}
spec:
  jsonFile: whole.json
"""


def stamps(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


@pytest.mark.podman
def test_the_daemon_writes_what_changed_and_removes_what_went(
    tmp_path: Path, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "datasource.yaml").write_text(DATASOURCE)
    (desired / "short.yaml").write_text(SHORT.format(title="Before"))
    (desired / "whole.yaml").write_text(WHOLE)
    (desired / "whole.json").write_text(json.dumps({"title": "Whole", "uid": "whole", "panels": []}))
    state_dir = tmp_path / "state"
    grafana = state_dir / "grafana"
    short = grafana / "dashboards/monop/Team/short.json"
    with DaemonProcess(podman_service.url, desired, state_dir) as daemon:
        daemon.wait_ready()
        wait_for(
            lambda: short.exists() and (grafana / "dashboards/monop/whole.json").exists(), 30, "the files"
        )
        expected = load(desired)
        assert {p: (grafana / p).read_text() for p in stamps(grafana)} == render(
            expected.dashboards, expected.grafana
        )
        assert {oct(p.stat().st_mode & 0o777) for p in grafana.rglob("*")} == {"0o644", "0o755"}
        before = stamps(grafana)

        (desired / "short.yaml").write_text(SHORT.format(title="After"))
        wait_for(lambda: json.loads(short.read_text())["title"] == "After", 30, "the new title written")
        after = stamps(grafana)
        changed = {p for p in after if after[p] != before[p]}
        assert changed == {"dashboards/monop/Team/short.json"}  # the others were not touched
        assert after["dashboards/monop/Team/short.json"][0] != before["dashboards/monop/Team/short.json"][0]

        (desired / "whole.yaml").unlink()
        wait_for(lambda: not (grafana / "dashboards/monop/whole.json").exists(), 30, "the dashboard removed")
        wait_for(lambda: daemon.events("grafana_file_removed"), 10, "the removal logged")
        assert len(daemon.events("grafana_file_written")) == 5  # four at first, then the one edited
        assert daemon.metric("monop_grafana_file_syncs_total", result="written") == 3
        assert daemon.metric("monop_grafana_file_syncs_total", result="error") == 0


def test_writing_again_changes_nothing_and_leaves_others_files_alone(tmp_path: Path) -> None:
    grafana = tmp_path / "grafana"
    (grafana / "dashboards/monop/Old").mkdir(parents=True)
    (grafana / "dashboards/monop/Old/gone.json").write_text("{}")
    (grafana / "dashboards/theirs.yaml").write_text("apiVersion: 1\n")  # another provider's, not monop's
    files = {
        "dashboards/monop.yaml": "a\n",
        "dashboards/monop/x.json": "{}\n",
        "datasources/monop.yaml": "b\n",
    }
    first = write_files(files, grafana)
    assert first.written == tuple(sorted(files)) and first.removed == ("dashboards/monop/Old/gone.json",)
    assert not (grafana / "dashboards/monop/Old").exists()
    assert (grafana / "dashboards/theirs.yaml").read_text() == "apiVersion: 1\n"
    before = stamps(grafana)
    again = write_files(files, grafana)
    assert again.written == () and again.removed == () and stamps(grafana) == before


def test_a_directory_that_cannot_be_written_is_logged_and_counted(tmp_path: Path) -> None:
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "g.yaml").write_text(DATASOURCE)
    (tmp_path / "grafana").write_text("a file where the directory should be")
    metrics = Metrics(CollectorRegistry())
    sync = GrafanaSync(
        Settings(grafana_dir=tmp_path / "grafana"), metrics=metrics, log=structlog.get_logger()
    )
    with capture_logs() as logs:
        sync.sync(load(tmp_path / "desired"))
    [failed] = [e for e in logs if e["event"] == "grafana_files_write_failed"]
    assert failed["log_level"] == "error" and str(tmp_path / "grafana") in failed["error"]
    assert sync.error is not None
    assert metrics.registry.get_sample_value("monop_grafana_file_syncs_total", {"result": "error"}) == 1
    os.unlink(tmp_path / "grafana")
    sync.sync(load(tmp_path / "desired"))
    assert sync.error is None and (tmp_path / "grafana/datasources/monop.yaml").exists()


def test_a_panel_promtool_cannot_parse_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    """The daemon loads without promtool: the sync checks the panels before it writes anything."""
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "g.yaml").write_text(DATASOURCE + "---\n" + SHORT.format(title="Before"))
    metrics = Metrics(CollectorRegistry())
    sync = GrafanaSync(
        Settings(grafana_dir=tmp_path / "grafana"), metrics=metrics, log=structlog.get_logger()
    )
    sync.sync(load(desired))
    before = {p: p.read_text() for p in (tmp_path / "grafana").rglob("*") if p.is_file()}
    assert any("Before" in text for text in before.values())
    broken = SHORT.format(title="After").replace("expr: up,", 'expr: "sum(rate(up[5m])",')
    (desired / "g.yaml").write_text(DATASOURCE + "---\n" + broken)
    with capture_logs() as logs:
        sync.sync(load(desired))  # as the daemon loads it: no promtool at load
    [refused] = [e for e in logs if e["event"] == "grafana_files_refused"]
    assert "PromQL does not parse" in refused["problems"][0] and "g.yaml" in refused["problems"][0]
    assert sync.error is not None and "PromQL does not parse" in sync.error
    assert {p: p.read_text() for p in (tmp_path / "grafana").rglob("*") if p.is_file()} == before
    assert metrics.registry.get_sample_value("monop_grafana_file_syncs_total", {"result": "refused"}) == 1


def test_a_state_without_grafanas_kinds_makes_no_directory(tmp_path: Path) -> None:
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "x.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec: {image: x:1, scrape: {enabled: false}}\n"
    )
    assert publish(load(tmp_path / "desired"), tmp_path / "grafana").written == ()
    assert not (tmp_path / "grafana").exists()
