"""The Alertmanager config's metrics: its state, when it was last seen loaded, the receivers by routing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from monop.daemon.metrics import Metrics
from monop.prometheus.alertmanager import ConfigState, ConfigStatus, ReceiverInfo


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_state_loaded_time_and_receivers_by_routing() -> None:
    metrics = Metrics(CollectorRegistry())
    assert (
        value(metrics, "monop_alertmanager_config_state", state="Loaded") == 0
    )  # every state from the start
    assert value(metrics, "monop_alertmanager_receivers", routed="false") == 0
    receivers = (
        ReceiverInfo("ops", ("webhook",), ()),
        ReceiverInfo("pager", ("webhook",), ('severity="page"',), unrouted="no rule's alert carries it"),
    )
    metrics.set_alertmanager(ConfigStatus("/a.yml", ConfigState.LOADED, receivers=receivers), now=1000.0)
    assert value(metrics, "monop_alertmanager_config_state", state="Loaded") == 1
    assert value(metrics, "monop_alertmanager_config_last_loaded_timestamp_seconds") == 1000.0
    assert value(metrics, "monop_alertmanager_receivers", routed="true") == 1
    assert value(metrics, "monop_alertmanager_receivers", routed="false") == 1

    metrics.set_alertmanager(ConfigStatus("/a.yml", ConfigState.REJECTED, "amtool: bad"), now=2000.0)
    assert value(metrics, "monop_alertmanager_config_state", state="Loaded") == 0
    assert value(metrics, "monop_alertmanager_config_state", state="Rejected") == 1
    assert value(metrics, "monop_alertmanager_config_last_loaded_timestamp_seconds") == 1000.0  # still then
