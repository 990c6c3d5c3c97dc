"""Every metric monop exports, in one place, on a registry the caller gives (a fresh one per test)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from monop import __version__
from monop.model.resources import KINDS
from monop.states import ActionKind, State

RESULTS = ("success", "error", "requeue")
ACTION_RESULTS = ("success", "error")
OPERATIONS = (
    "list",
    "create",
    "start",
    "restart",
    "unpause",
    "stop",
    "remove",
    "pull",
    "events",
    "healthcheck",
)


class Metrics:
    """monop's metrics; every label set known up front starts at 0, as controller-runtime does."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.reconciles = Counter(
            "monop_reconcile",
            "Reconciles of one resource, by kind and result.",
            ["kind", "result"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "monop_reconcile_duration_seconds",
            "Time to reconcile one resource.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.actions = Counter(
            "monop_actions",
            "Actions carried out on containers.",
            ["kind", "action", "result"],
            registry=registry,
        )
        self.resources = Gauge("monop_resources", "Resources by state.", ["state"], registry=registry)
        self.last_full_reconcile = Gauge(
            "monop_last_full_reconcile_timestamp_seconds",
            "When every resource was last found in sync or repaired.",
            registry=registry,
        )
        self.podman_errors = Counter(
            "monop_podman_api_errors", "Failed Podman API operations.", ["operation"], registry=registry
        )
        self.event_reconnects = Counter(
            "monop_podman_event_stream_reconnects",
            "Times the Podman event stream was reconnected.",
            registry=registry,
        )
        self.event_to_repair = Histogram(
            "monop_event_to_repair_seconds",
            "Delay from a Podman event to the end of the repair it caused.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.desired_valid = Gauge(
            "monop_desired_state_valid", "1 when the last desired state read was valid.", registry=registry
        )
        self.desired_errors = Counter(
            "monop_desired_state_load_errors", "Desired states rejected as invalid.", registry=registry
        )
        self.ready = Gauge(
            "monop_ready", "1 when the daemon has its desired state and reaches Podman.", registry=registry
        )
        self.build = Info("monop_build", "monop's version.", registry=registry)
        self.build.info({"version": __version__})
        for kind in KINDS:
            for result in RESULTS:
                self.reconciles.labels(kind, result)
            self.reconcile_seconds.labels(kind)
            for action in ActionKind:
                for result in ACTION_RESULTS:
                    self.actions.labels(kind, action.value, result)
        for state in State:
            self.resources.labels(state.value)
        for operation in OPERATIONS:
            self.podman_errors.labels(operation)

    def set_states(self, states: Iterable[State]) -> None:
        """Set the gauge of every state at once, so a state no resource is in reads 0."""
        counts = Tally(states)
        for state in State:
            self.resources.labels(state.value).set(counts.get(state, 0))
