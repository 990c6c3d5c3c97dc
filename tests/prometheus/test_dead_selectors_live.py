"""Dead selectors found against a real Prometheus scraping a real node exporter and a GPU stand-in.

There is no GPU here: the `nvidia-gpu` job scrapes Debian's node exporter with only its
textfile collector, serving the `nvidia_smi_*` names and labels nvidia_gpu_exporter serves
(monop_testbed.exporters.GpuStandIn). Everything else is real: node exporter, Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from monop.desired.loader import load
from monop.prometheus import deadrules
from monop.prometheus.api import PrometheusAPI
from monop.prometheus.deadrules import DeadReason, DeadReport
from monop.prometheus.series import SeriesLookup
from monop_testbed.daemon import DaemonProcess
from monop_testbed.exporters import GPU_METRICS, GpuStandIn, NodeExporter
from monop_testbed.podman_service import PodmanService, wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = pytest.mark.prometheus

NODE_PORT, GPU_PORT, PROMETHEUS_PORT = 20010, 20011, 20012
JOBS = {
    "node-exporter": "Exporter/node-exporter",
    "nvidia-gpu": "Exporter/nvidia-gpu-exporter",
    "haproxy": "Exporter/haproxy-exporter",  # desired, never scraped here
}

RULES = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: gpu-monitoring}
spec:
  rules:
    - alert: GPUHighTemperature
      expr: nvidia_gpu_temperature_celsius > 80
    - alert: GPUMemoryHigh
      expr: (nvidia_gpu_memory_used_bytes / nvidia_gpu_memory_total_bytes) * 100 > 90
    - alert: GPUHot
      expr: nvidia_smi_temperature_gpu > 80
---
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: system-critical}
spec:
  rules:
    - alert: SystemDown
      expr: up{job="node-exporter"} == 0
    - alert: HighCPUUsage
      expr: 100 - (avg by(instance) (irate(node_cpu_seconds_total{mode="idel"}[5m])) * 100) > 85
    - alert: ErrorsOrNothing
      expr: sum(rate(app_errors_total[5m])) or vector(0) > 5
    - alert: NodeExporterAbsent
      expr: absent(up{job="node-exportr"})
    - alert: DiskWithoutDevice
      expr: node_load1{device="sda"} > 4
    - alert: WrongJob
      expr: node_load1{job="node-exportr"} > 4
    - alert: BackendDown
      expr: haproxy_backend_up == 0
"""


@dataclass
class Stack:
    prometheus: PrometheusServer
    gpu: GpuStandIn


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("dead")
    scrape = [
        {"job_name": "node-exporter", "static_configs": [{"targets": [f"127.0.0.1:{NODE_PORT}"]}]},
        {"job_name": "nvidia-gpu", "static_configs": [{"targets": [f"127.0.0.1:{GPU_PORT}"]}]},
    ]
    with (
        NodeExporter(base / "node", NODE_PORT),
        GpuStandIn(base / "gpu", GPU_PORT) as gpu,
        PrometheusServer(base / "prometheus", scrape, port=PROMETHEUS_PORT) as prometheus,
    ):
        wait_for(
            lambda: has(prometheus, "nvidia_smi_temperature_gpu") and has(prometheus, "node_load1"),
            60,
            "both exporters scraped",
            interval=0.2,
        )
        yield Stack(prometheus, gpu)


def has(prometheus: PrometheusServer, expr: str) -> bool:
    body = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5).json()
    return bool(body["data"]["result"])


def check(stack: Stack, tmp_path: Path, text: str = RULES) -> DeadReport:
    (tmp_path / "rules.yaml").write_text(text)
    groups = load(tmp_path).rule_groups

    async def go() -> DeadReport:
        api = PrometheusAPI(stack.prometheus.url)
        try:
            return await deadrules.check(groups, SeriesLookup(api), JOBS)
        finally:
            await api.close()

    return asyncio.run(go())


def test_a_misspelled_gpu_metric_is_named_with_the_exporters_metric_and_job(
    stack: Stack, tmp_path: Path
) -> None:
    report = check(stack, tmp_path)
    dead = {(d.rule, d.selector): d for d in report.dead}
    temp = dead[("GPUHighTemperature", "nvidia_gpu_temperature_celsius")]
    assert temp.reason is DeadReason.NEVER_SEEN
    assert temp.nearest[0] == "nvidia_smi_temperature_gpu"
    assert (temp.job, temp.resource) == ("nvidia-gpu", "Exporter/nvidia-gpu-exporter")
    assert temp.line == RULES.splitlines().index("      expr: nvidia_gpu_temperature_celsius > 80") + 1
    used = dead[("GPUMemoryHigh", "nvidia_gpu_memory_used_bytes")]
    total = dead[("GPUMemoryHigh", "nvidia_gpu_memory_total_bytes")]
    assert (used.nearest[0], total.nearest[0]) == (
        "nvidia_smi_memory_used_bytes",
        "nvidia_smi_memory_total_bytes",
    )
    assert str(temp) == (
        "DeadSelector gpu-monitoring/GPUHighTemperature: nvidia_gpu_temperature_celsius: Prometheus has never "
        f"seen a metric named nvidia_gpu_temperature_celsius; nearest: {', '.join(temp.nearest)}; "
        "job nvidia-gpu, Exporter/nvidia-gpu-exporter"
    )


def test_a_label_value_that_matches_nothing_lists_the_values_that_exist(stack: Stack, tmp_path: Path) -> None:
    report = check(stack, tmp_path)
    [cpu] = [d for d in report.dead if d.rule == "HighCPUUsage"]
    assert cpu.reason is DeadReason.VALUE_UNMATCHED
    assert (cpu.metric, cpu.label) == ("node_cpu_seconds_total", "mode")
    assert {"idle", "user", "system"} <= set(cpu.values)
    assert cpu.nearest[0] == "idle"
    assert (cpu.job, cpu.resource) == ("node-exporter", "Exporter/node-exporter")
    [wrong_job] = [d for d in report.dead if d.rule == "WrongJob"]
    assert wrong_job.reason is DeadReason.VALUE_UNMATCHED
    assert wrong_job.values == ("node-exporter",)
    assert (wrong_job.job, wrong_job.resource) == ("node-exporter", "Exporter/node-exporter")


def test_a_label_no_series_carries_is_said_with_the_labels_it_has(stack: Stack, tmp_path: Path) -> None:
    report = check(stack, tmp_path)
    [disk] = [d for d in report.dead if d.rule == "DiskWithoutDevice"]
    assert disk.reason is DeadReason.LABEL_ABSENT
    assert disk.label == "device"
    assert set(disk.values) == {"instance", "job"}


def test_intentional_and_live_selectors_are_not_reported(stack: Stack, tmp_path: Path) -> None:
    report = check(stack, tmp_path)
    reported = {d.rule for d in report.dead}
    # `or vector(0)` and `absent()` are written to match nothing; the others match live series.
    assert reported.isdisjoint({"ErrorsOrNothing", "NodeExporterAbsent", "SystemDown", "GPUHot"})
    assert reported == {
        "GPUHighTemperature",
        "GPUMemoryHigh",
        "HighCPUUsage",
        "DiskWithoutDevice",
        "WrongJob",
        "BackendDown",
    }
    assert report.by_rule()[("system-critical", "SystemDown")] == 0
    assert report.selectors == 9  # ErrorsOrNothing and NodeExporterAbsent are never asked


def test_a_metric_the_exporter_stopped_serving_has_disappeared(stack: Stack, tmp_path: Path) -> None:
    rule = RULES.split("---\n")[0].replace(
        "nvidia_gpu_temperature_celsius", "nvidia_smi_utilization_gpu_ratio"
    )
    assert not check(stack, tmp_path, rule).dead or all(
        d.rule != "GPUHighTemperature" for d in check(stack, tmp_path, rule).dead
    )
    without = "\n".join(line for line in GPU_METRICS.splitlines() if "utilization" not in line) + "\n"
    stack.gpu.serve(without)
    try:
        # The next scrape marks the series stale; the name stays in Prometheus's storage.
        wait_for(lambda: not has(stack.prometheus, "nvidia_smi_utilization_gpu_ratio"), 30, "series stale")
        [gone] = [d for d in check(stack, tmp_path, rule).dead if d.rule == "GPUHighTemperature"]
        assert gone.reason is DeadReason.DISAPPEARED
        assert gone.job == "nvidia-gpu"  # the job carrying its nearest metric
    finally:
        stack.gpu.serve(GPU_METRICS)


LOOKS_BACK = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: looks-back}
spec:
  rules:
    - alert: Increased
      expr: increase(nvidia_smi_utilization_gpu_ratio[1h]) > 0
    - alert: LastOverTime
      expr: last_over_time(nvidia_smi_utilization_gpu_ratio[1h]) > 0
    - alert: Changed
      expr: changes(nvidia_smi_utilization_gpu_ratio{uuid="GPU-0a1b2c3d"}[30m]) > 0
    - alert: Offset
      expr: nvidia_smi_utilization_gpu_ratio offset 30m > 0
    - alert: Now
      expr: nvidia_smi_utilization_gpu_ratio > 0
"""


def test_a_rule_reading_back_over_a_range_is_not_dead_while_its_range_has_samples(
    stack: Stack, tmp_path: Path
) -> None:
    without = "\n".join(line for line in GPU_METRICS.splitlines() if "utilization" not in line) + "\n"
    stack.gpu.serve(without)
    try:
        wait_for(lambda: not has(stack.prometheus, "nvidia_smi_utilization_gpu_ratio"), 30, "series stale")
        # Prometheus itself still evaluates the range rules to a series.
        assert has(stack.prometheus, "last_over_time(nvidia_smi_utilization_gpu_ratio[1h])")
        report = check(stack, tmp_path, LOOKS_BACK)
        assert [d.rule for d in report.dead] == ["Now"]
        [now] = report.dead
        assert now.reason is DeadReason.DISAPPEARED
        assert "no series of it has a sample now (the last one is marked stale" in now.message
        assert "5 minutes" not in now.message.split("(")[0]
        # The job its own series came from, though no series of it is live now.
        assert (now.job, now.resource) == ("nvidia-gpu", "Exporter/nvidia-gpu-exporter")
    finally:
        stack.gpu.serve(GPU_METRICS)


RECORDED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: recorded}
spec:
  rules:
    - record: instance:load1:max
      expr: max by (instance) (node_load1)
    - alert: LoadHigh
      expr: instance:load1:max > 4
    - record: instance:load1:typo
      expr: max by (instance) (node_lod1)
"""


def test_a_series_a_desired_recording_rule_writes_is_pending_not_dead(stack: Stack, tmp_path: Path) -> None:
    # Never loaded into this Prometheus: as right after a reload, before the first evaluation.
    report = check(stack, tmp_path, RECORDED)
    assert [(d.rule, d.selector) for d in report.dead] == [("instance:load1:typo", "node_lod1")]
    [pending] = report.pending
    assert (pending.rule, pending.reason) == ("LoadHigh", DeadReason.NOT_RECORDED_YET)
    assert (
        pending.message == "recorded by AlertRuleGroup/recorded spec.rules[0], which has not written it yet"
    )
    assert (pending.nearest, pending.job) == ((), None)
    assert str(pending).startswith("PendingSelector recorded/LoadHigh: instance:load1:max: recorded by")


REFUSED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: refused}
spec:
  rules:
    - alert: BadRegex
      expr: node_load1{instance=~"a{1001}"} > 4
    - alert: Typo
      expr: node_lod1 > 4
"""


def test_a_query_prometheus_refuses_leaves_that_selector_unchecked_and_the_rest_checked(
    stack: Stack, tmp_path: Path
) -> None:
    # promql-parser reads `a{1001}`; Prometheus's RE2 refuses a repeat count over 1000.
    report = check(stack, tmp_path, REFUSED)
    assert report.reachable
    assert [d.rule for d in report.dead] == ["Typo"]
    [unchecked] = report.unchecked
    assert unchecked.startswith('refused/BadRegex: node_load1{instance=~"a{1001}"}: ')
    assert "bad_data" in unchecked and "invalid repeat count" in unchecked
    assert "mozilla" not in unchecked and "Client error" not in unchecked
    done = monop("check", "rules", "-d", str(tmp_path), "--prometheus-url", stack.prometheus.url)
    assert done.returncode == 1, done.stderr
    assert "not checked: refused/BadRegex: " in done.stderr


def test_prometheus_unreachable_reports_no_rule_dead(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    groups = load(tmp_path).rule_groups

    async def go() -> DeadReport:
        api = PrometheusAPI("http://127.0.0.1:20013")  # nothing listens there
        try:
            return await deadrules.check(groups, SeriesLookup(api))
        finally:
            await api.close()

    report = asyncio.run(go())
    assert not report.reachable and not report.dead
    assert report.error is not None and "127.0.0.1:20013" in report.error


def monop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monop", *args], capture_output=True, text=True, timeout=60)


def test_check_rules_says_each_dead_selector_at_its_line_and_exits_1(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    done = monop("check", "rules", "-d", str(tmp_path), "--prometheus-url", stack.prometheus.url)
    assert done.returncode == 1, done.stderr
    line = RULES.splitlines().index("      expr: nvidia_gpu_temperature_celsius > 80") + 1
    assert (
        f"{tmp_path / 'rules.yaml'}:{line}: warning: AlertRuleGroup/gpu-monitoring: spec.rules[0].expr: "
        "DeadSelector: nvidia_gpu_temperature_celsius: Prometheus has never seen a metric named "
        "nvidia_gpu_temperature_celsius; nearest: nvidia_smi_temperature_gpu"
    ) in done.stderr
    assert done.stdout.startswith(f"{stack.prometheus.url}: 10 rule(s), 9 selector(s), 7 dead (")
    # One rule, as JSON: every detail.
    one = monop(
        "check",
        "rules",
        "gpu-monitoring/GPUHot",
        "-d",
        str(tmp_path),
        "--prometheus-url",
        stack.prometheus.url,
        "-o",
        "json",
    )
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["dead"] == []
    cpu = monop(
        "check",
        "rules",
        "system-critical/HighCPUUsage",
        "-d",
        str(tmp_path),
        "--prometheus-url",
        stack.prometheus.url,
        "--json",
    )
    [dead] = json.loads(cpu.stdout)["dead"]
    assert (dead["reason"], dead["label"], dead["nearest"][0], dead["job"]) == (
        "ValueUnmatched",
        "mode",
        "idle",
        "node-exporter",
    )


def test_check_rules_without_prometheus_is_a_usage_error_and_unreachable_is_3(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    done = monop("check", "rules", "-d", str(tmp_path))
    assert done.returncode == 2 and "prometheus_url" in done.stderr
    down = monop("check", "rules", "-d", str(tmp_path), "--prometheus-url", "http://127.0.0.1:20013")
    assert down.returncode == 3 and "could not ask Prometheus" in down.stderr
    # An alert the group does not have is a usage error before Prometheus is asked.
    nope = monop(
        "check",
        "rules",
        "gpu-monitoring/Nope",
        "-d",
        str(tmp_path),
        "--prometheus-url",
        "http://127.0.0.1:20013",
    )
    assert nope.returncode == 2 and "no rule Nope in AlertRuleGroup/gpu-monitoring" in nope.stderr
    wide = monop(
        "check", "rules", "-d", str(tmp_path), "--prometheus-url", "http://127.0.0.1:20013", "-o", "wide"
    )
    assert wide.returncode == 2 and "-o wide is not an output of this command" in wide.stderr


@pytest.mark.podman
def test_the_daemon_reports_dead_selectors_in_status_metrics_and_log(
    stack: Stack, tmp_path: Path, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "rules.yaml").write_text(RULES.split("---\n")[0])
    env = {"MONOP_PROMETHEUS_URL": stack.prometheus.url, "MONOP_RULE_CHECK_INTERVAL": "1s"}
    with DaemonProcess(
        podman_service.url, desired, tmp_path / "state", resync_interval="1s", extra_env=env
    ) as daemon:
        daemon.wait_ready()
        found = daemon.wait_event("dead_selector_found", alert="GPUHighTemperature")
        assert found["level"] == "warning"
        assert (found["reason"], found["nearest"][0], found["job"]) == (
            "NeverSeen",
            "nvidia_smi_temperature_gpu",
            "nvidia-gpu",
        )
        wait_for(
            lambda: (
                daemon.metric("monop_rule_dead_selectors", group="gpu-monitoring", alert="GPUMemoryHigh") == 2
            ),
            30,
            "the metric of GPUMemoryHigh",
        )
        assert daemon.metric("monop_rule_dead_selectors", group="gpu-monitoring", alert="GPUHot") == 0
        wait_for(lambda: daemon.status()[1].get("deadSelectors"), 30, "status to carry the dead selectors")
        shown = daemon.status()[1]["deadSelectors"]
        assert {(d["rule"], d["selector"]) for d in shown} == {
            ("GPUHighTemperature", "nvidia_gpu_temperature_celsius"),
            ("GPUMemoryHigh", "nvidia_gpu_memory_used_bytes"),
            ("GPUMemoryHigh", "nvidia_gpu_memory_total_bytes"),
        }
        text = daemon.monop("status", "-d", str(desired)).stdout
        assert (
            "warning: DeadSelector gpu-monitoring/GPUHighTemperature: nvidia_gpu_temperature_celsius: "
            "Prometheus has never seen a metric named nvidia_gpu_temperature_celsius; nearest: nvidia_smi_temperature_gpu"
        ) in text
        # Fixed as the finding says: the next check clears it, after the rule sync.
        fixed = (
            RULES.split("---\n")[0]
            .replace("nvidia_gpu_", "nvidia_smi_")
            .replace("nvidia_smi_temperature_celsius", "nvidia_smi_temperature_gpu")
        )
        (desired / "rules.yaml").write_text(fixed)
        daemon.wait_event("dead_selector_cleared", alert="GPUHighTemperature")
        wait_for(lambda: not daemon.status()[1].get("deadSelectors"), 30, "status without dead selectors")
        assert daemon.metric("monop_rule_dead_selectors", group="gpu-monitoring", alert="GPUMemoryHigh") == 0
        assert daemon.tracebacks() == 0


def test_a_metric_of_a_desired_job_that_is_not_scraped_names_that_job(stack: Stack, tmp_path: Path) -> None:
    [backend] = [d for d in check(stack, tmp_path).dead if d.rule == "BackendDown"]
    assert backend.reason is DeadReason.NEVER_SEEN
    assert (backend.job, backend.resource) == ("haproxy", "Exporter/haproxy-exporter")
    assert backend.message.endswith("; job haproxy has no series now: is its target scraped and up?")


@pytest.mark.podman
def test_the_daemon_logs_once_that_it_could_not_ask_prometheus(
    tmp_path: Path, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "rules.yaml").write_text(RULES.split("---\n")[0])
    # Nothing listens on 20014: every check finds Prometheus unreachable, and says so once.
    env = {"MONOP_PROMETHEUS_URL": "http://127.0.0.1:20014", "MONOP_RULE_CHECK_INTERVAL": "1s"}
    with DaemonProcess(
        podman_service.url, desired, tmp_path / "state", resync_interval="1s", extra_env=env
    ) as daemon:
        daemon.wait_ready()
        said = daemon.wait_event("dead_selector_check_unreachable")
        assert said["level"] == "warning" and "127.0.0.1:20014" in said["error"]
        wait_for(
            lambda: (daemon.metric("monop_rule_selector_checks_total", result="unreachable") or 0) >= 3,
            60,
            "three unreachable checks",
        )
        assert len(daemon.events("dead_selector_check_unreachable")) == 1
        assert daemon.tracebacks() == 0
