"""Every panel of the GrafanaDashboards asked of a real Prometheus scraping a real node exporter.

There is no GPU here: the `nvidia-gpu` job scrapes Debian's node exporter with only its
textfile collector, serving the `nvidia_smi_*` names nvidia_gpu_exporter serves
(monop_testbed.exporters.GpuStandIn, which serves no power draw). Grafana cannot be installed
here either: the queries are sent to Prometheus as Grafana sends them (variables substituted).
Everything else is real: node exporter, Prometheus, the repository's desired/ dashboards.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.prometheus import panels
from monop.prometheus.api import PrometheusAPI
from monop.prometheus.panels import PanelReport, PanelResult
from monop_testbed.daemon import DaemonProcess
from monop_testbed.exporters import GpuStandIn, NodeExporter
from monop_testbed.podman_service import PodmanService, wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = pytest.mark.prometheus

NODE_PORT, GPU_PORT, PROMETHEUS_PORT = 20800, 20801, 20802
REPO_DESIRED = Path(__file__).resolve().parents[2] / "desired"

DASHBOARD = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDatasource
metadata: {name: prometheus}
spec: {url: "http://prometheus:9090", isDefault: true, timeInterval: 1s}
---
apiVersion: monop.dev/v1alpha1
kind: GrafanaDashboard
metadata: {name: host}
spec:
  title: Host
  time: {from: now-1h, to: now}
  panels:
    - title: Load
      targets:
        - expr: node_load1
    - title: GPU Temperature
      targets:
        - expr: nvidia_smi_temperatur_gpu
    - title: CPU by mode
      targets:
        - expr: sum by (mode) (rate(node_cpu_seconds_total{mode="idel"}[$__rate_interval]))
    - title: Many to many
      targets:
        - expr: node_cpu_seconds_total + on(cpu) node_cpu_seconds_total
    - title: One of two
      targets:
        - expr: nvidia_smi_power_draw_watts
        - expr: nvidia_smi_temperature_gpu
    - title: Range
      type: stat
      targets:
        - expr: max_over_time(node_load1[$__range])
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    base = tmp_path_factory.mktemp("panels")
    scrape = [
        {"job_name": "node-exporter", "static_configs": [{"targets": [f"127.0.0.1:{NODE_PORT}"]}]},
        {"job_name": "nvidia-gpu", "static_configs": [{"targets": [f"127.0.0.1:{GPU_PORT}"]}]},
    ]
    with (
        NodeExporter(base / "node", NODE_PORT),
        GpuStandIn(base / "gpu", GPU_PORT),
        PrometheusServer(base / "prometheus", scrape, port=PROMETHEUS_PORT) as server,
    ):
        # rate() over the shortest interval needs two samples of each series.
        wait_for(
            lambda: (
                has(server, "rate(node_cpu_seconds_total[1m])") and has(server, "nvidia_smi_temperature_gpu")
            ),
            60,
            "both exporters scraped twice",
            interval=0.2,
        )
        yield server


def has(server: PrometheusServer, expr: str) -> bool:
    body = httpx.get(f"{server.url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return bool(body["data"]["result"])


def state_of(directory: Path) -> DesiredState:
    return load(directory)


def check(server: PrometheusServer, state: DesiredState) -> PanelReport:
    async def go() -> PanelReport:
        api = PrometheusAPI(server.url)
        try:
            return await panels.check_state(state, api, "127.0.0.1", "default")
        finally:
            await api.close()

    return asyncio.run(go())


def by_title(report: PanelReport, uid: str) -> dict[str, panels.PanelCheck]:
    [board] = [b for b in report.dashboards if b.uid == uid]
    return {p.title: p for p in board.panels}


def test_each_panel_is_data_nodata_with_its_nearest_metric_or_error(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    (tmp_path / "host.yaml").write_text(DASHBOARD)
    report = check(prometheus, state_of(tmp_path))
    assert report.reachable
    found = by_title(report, "host")
    assert found["Load"].result is PanelResult.DATA
    misspelled = found["GPU Temperature"]
    assert misspelled.result is PanelResult.NO_DATA
    [cause] = misspelled.queries[0].causes
    assert (cause.reason, cause.metric, cause.nearest[0]) == (
        "NeverSeen",
        "nvidia_smi_temperatur_gpu",
        "nvidia_smi_temperature_gpu",
    )
    assert misspelled.reason is not None and "nearest: nvidia_smi_temperature_gpu" in misspelled.reason
    assert misspelled.line == DASHBOARD.splitlines().index("        - expr: nvidia_smi_temperatur_gpu") + 1
    idle = found["CPU by mode"]
    assert idle.result is PanelResult.NO_DATA
    assert idle.queries[0].causes[0].reason == "ValueUnmatched"
    assert "idle" in idle.queries[0].causes[0].nearest
    # $__rate_interval with a 1s scrape interval over an hour: max(3.6s + 1s, 4s), as Grafana works it out.
    assert "[5s]" in idle.queries[0].sent
    bad = found["Many to many"]
    assert bad.result is PanelResult.ERROR
    assert bad.error is not None and "many-to-many matching not allowed" in bad.error
    # Grafana draws a panel when any of its queries has data.
    assert found["One of two"].result is PanelResult.DATA
    assert found["One of two"].queries[0].result is PanelResult.NO_DATA
    assert found["Range"].result is PanelResult.DATA
    assert "[3600s]" in found["Range"].queries[0].sent
    counts = report.results()
    assert (counts[("host", "Data")], counts[("host", "NoData")], counts[("host", "Error")]) == (3, 2, 1)


def test_the_repositorys_dashboards_name_the_panels_without_data(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    report = check(prometheus, state_of(REPO_DESIRED))
    assert {b.uid for b in report.dashboards} == {
        "system-overview",
        "gpu-performance",
        "media-pipeline",
        "mobile-status",
        "monop",
    }
    # The seed's GPU dashboard against the stand-in: it serves no power draw.
    gpu = by_title(report, "gpu-performance")
    assert {t for t, p in gpu.items() if p.result is PanelResult.DATA} == {
        "GPU Utilization",
        "GPU Temperature",
        "GPU Memory Used",
    }
    power = gpu["Power Draw"]
    assert power.result is PanelResult.NO_DATA
    assert power.queries[0].causes[0].reason == "NeverSeen"
    assert power.queries[0].causes[0].job == "nvidia-gpu"
    system = by_title(report, "system-overview")
    assert all(p.result is PanelResult.DATA for p in system.values()), {
        t: p.reason for t, p in system.items()
    }
    # Media and mobile: no cAdvisor and no business service is scraped here.
    media = by_title(report, "media-pipeline")
    assert all(p.result is PanelResult.NO_DATA for p in media.values())
    assert media["Media Queue Length"].queries[0].causes[0].message == (
        "Prometheus has never seen a metric named media_queue_length"
    )


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, timeout=60)


def test_check_dashboards_says_each_panel_without_data_at_its_line(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    (tmp_path / "host.yaml").write_text(DASHBOARD)
    done = monop("check", "dashboards", "-d", str(tmp_path), "--prometheus-url", prometheus.url)
    assert done.returncode == 1, done.stderr
    line = DASHBOARD.splitlines().index("        - expr: nvidia_smi_temperatur_gpu") + 1
    assert (
        f"{tmp_path / 'host.yaml'}:{line}: NoData: Host/GPU Temperature: nvidia_smi_temperatur_gpu: "
        "Prometheus has never seen a metric named nvidia_smi_temperatur_gpu; nearest: nvidia_smi_temperature_gpu"
    ) in done.stderr
    assert "Error: Host/Many to many: " in done.stderr
    assert "Host (host): 3/6 panels with data\n" in done.stdout
    as_json = monop(
        "check", "dashboards", "host", "-d", str(tmp_path), "--prometheus-url", prometheus.url, "--json"
    )
    [board] = json.loads(as_json.stdout)["dashboards"]
    assert [p["result"] for p in board["panels"]] == ["Data", "NoData", "NoData", "Error", "Data", "Data"]
    fine = tmp_path / "fine"
    fine.mkdir()
    (fine / "host.yaml").write_text(DASHBOARD.split("    - title: GPU Temperature")[0])
    assert monop("check", "dashboards", "-d", str(fine), "--prometheus-url", prometheus.url).returncode == 0


def test_check_dashboards_without_prometheus_is_a_usage_error_and_unreachable_is_3(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(DASHBOARD)
    assert monop("check", "dashboards", "-d", str(tmp_path)).returncode == 2
    down = monop("check", "dashboards", "-d", str(tmp_path), "--prometheus-url", "http://127.0.0.1:20803")
    assert down.returncode == 3 and "could not ask Prometheus" in down.stderr
    assert shutil.which("promtool")  # the desired state's PromQL was checked as it was read


@pytest.mark.podman
def test_the_daemon_reports_panels_in_status_metrics_and_log(
    prometheus: PrometheusServer, tmp_path: Path, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "host.yaml").write_text(DASHBOARD)
    env = {"MONOP_PROMETHEUS_URL": prometheus.url, "MONOP_RULE_CHECK_INTERVAL": "1s"}
    with DaemonProcess(
        podman_service.url, desired, tmp_path / "state", resync_interval="1s", extra_env=env
    ) as daemon:
        daemon.wait_ready()
        found = daemon.wait_event("panel_result_changed", panel="GPU Temperature")
        assert (found["level"], found["dashboard"], found["result"], found["was"]) == (
            "warning",
            "host",
            "NoData",
            None,
        )
        assert "nearest: nvidia_smi_temperature_gpu" in found["reason"]
        wait_for(
            lambda: daemon.metric("monop_grafana_panels", dashboard="host", result="Data") == 3,
            30,
            "the panel metric",
        )
        assert daemon.metric("monop_grafana_panels", dashboard="host", result="Error") == 1
        [board] = daemon.status()[1]["dashboards"]
        assert (board["uid"], board["withData"]) == ("host", 3)
        assert [p["result"] for p in board["panels"]] == ["Data", "NoData", "NoData", "Error", "Data", "Data"]
        # The status page renders the same document.
        page = daemon.get("/").text
        assert "3/6 with data" in page and "nearest: nvidia_smi_temperature_gpu" in page
        text = daemon.monop("status", "-d", str(desired)).stdout
        assert (
            "dashboard Host (host): 3/6 panels with data\n  NoData: GPU Temperature: nvidia_smi_temperatur_gpu: "
            in text
        )
        # Fixed as the check says: the panel has data at the next check, said once.
        (desired / "host.yaml").write_text(
            DASHBOARD.replace("nvidia_smi_temperatur_gpu", "nvidia_smi_temperature_gpu")
        )
        fixed = daemon.wait_event("panel_result_changed", panel="GPU Temperature", result="Data")
        assert (fixed["level"], fixed["was"]) == ("info", "NoData")
        wait_for(
            lambda: daemon.metric("monop_grafana_panels", dashboard="host", result="Data") == 4,
            30,
            "the panel metric after the fix",
        )
        assert len(daemon.events("panel_result_changed", panel="Load")) == 1
        assert daemon.tracebacks() == 0


@pytest.mark.podman
def test_status_without_a_daemon_checks_the_panels_itself(
    prometheus: PrometheusServer, tmp_path: Path, podman_service: PodmanService
) -> None:
    (tmp_path / "host.yaml").write_text(DASHBOARD)
    env = {**os.environ, "MONOP_PODMAN_URL": podman_service.url}
    common = ("-d", str(tmp_path), "--state-dir", str(tmp_path / "state"))
    done = subprocess.run(
        [sys.executable, "-m", "monop", "status", *common, "--prometheus-url", prometheus.url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    [board] = json.loads(done.stdout)["dashboards"]
    assert board["withData"] == 3 and board["panels"][3]["error"]
    unset = subprocess.run(
        [sys.executable, "-m", "monop", "status", *common],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "dashboard Host (host): 6 panels, not checked: set prometheus_url" in unset.stdout
