"""Health evaluation, pure: probe failure counting, Podman's states, `starting` for too long, the planner's answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monop.api.resources import KINDS
from monop.daemon.healthrun import podman_runs_timers
from monop.reconcile.health import (
    Health,
    HttpProbe,
    Knowledge,
    Verdict,
    deadline,
    from_records,
    next_verdict,
    probe_of,
    started,
)
from monop.reconcile.plan import Unit, plan
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig, Healthcheck
from monop.runtime.observed import LiveContainer, ObservedState
from monop.secrets import collect

T0 = 1_800_000_000.0  # the container's start, epoch seconds
HC = Healthcheck(("CMD-SHELL", "exit 1"), interval_s=1.0, timeout_s=2.0, retries=3, start_period_s=5.0)


def container(
    health: str | None = "starting", *, cid: str = "c1", at: float = T0, state: str = "running"
) -> LiveContainer:
    return LiveContainer(
        cid,
        "web",
        state,
        health=health,
        labels={ownership.MANAGED_BY: ownership.MANAGER},
        started_at=datetime.fromtimestamp(at, UTC),
    )


# -- probes: consecutive failures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "retries", "health", "failures"),
    [
        ([True], 3, Health.HEALTHY, 0),
        ([False], 3, Health.STARTING, 1),
        ([False, False], 3, Health.STARTING, 2),
        ([False, False, False], 3, Health.UNHEALTHY, 3),
        ([False], 1, Health.UNHEALTHY, 1),
        ([True, False, False], 3, Health.HEALTHY, 2),  # below retries, healthy stays healthy
        ([False, False, True], 3, Health.HEALTHY, 0),  # one success resets the count
        ([False, False, True, False, False], 3, Health.HEALTHY, 2),  # failures must be in a row
        ([False, False, False, True], 3, Health.HEALTHY, 0),  # and recovery is immediate
        ([False, False, False, False], 3, Health.UNHEALTHY, 4),
    ],
)
def test_probe_failures_in_a_row_make_it_unhealthy(
    results: list[bool], retries: int, health: Health, failures: int
) -> None:
    verdict = None
    for i, ok in enumerate(results):
        verdict = next_verdict(verdict, container(), ok, "GET x: HTTP 404 Not Found", retries, T0 + i)
    assert verdict is not None and (verdict.health, verdict.failures) == (health, failures)
    if health is Health.UNHEALTHY:
        assert (
            verdict.detail == f"GET x: HTTP 404 Not Found ({failures} failure(s) in a row, retries {retries})"
        )


def test_a_restart_starts_the_count_over() -> None:
    before = next_verdict(None, container(), False, "refused", 2, T0)
    after = next_verdict(before, container(at=T0 + 60), False, "refused", 2, T0 + 61)  # same ID, new start
    assert (after.health, after.failures) == (Health.STARTING, 1)


# -- the container's healthcheck, as Podman keeps it, and the time -----------------------------


def test_the_deadline_is_start_period_plus_interval_times_retries_plus_timeout() -> None:
    assert deadline(HC) == 5 + 1 * 3 + 2


@pytest.mark.parametrize(
    ("health", "seconds_after_start", "expected"),
    [
        ("starting", 1.0, Health.STARTING),
        ("starting", 10.0, Health.STARTING),  # exactly at the deadline: not yet
        ("starting", 10.5, Health.STALLED),
        ("starting", 3600.0, Health.STALLED),
        ("healthy", 3600.0, Health.HEALTHY),
        ("unhealthy", 1.0, Health.UNHEALTHY),
    ],
)
def test_podmans_state_and_the_time_decide(health: str, seconds_after_start: float, expected: Health) -> None:
    verdict = Knowledge(T0 + seconds_after_start).judge("BusinessService/web", HC, container(health))
    assert verdict is not None and verdict.health is expected


@pytest.mark.parametrize(
    ("hc", "live"),
    [
        (None, container(None)),  # nothing declared
        (Healthcheck(("NONE",)), container(None)),  # declared off
        (HC, container("starting", state="exited")),  # not running: the planner starts it
    ],
)
def test_nothing_to_judge(hc: Healthcheck | None, live: LiveContainer) -> None:
    assert Knowledge(T0 + 3600).judge("k", hc, live) is None


def test_an_unhealthy_container_shows_the_output_of_monops_last_run_of_its_check() -> None:
    mine = Verdict(
        "c1", T0, Health.UNHEALTHY, "check `exit 1` failed (exit code 1); 3 in a row, retries 3", 3
    )
    stale = Verdict("c0", T0, Health.UNHEALTHY, "an older container's output", 3)
    assert Knowledge(T0 + 5, {"k": mine}).judge("k", HC, container("unhealthy")) == mine
    # Another container's (or another start's) output is not this one's.
    shown = Knowledge(T0 + 5, {"k": stale}).judge("k", HC, container("unhealthy"))
    assert shown is not None and shown.detail == "Podman reports it unhealthy"


def test_a_failing_probe_makes_a_healthy_container_unhealthy() -> None:
    probe = Verdict("c1", T0, Health.UNHEALTHY, "GET http://127.0.0.1:8080/: HTTP 404 Not Found", 3)
    verdict = Knowledge(T0 + 5, probes={"k": probe}).judge("k", HC, container("healthy"))
    assert verdict == probe
    old = Verdict("c1", T0 - 100, Health.UNHEALTHY, "before the restart", 3)
    assert Knowledge(T0 + 5, probes={"k": old}).judge("k", None, container(None)) is None


def test_verdicts_survive_the_state_file() -> None:
    verdict = Verdict("c1", T0, Health.UNHEALTHY, "GET x: HTTP 404", 2, T0 + 4)
    known = from_records(
        {"k": {"probe": verdict.to_json()}, "other": None, "bad": {"check": {"x": 1}}}, T0 + 9
    )
    assert known.probes == {"k": verdict} and known.checks == {} and known.now == T0 + 9


# -- the planner's answer ----------------------------------------------------------------------


def unit(hc: Healthcheck | None = HC) -> Unit:
    config = ContainerConfig(name="web", image="img", healthcheck=hc)
    return Unit("BusinessService/web", "BusinessService", config, "hash", {})


def live(health: str | None) -> ObservedState:
    c = container(health)
    labels = {**c.labels, ownership.SPEC_HASH: "hash"}
    return ObservedState(
        (LiveContainer(c.id, c.name, c.state, health=health, labels=labels, started_at=c.started_at),)
    )


@pytest.mark.parametrize(
    ("health", "now", "state", "action", "reason"),
    [
        ("healthy", T0 + 60, State.IN_SYNC, None, None),
        ("starting", T0 + 2, State.IN_SYNC, None, None),
        (
            "starting",
            T0 + 60,
            State.UNHEALTHY,
            None,  # a restart cannot make checks run
            "health: still starting after 1m, past 10s (start period 5s + interval 1s x retries 3 + "
            "timeout 2s): no check has run (health_checks setting: auto or monop runs them)",
        ),
        (
            "unhealthy",
            T0 + 60,
            State.UNHEALTHY,
            ActionKind.RESTART,
            "health: unhealthy: Podman reports it unhealthy",
        ),
    ],
)
def test_the_plan_restarts_the_unhealthy_and_reports_the_stalled(
    health: str, now: float, state: State, action: ActionKind | None, reason: str | None
) -> None:
    result = plan([unit()], live(health), health=Knowledge(now))
    [status] = result.statuses
    assert status.state is state
    assert [a.kind for a in result.actions] == ([action] if action else [])
    assert [str(r) for r in status.reasons] == ([reason] if reason else [])


# -- where the probe goes, and who runs container checks ----------------------------------------


def business(ports: list[object], network: str = "bridge", path: str = "/healthz") -> object:
    doc = {
        "apiVersion": "monop.dev/v1alpha1",
        "kind": "BusinessService",
        "metadata": {"name": "web"},
        "spec": {
            "image": "img",
            "network": network,
            "ports": ports,
            "probe": {"path": path, "port": 8080, "interval": "2s", "timeout": "1s", "retries": 2},
        },
    }
    return KINDS["BusinessService"].model_validate(doc)


@pytest.mark.parametrize(
    ("ports", "network", "url"),
    [
        (["8080:80"], "bridge", "http://127.0.0.1:8080/healthz"),
        (["0.0.0.0:8080:80"], "bridge", "http://127.0.0.1:8080/healthz"),
        (["10.1.2.3:8080:80"], "bridge", "http://10.1.2.3:8080/healthz"),
        (["[::]:8080:80"], "bridge", "http://[::1]:8080/healthz"),
        (["8080"], "host", "http://127.0.0.1:8080/healthz"),
        ([], "bridge", "http://127.0.0.1:8080/healthz"),  # not published: refused, and said so
    ],
)
def test_the_probe_goes_where_the_port_is_published(ports: list[object], network: str, url: str) -> None:
    assert probe_of(business(ports, network)) == HttpProbe(url, 2.0, 1.0, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "dirs", "runs"),
    [
        ("unix:///run/podman/podman.sock", [], False),
        ("unix:///run/podman/podman.sock", ["run/systemd/system"], True),
        ("unix:///run/user/1000/podman/podman.sock", ["run/systemd/system"], False),
        ("unix:///run/user/1000/podman/podman.sock", ["run/systemd/system", "run/user/1000/systemd"], True),
        ("tcp://10.0.0.5:8888", [], True),
    ],
)
def test_podmans_timers_run_where_systemd_does(tmp_path: Path, url: str, dirs: list[str], runs: bool) -> None:
    for d in dirs:
        (tmp_path / d).mkdir(parents=True)
    timers, why = podman_runs_timers(url, tmp_path)
    assert timers is runs and why


def test_started_is_epoch_seconds() -> None:
    assert started(container(at=T0)) == T0


def test_podmans_record_of_the_last_check_is_shown_with_secrets_masked() -> None:
    live = LiveContainer(
        "c1",
        "web",
        "running",
        health="unhealthy",
        health_output="exit code 7: curl: token s3cret-value refused",
        started_at=datetime.fromtimestamp(T0, UTC),
    )
    secrets = collect((("API_TOKEN", "s3cret-value"), ("PORT", "8080"), ("DB_PASSWORD", "")))
    verdict = Knowledge(T0 + 5).judge("k", HC, live, secrets)
    assert verdict is not None
    assert verdict.detail == "check `exit 1` failed (exit code 7: curl: token <secret> refused)"
