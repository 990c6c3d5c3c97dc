"""What the daemon serves on /metrics: promtool's conventions on a live scrape, the process's own
series, and known label sets before the first event (what Prometheus stores of it:
tests/test_prometheus_live.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monop.daemon.metrics import Metrics
from monop.reconcile.states import State
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService

PORT = 19650
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed"
)


@needs_promtool
@pytest.mark.podman
def test_a_live_scrape_of_the_daemon_passes_promtool_and_has_the_process_series(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    write_service(tmp_path / "desired", "alpha", PORT)
    with DaemonProcess(podman_service.url, tmp_path / "desired", tmp_path / "state") as daemon:
        daemon.wait_ready()
        daemon.wait_event("container_created", resource="BusinessService/alpha")
        text = daemon.get("/metrics").text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0 and not lint.stdout + lint.stderr, lint.stdout + lint.stderr
    names = {f.name for f in text_string_to_metric_families(text)}
    # The README quotes the daemon's CPU and memory: they are on its own /metrics.
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= {
        s.name for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert all(n.startswith(("monop_", "process_", "python_")) for n in names), names


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_required_series_exist_at_zero_before_anything_happened() -> None:
    got = samples(Metrics(CollectorRegistry(), host="h1"))
    assert got[("monop_reconcile_total", (("kind", "Exporter"), ("result", "error")))] == 0
    assert (
        got[("monop_actions_total", (("action", "recreate"), ("kind", "CAdvisor"), ("result", "success")))]
        == 0
    )
    assert got[("monop_podman_api_errors_total", (("operation", "pull"),))] == 0
    assert got[("monop_podman_event_stream_reconnects_total", ())] == 0
    assert (
        got[
            (
                "monop_resources",
                (
                    ("host", "h1"),
                    ("state", "Drifted"),
                ),
            )
        ]
        == 0
    )
    assert ("monop_event_to_repair_seconds_count", ()) in got
    assert ("monop_last_full_reconcile_timestamp_seconds", ()) in got


def test_set_states_counts_each_state_and_zeroes_the_rest() -> None:
    metrics = Metrics(CollectorRegistry(), host="h1")
    metrics.set_states([State.IN_SYNC, State.IN_SYNC, State.STOPPED])
    metrics.set_states([State.IN_SYNC, State.MISSING])
    got = samples(metrics)
    assert (
        got[
            (
                "monop_resources",
                (
                    ("host", "h1"),
                    ("state", "InSync"),
                ),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "monop_resources",
                (
                    ("host", "h1"),
                    ("state", "Missing"),
                ),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "monop_resources",
                (
                    ("host", "h1"),
                    ("state", "Stopped"),
                ),
            )
        ]
        == 0
    )


def test_resource_info_and_conditions_follow_the_status() -> None:
    from prometheus_client import CollectorRegistry

    from monop.daemon.metrics import Metrics
    from monop.reconcile.states import State
    from monop.reconcile.status import Observation, evaluate

    registry = CollectorRegistry()
    metrics = Metrics(registry, host="h1")

    def value(metric: str, **labels: str) -> float | None:
        return registry.get_sample_value(metric, labels)

    drifted = evaluate(Observation(State.DRIFTED, "image", running=True, reconciling="recreating"), (), 1.0)
    metrics.set_resource("Exporter/node", drifted)
    node = {"host": "h1", "kind": "Exporter", "name": "node"}
    assert value("monop_resource_info", **node, sync="OutOfSync", health="Healthy") == 1
    assert value("monop_resource_condition", **node, type="Ready", status="False") == 1
    assert value("monop_resource_condition", **node, type="Ready", status="True") == 0
    assert value("monop_resource_condition", **node, type="Reconciling", status="True") == 1
    synced = evaluate(Observation(State.IN_SYNC, running=True), drifted.conditions, 2.0)
    metrics.set_resource("Exporter/node", synced)
    assert value("monop_resource_info", **node, sync="OutOfSync", health="Healthy") is None
    assert value("monop_resource_info", **node, sync="Synced", health="Healthy") == 1
    assert value("monop_resource_condition", **node, type="Ready", status="True") == 1
    assert value("monop_resource_condition", **node, type="Reconciling", status="True") is None
    metrics.forget_resource("Exporter/node")
    assert value("monop_resource_info", **node, sync="Synced", health="Healthy") is None
    assert value("monop_resource_condition", **node, type="Ready", status="True") is None
