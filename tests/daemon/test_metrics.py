"""Metric names follow Prometheus conventions, and known label sets exist before the first event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monop.metrics import Metrics
from monop.states import State


def families(metrics: Metrics) -> dict[str, object]:
    text = generate_latest(metrics.registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_names_are_prefixed_and_suffixed_by_type() -> None:
    for name, family in families(Metrics(CollectorRegistry())).items():
        assert name.startswith("monop_"), name
        kind = family.type  # type: ignore[attr-defined]
        if kind == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name  # type: ignore[attr-defined]
        if kind == "histogram":
            assert name.endswith("_seconds"), name


def test_required_series_exist_at_zero_before_anything_happened() -> None:
    got = samples(Metrics(CollectorRegistry()))
    assert got[("monop_reconcile_total", (("kind", "Exporter"), ("result", "error")))] == 0
    assert (
        got[("monop_actions_total", (("action", "recreate"), ("kind", "CAdvisor"), ("result", "success")))]
        == 0
    )
    assert got[("monop_podman_api_errors_total", (("operation", "pull"),))] == 0
    assert got[("monop_podman_event_stream_reconnects_total", ())] == 0
    assert got[("monop_resources", (("state", "Drifted"),))] == 0
    assert ("monop_event_to_repair_seconds_count", ()) in got
    assert ("monop_last_full_reconcile_timestamp_seconds", ()) in got


def test_set_states_counts_each_state_and_zeroes_the_rest() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.set_states([State.IN_SYNC, State.IN_SYNC, State.STOPPED])
    metrics.set_states([State.IN_SYNC, State.MISSING])
    got = samples(metrics)
    assert got[("monop_resources", (("state", "InSync"),))] == 1
    assert got[("monop_resources", (("state", "Missing"),))] == 1
    assert got[("monop_resources", (("state", "Stopped"),))] == 0
