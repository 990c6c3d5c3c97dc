"""Every metric monop exports, in one place, on a registry the caller gives (a fresh one per test)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from monop import __version__
from monop.api.resources import KINDS
from monop.controller.queue import WorkQueue
from monop.daemon.http import SHED_REASONS
from monop.desired import git
from monop.prometheus.alertmanager import ConfigState, ConfigStatus
from monop.prometheus.api import TargetHealth, TargetReport
from monop.prometheus.rules import RuleState
from monop.reconcile.states import ActionKind, State
from monop.reconcile.status import ResourceStatus
from monop.runtime import podman

RESULTS = ("success", "error", "requeue", "stalled")
# client-go's workqueue latency buckets (ExponentialBuckets(10e-9, 10, 10)): 10 ns to 10 s.
QUEUE_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 2))
# The daemon's supervised background tasks (monop.daemon.triggers), and the HTTP server's handlers.
TASKS = (
    "watch-desired",
    "watch-git",
    "fetch-git",
    "podman-events",
    "resync",
    "watchdog",
    "desired-load",
    "http",
    "status-page",  # a look for the status page (monop.daemon.page) that failed
)
WEBHOOK_REFUSALS = ("signature", "replayed")
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
    "init",
    "rename",
)


class Metrics:
    """monop's metrics; every label set known up front starts at 0, as controller-runtime does."""

    def __init__(self, registry: CollectorRegistry, host: str = "") -> None:
        self.registry = registry
        # The fleet host (monop.desired.fleet) on the series a central Prometheus compares across
        # hosts: the revision in force and each resource's state.
        self.host = host
        # What the library's default registry would carry: process_* (CPU seconds, resident
        # memory bytes, open fds), python_info and python_gc_*.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
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
        self.resources = Gauge("monop_resources", "Resources by state.", ["host", "state"], registry=registry)
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
        self.target_up = Gauge(
            "monop_target_up",
            "1 when Prometheus scrapes the desired target and it is up with what it should carry.",
            # Not job/instance: Prometheus attaches those to every scraped series, and would
            # store these as exported_job/exported_instance.
            ["target_job", "target_instance", "resource"],
            registry=registry,
        )
        self.targets = Gauge("monop_targets", "Desired targets by health.", ["health"], registry=registry)
        self.prometheus_reachable = Gauge(
            "monop_prometheus_reachable",
            "1 when Prometheus's API answered the last target check.",
            registry=registry,
        )
        self.rule_groups = Gauge(
            "monop_rule_groups", "Desired alert rule groups by state.", ["state"], registry=registry
        )
        self.dead_selectors = Gauge(
            "monop_rule_dead_selectors",
            "Selectors of each desired rule that match no series in Prometheus (monop check rules says why).",
            ["group", "alert"],  # alert: the alert's name, or the recording rule's
            registry=registry,
        )
        self.rule_checks = Counter(
            "monop_rule_selector_checks",
            "Dead-selector checks of the rules: ok, unreachable (Prometheus did not answer), error.",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "unreachable", "error"):
            self.rule_checks.labels(result)
        self.git_fetch_errors = Counter(
            "monop_git_fetch_errors", "Fetches of the git source that failed.", registry=registry
        )
        self.webhook_refused = Counter(
            "monop_webhook_refused",
            "Webhook requests refused: a missing or wrong signature, or a delivery seen before.",
            ["reason"],
            registry=registry,
        )
        for reason in WEBHOOK_REFUSALS:
            self.webhook_refused.labels(reason)
        self.http_shed = Counter(
            "monop_http_connections_shed",
            "HTTP connections the daemon closed early or could not take, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in SHED_REASONS:
            self.http_shed.labels(reason)
        self.applied_revision = Info(
            "monop_applied_revision",
            "The git revision whose desired state is in force, on this host.",
            ["host"],
            registry=registry,
        )
        self.health_checks = Counter(
            "monop_health_checks",
            "Health checks monop ran: kind check (a container's healthcheck) or probe (HTTP); "
            "result pass, fail, or error (the check could not be run).",
            ["kind", "result"],
            registry=registry,
        )
        self.task_failures = Counter(
            "monop_task_failures",
            "Unexpected failures of a background task (each one restarted with backoff).",
            ["task"],
            registry=registry,
        )
        self.state_write_errors = Counter(
            "monop_state_write_errors",
            "Writes of the daemon's state or history files that failed (a full or read-only disk).",
            registry=registry,
        )
        self.resource_info = Gauge(
            "monop_resource_info",
            "1 for each resource, labelled with its sync and health (Argo CD's two axes).",
            ["host", "kind", "name", "sync", "health"],
            registry=registry,
        )
        self.resource_condition = Gauge(
            "monop_resource_condition",
            "1 for the status each condition of a resource has now, 0 for the others "
            "(as Flux's gotk_reconcile_condition).",
            ["host", "kind", "name", "type", "status"],
            registry=registry,
        )
        self.suspended = Gauge(
            "monop_suspended_resources", "Resources a person suspended (monop suspend).", registry=registry
        )
        # Each resource's series: its info labels, its condition labels, and those series.
        self._shown: dict[str, tuple[tuple[str, ...], list[tuple[str, ...]], list[Gauge]]] = {}
        self.alertmanager_syncs = Counter(
            "monop_alertmanager_config_syncs",
            "Changes of alertmanager.yml: written (and loaded), rejected by amtool or Alertmanager "
            "(the previous file kept), rolled_back (refused at reload), error (monop could not try).",
            ["result"],
            registry=registry,
        )
        for result in ("written", "rejected", "rolled_back", "error"):
            self.alertmanager_syncs.labels(result)
        self.alertmanager_config = Gauge(
            "monop_alertmanager_config_state",
            "1 for the state alertmanager.yml is in, 0 for the others: Loaded (Alertmanager runs the "
            "desired config), Written (not asked), NotLoaded, NotWritten, Rejected.",
            ["state"],
            registry=registry,
        )
        for config_state in ConfigState:
            self.alertmanager_config.labels(config_state.value)
        self.alertmanager_loaded_at = Gauge(
            "monop_alertmanager_config_last_loaded_timestamp_seconds",
            "When Alertmanager was last seen running the desired config, after a sync (Unix seconds; 0: never).",
            registry=registry,
        )
        self.alertmanager_receivers = Gauge(
            "monop_alertmanager_receivers",
            "AlertReceivers of the desired state, by whether the desired rules' alerts reach them (routed).",
            ["routed"],
            registry=registry,
        )
        for routed in ("true", "false"):
            self.alertmanager_receivers.labels(routed)
        self.grafana_syncs = Counter(
            "monop_grafana_file_syncs",
            "Changes of Grafana's provisioning files (grafana_dir): written, refused (a panel's PromQL "
            "does not parse: nothing written), or error (not written).",
            ["result"],
            registry=registry,
        )
        for result in ("written", "refused", "error"):
            self.grafana_syncs.labels(result)
        self.grafana_panels = Gauge(
            "monop_grafana_panels",
            "Panels of each desired GrafanaDashboard (its uid) by the last check's result against "
            "Prometheus: Data, NoData, Error (monop check dashboards says why).",
            ["dashboard", "result"],
            registry=registry,
        )
        self.panel_checks = Counter(
            "monop_grafana_panel_checks",
            "Checks of the dashboards' panels: ok, unreachable (Prometheus did not answer), error.",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "unreachable", "error"):
            self.panel_checks.labels(result)
        self.container_reloads = Counter(
            "monop_container_reloads",
            "Containers told that a file monop writes and they mount changed: reloaded (and verified "
            "where the server shows it), failed, not_told (the container declares no reload).",
            ["result"],
            registry=registry,
        )
        for result in ("reloaded", "failed", "not_told"):
            self.container_reloads.labels(result)
        self.queue_depth = Gauge(
            "monop_workqueue_depth", "Keys waiting in the work queue.", ["name"], registry=registry
        )
        self.queue_adds = Counter(
            "monop_workqueue_adds",
            "Keys added to the work queue (not counting one already waiting).",
            ["name"],
            registry=registry,
        )
        self.queue_retries = Counter(
            "monop_workqueue_retries",
            "Keys put back after a failed reconcile, to wait out a backoff.",
            ["name"],
            registry=registry,
        )
        self.queue_latency = Histogram(
            "monop_workqueue_queue_duration_seconds",
            "Seconds a key waited in the queue before a worker took it.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        self.queue_work = Histogram(
            "monop_workqueue_work_duration_seconds",
            "Seconds a worker held a key, from taking it to done.",
            ["name"],
            buckets=QUEUE_BUCKETS,
            registry=registry,
        )
        self.queue_unfinished = Gauge(
            "monop_workqueue_unfinished_work_seconds",
            "Seconds of work in flight and not yet done: large values mean stuck workers.",
            ["name"],
            registry=registry,
        )
        self.queue_longest = Gauge(
            "monop_workqueue_longest_running_processor_seconds",
            "Seconds the longest-held key in flight has been held.",
            ["name"],
            registry=registry,
        )
        self.podman_requests = Counter(
            "monop_podman_requests",
            "Operations asked of Podman's API, by operation and result (unreachable: no answer).",
            ["operation", "result"],
            registry=registry,
        )
        self.podman_request_seconds = Histogram(
            "monop_podman_request_duration_seconds",
            "Seconds each Podman operation took, answer or not (a list is two requests).",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.git_fetches = Counter(
            "monop_git_fetches", "Fetches of the git source, by result.", ["result"], registry=registry
        )
        self.git_fetch_seconds = Histogram(
            "monop_git_fetch_duration_seconds",
            "Seconds each fetch of the git source took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
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
            self.resources.labels(host, state.value)
        for operation in OPERATIONS:
            self.podman_errors.labels(operation)
        for check in ("check", "probe"):
            for outcome in ("pass", "fail", "error"):
                self.health_checks.labels(check, outcome)
        for task in TASKS:
            self.task_failures.labels(task)
        for operation in podman.OPERATIONS:
            self.podman_request_seconds.labels(operation)
            for outcome in podman.RESULTS:
                self.podman_requests.labels(operation, outcome)
        for outcome in git.FETCH_RESULTS:
            self.git_fetches.labels(outcome)

    def podman_request(self, operation: str, result: str, seconds: float) -> None:
        """One Podman operation done (monop.runtime.podman.OnRequest)."""
        self.podman_requests.labels(operation, result).inc()
        self.podman_request_seconds.labels(operation).observe(seconds)

    def git_fetched(self, result: str, seconds: float) -> None:
        """One fetch of the git source done (monop.desired.git.OnFetch)."""
        self.git_fetches.labels(result).inc()
        self.git_fetch_seconds.observe(seconds)

    def follow_queue(self, name: str, queue: WorkQueue) -> None:
        """Export `queue` as client-go's workqueue_* series, labelled `name`; every series at 0."""
        queue.metrics = _QueueMetrics(self, name)
        self.queue_depth.labels(name).set_function(lambda: len(queue))
        self.queue_unfinished.labels(name).set_function(queue.unfinished_seconds)
        self.queue_longest.labels(name).set_function(queue.longest_running_seconds)

    def set_targets(self, report: TargetReport) -> None:
        """Replace every target series: a target no longer desired stops being exported."""
        self.prometheus_reachable.set(1 if report.reachable else 0)
        self.target_up.clear()
        counts = Tally(t.health for t in report.targets)
        for health in TargetHealth:
            self.targets.labels(health.value).set(counts.get(health, 0))
        for t in report.targets:
            if t.health is not TargetHealth.STALE:
                self.target_up.labels(t.job, t.instance, t.resource).set(
                    1 if t.health is TargetHealth.UP else 0
                )

    def set_alertmanager(self, status: ConfigStatus, now: float) -> None:
        """The config's state, when it was last seen loaded (`now`, Unix seconds), and the receivers."""
        for config_state in ConfigState:
            self.alertmanager_config.labels(config_state.value).set(int(status.state is config_state))
        if status.state is ConfigState.LOADED:
            self.alertmanager_loaded_at.set(now)
        routed = Tally(r.unrouted is None for r in status.receivers)
        self.alertmanager_receivers.labels("true").set(routed.get(True, 0))
        self.alertmanager_receivers.labels("false").set(routed.get(False, 0))

    def set_rules(self, states: Iterable[RuleState]) -> None:
        counts = Tally(states)
        for state in RuleState:
            self.rule_groups.labels(state.value).set(counts.get(state, 0))

    def set_dead_selectors(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace every rule's series: (group, rule) -> its dead selectors, 0 for a live rule."""
        self.dead_selectors.clear()
        for (group, rule), n in counts.items():
            self.dead_selectors.labels(group, rule).set(n)

    def set_panels(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace every dashboard's series: (uid, result) -> its panels, 0 for a result none has."""
        self.grafana_panels.clear()
        for (uid, result), n in counts.items():
            self.grafana_panels.labels(uid, result).set(n)

    def set_states(self, states: Iterable[State]) -> None:
        """Set the gauge of every state at once, so a state no resource is in reads 0."""
        counts = Tally(states)
        for state in State:
            self.resources.labels(self.host, state.value).set(counts.get(state, 0))

    def set_resource(self, key: str, status: ResourceStatus) -> None:
        """Replace one resource's info and condition series; a condition no longer held is dropped.

        The series stay as they are when their labels are those shown already (only the values
        are set): a resync judges every resource, and making its series anew each time was most
        of a resync's CPU with 1,000 resources.
        """
        kind, _, name = key.partition("/")
        info: tuple[str, ...] = (self.host, kind, name, status.sync.value, status.health.value)
        conditions: list[tuple[str, ...]] = [
            (self.host, kind, name, c.type, t) for c in status.conditions for t in _TRUTHS
        ]
        values = [1 if c.status == truth else 0 for c in status.conditions for truth in _TRUTHS]
        shown = self._shown.get(key)
        if shown is not None and shown[0] == info and shown[1] == conditions:
            children = shown[2]
        else:
            self.forget_resource(key)
            self.resource_info.labels(*info).set(1)
            children = [self.resource_condition.labels(*labels) for labels in conditions]
            self._shown[key] = (info, conditions, children)
        for child, value in zip(children, values, strict=True):
            child.set(value)

    def forget_resource(self, key: str) -> None:
        """Drop every series of a resource that is neither desired nor running any more."""
        info, conditions, _ = self._shown.pop(key, ((), [], []))
        if info:
            self.resource_info.remove(*info)
        for labels in conditions:
            self.resource_condition.remove(*labels)


_TRUTHS = ("True", "False", "Unknown")  # the values of a condition's status label


class _QueueMetrics:
    """monop.controller.queue.QueueMetrics on the `monop_workqueue_*` series of one queue."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self._adds = metrics.queue_adds.labels(name)
        self._retries = metrics.queue_retries.labels(name)
        self._latency = metrics.queue_latency.labels(name)
        self._work = metrics.queue_work.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def waited(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def worked(self, seconds: float) -> None:
        self._work.observe(seconds)
