"""The health runner on a fake clock: checks at their interval, errors logged and survived, tasks cleaned up.

Podman here is a stand-in that answers from a script, because the fault this tests (the API
call raising) cannot be made to happen on demand with the real one; the real Podman runs the
same runner in tests/daemon/test_daemon_health.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from tests.controller.aio import run_clean

from monop import log
from monop.controller.clock import FakeClock, settle
from monop.daemon.healthrun import HealthRunner
from monop.daemon.metrics import Metrics
from monop.reconcile.health import Health, Mode
from monop.reconcile.plan import Unit
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig, Healthcheck
from monop.runtime.observed import LiveContainer, ObservedState
from monop.runtime.podman import HealthState

HC = Healthcheck(("CMD-SHELL", "exit 1"), interval_s=5.0, timeout_s=1.0, retries=1)


class ScriptedPodman:
    """Answers `run_healthcheck` from a list: a string is the check's result, an exception is raised."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)

    async def run_healthcheck(self, name: str) -> str:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def health_state(self, name: str) -> HealthState:
        return HealthState("unhealthy", 1, 1, "")


def observed(cid: str = "c1", started: float = 1_700_000_000.0) -> ObservedState:
    labels = {ownership.MANAGED_BY: ownership.MANAGER}
    container = LiveContainer(
        cid,
        "web",
        "running",
        health="starting",
        labels=labels,
        started_at=datetime.fromtimestamp(started, UTC),
    )
    return ObservedState((container,))


UNIT = Unit("BusinessService/web", "BusinessService", ContainerConfig("web", "img", healthcheck=HC), "h", {})


def test_a_check_that_raises_is_logged_counted_and_the_next_one_still_runs() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        changed: list[str] = []
        metrics = Metrics(CollectorRegistry())
        podman = ScriptedPodman(RuntimeError("socket closed"), "unhealthy", "healthy")
        log.get()  # configured first, so that capture_logs() is what stays in force
        with capture_logs() as logs:
            runner = HealthRunner(podman, clock, changed.append, mode=Mode.MONOP, metrics=metrics)
            runner.follow([UNIT], observed())
            await settle()
            await clock.advance(5)
            assert [e["event"] for e in logs if e["log_level"] == "error"] == ["health_check_errored"]
            assert metrics.health_checks.labels("check", "error")._value.get() == 1
            await clock.advance(5)
            assert runner.checks["BusinessService/web"].health is Health.UNHEALTHY
            await clock.advance(5)
            assert runner.checks["BusinessService/web"].health is Health.HEALTHY
            await runner.close()
        assert changed == ["BusinessService/web", "BusinessService/web"]  # unhealthy, then healthy
        assert metrics.health_checks.labels("check", "fail")._value.get() == 1
        assert metrics.health_checks.labels("check", "pass")._value.get() == 1

    run_clean(scenario)


def test_a_new_run_of_the_container_gets_a_new_check_and_the_old_one_stops() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runner = HealthRunner(
            ScriptedPodman("unhealthy", "healthy"), clock, lambda key: None, mode=Mode.MONOP
        )
        runner.follow([UNIT], observed())
        await settle()
        await clock.advance(5)
        assert runner.checks["BusinessService/web"].health is Health.UNHEALTHY
        runner.follow([UNIT], observed(started=1_700_000_100.0))  # restarted: same ID, new start
        await settle()
        await clock.advance(2)  # the old task would have checked by now; the new one has not
        await clock.advance(3)
        verdict = runner.checks["BusinessService/web"]
        assert verdict.health is Health.HEALTHY and verdict.started_at == 1_700_000_100.0
        runner.follow([], ObservedState())  # no longer desired: its checks stop, its verdicts go
        assert runner.checks == {}
        await runner.close()

    run_clean(scenario)


def test_left_to_podman_the_daemon_is_woken_when_a_verdict_is_overdue() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_offset=1_700_000_000.0 - 1000.0)  # wall time = the container's start
        woken: list[str] = []
        runner = HealthRunner(ScriptedPodman(), clock, woken.append, mode=Mode.PODMAN)
        assert not runner.runs_checks
        runner.follow([UNIT], observed())
        await settle()
        await clock.advance(6)  # deadline: 0 + 5 x 1 + 1 = 6 s, and half a second more
        assert woken == []
        await clock.advance(1)
        assert woken == ["BusinessService/web"] and runner.checks == {}
        await runner.close()

    run_clean(scenario)
