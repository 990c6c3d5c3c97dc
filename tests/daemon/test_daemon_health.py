"""A declared health check is evaluated: `monop run` against a real Podman on a host without systemd timers.

This machine has no systemd as PID 1, so Podman never runs a healthcheck by itself; with
`health_checks: auto` the daemon runs them, and BusinessService probes, and restarts what
fails under the same crash-loop rules as a stopped container.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19460  # 19460-19469: this file's host ports


def service(name: str, port: int, extra: str, env: str = "") -> str:
    return f"""\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: {name}
spec:
  image: {images.METRICS}
  env: {{PORT: "{port}"{env}}}
  ports: ["127.0.0.1:{port}:{port}"]
{extra}"""


def write(tmp_path: Path, name: str, port: int, extra: str, env: str = "") -> Path:
    tree = tmp_path / "desired"
    tree.mkdir(exist_ok=True)
    (tree / f"{name}.yaml").write_text(service(name, port, extra, env))
    return tree


@pytest.fixture
def start_daemon(tmp_path: Path, podman_service: PodmanService, podman: object) -> Iterator[Any]:
    made: list[DaemonProcess] = []

    def start(tree: Path, **env: str) -> DaemonProcess:
        process = DaemonProcess(podman_service.url, tree, tmp_path / "state", extra_env=env)
        process.start().wait_ready()
        made.append(process)
        return process

    yield start
    for process in made:
        if process.alive:
            process.stop()


def resource(shown: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in shown["resources"] if r["name"] == name)


def reasons(row: dict[str, Any]) -> str:
    return "; ".join(f"{r['field']}: {r['new']}" if r["new"] else r["field"] for r in row["reasons"])


def test_a_failing_healthcheck_is_run_found_unhealthy_and_restarted_with_backoff(
    start_daemon: Any, tmp_path: Path
) -> None:
    # The check prints a secret: what monop shows and keeps must not.
    check = '  healthcheck: {test: "echo token=$API_TOKEN; exit 1", interval: 1s, timeout: 1s, retries: 1}\n'
    tree = write(tmp_path, "sick", PORT, check, env=', API_TOKEN: "hunter2-s3cret"')
    daemon = start_daemon(tree)
    assert daemon.events("daemon_started")[0]["health_checks"] == "monop"  # no systemd here
    daemon.wait_event("health_check_failed", resource="BusinessService/sick", timeout=30)
    # Three restarts within 5 minutes, and the fourth waits: CrashLoopBackOff, as for a container that dies.
    held = daemon.wait_event("crash_loop_backoff", resource="BusinessService/sick", timeout=60)
    assert held["restart_in"] >= 5
    restarts = daemon.events("container_restarted", resource="BusinessService/sick")
    assert len(restarts) == 3
    assert (
        "check `echo token=$API_TOKEN; exit 1` failed (exit code 1: token=<secret>)" in restarts[0]["reason"]
    )
    fails = lambda: daemon.metric("monop_health_checks_total", kind="check", result="fail") or 0  # noqa: E731
    wait_for(lambda: fails() >= 3, 10, "three failed checks counted")
    code, shown = daemon.status()
    row = resource(shown, "sick")
    assert (
        code == 1 and row["state"] in ("Unhealthy", "CrashLoopBackOff") and row["daemon"]["restartCount"] == 3
    )

    # Without the daemon, status still knows: Podman keeps the container unhealthy, the record has the output.
    assert daemon.stop() == 0
    code, shown = daemon.status()
    row = resource(shown, "sick")
    assert code == 1 and row["state"] == "Unhealthy" and not shown["daemon"]["running"]
    assert "check `echo token=$API_TOKEN; exit 1` failed (exit code 1: token=<secret>)" in reasons(row)
    assert row["health"]["health"] == "unhealthy"
    for told in (json.dumps(shown), (daemon.state_dir / "status.json").read_text(), json.dumps(daemon.logs)):
        assert "hunter2" not in told


@pytest.mark.parametrize(
    ("probe", "said"),
    [
        (f"{{path: /nope, port: {PORT + 1}}}", "HTTP 404 Not Found"),
        (f"{{path: /metrics, port: {PORT + 9}}}", "connection refused (nothing listens there)"),
    ],
    ids=["404", "no-listener"],
)
def test_a_failing_probe_makes_it_unhealthy_and_restarted(
    start_daemon: Any, tmp_path: Path, probe: str, said: str
) -> None:
    extra = "  probe: " + probe.replace("}", ", interval: 1s, timeout: 1s, retries: 2}") + "\n"
    daemon = start_daemon(write(tmp_path, "web", PORT + 1, extra))
    failed = daemon.wait_event("health_check_failed", resource="BusinessService/web", timeout=30)
    assert said in failed["detail"] and "2 failure(s) in a row, retries 2" in failed["detail"]
    daemon.wait_event("crash_loop_backoff", resource="BusinessService/web", timeout=60)
    restarts = daemon.events("container_restarted", resource="BusinessService/web")
    assert len(restarts) == 3 and said in restarts[0]["reason"]
    code, shown = daemon.status()
    row = resource(shown, "web")
    assert code == 1 and row["daemon"]["restartCount"] == 3 and said in reasons(row)

    # The daemon stopped during the backoff: status alone shows the probe's last verdict of this run.
    assert daemon.stop() == 0
    code, shown = daemon.status()
    row = resource(shown, "web")
    assert code == 1 and row["state"] == "Unhealthy" and said in reasons(row)
    assert row["health"]["detail"].startswith("GET http://127.0.0.1:")


def test_passing_checks_and_probes_stay_in_sync(start_daemon: Any, tmp_path: Path) -> None:
    extra = (
        '  healthcheck: {test: "true", interval: 1s, timeout: 1s, retries: 1}\n'
        f"  probe: {{path: /metrics, port: {PORT + 2}, interval: 1s, timeout: 1s, retries: 1}}\n"
    )
    daemon = start_daemon(write(tmp_path, "fine", PORT + 2, extra))

    def passes(kind: str) -> float:
        return daemon.metric("monop_health_checks_total", kind=kind, result="pass") or 0

    wait_for(lambda: passes("check") >= 3 and passes("probe") >= 3, 30, "three passing checks and probes")
    code, shown = daemon.status()
    row = resource(shown, "fine")
    assert code == 0 and row["state"] == "InSync" and row["container"]["health"] == "healthy"
    assert row["daemon"]["restartCount"] == 0 and not daemon.events("container_restarted")
    assert daemon.metric("monop_health_checks_total", kind="probe", result="fail") == 0
    assert daemon.metric("monop_health_checks_total", kind="check", result="error") == 0


def test_left_to_podman_a_check_that_never_runs_is_reported_not_restarted(
    start_daemon: Any, tmp_path: Path
) -> None:
    """`health_checks: podman` trusts timers this host does not have: the stall is seen, and said."""
    tree = write(
        tmp_path,
        "trusting",
        PORT + 4,
        '  healthcheck: {test: "exit 1", interval: 1s, timeout: 1s, retries: 1}\n',
    )
    daemon = start_daemon(tree, MONOP_HEALTH_CHECKS="podman")
    assert daemon.events("daemon_started")[0]["health_checks"] == "podman"

    def stalled() -> bool:
        code, shown = daemon.status()
        return code == 1 and resource(shown, "trusting")["state"] == "Unhealthy"

    wait_for(stalled, 30, "the stalled check to be reported")
    _, shown = daemon.status()
    row = resource(shown, "trusting")
    assert "no check has run" in reasons(row) and row["container"]["health"] == "starting"
    assert daemon.metric("monop_health_checks_total", kind="check", result="fail") == 0
    assert not daemon.events("container_restarted")
    # The daemon looked again at the deadline by itself (resync is 30 s): its record says Unhealthy.
    wait_for(lambda: daemon.metric("monop_resources", state="Unhealthy") == 1, 10, "the daemon to count it")


class Cli:
    """`monop` commands with no daemon anywhere, on the test's Podman and state directory."""

    def __init__(self, tmp_path: Path, podman_service: PodmanService, tree: Path) -> None:
        self.tree = tree
        self.env = {
            **os.environ,
            "MONOP_PODMAN_URL": podman_service.url,
            "MONOP_STATE_DIR": str(tmp_path / "state"),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monop", *args, "-d", str(self.tree)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def test_status_without_any_daemon_shows_what_podman_knows_of_a_failed_check(
    tmp_path: Path, podman_service: PodmanService, podman: object
) -> None:
    check = '  healthcheck: {test: "echo disk full; exit 1", interval: 1m, timeout: 5s, retries: 1}\n'
    monop = Cli(tmp_path, podman_service, write(tmp_path, "told", PORT + 5, check))
    assert monop("apply").returncode == 0
    podman_service.podman("healthcheck", "run", "told", check=False)  # as Podman's own timer would
    done = monop("status", "--json")
    row = resource(json.loads(done.stdout), "told")
    assert done.returncode == 1 and row["state"] == "Unhealthy" and row["container"]["health"] == "unhealthy"
    assert "check `echo disk full; exit 1` failed (exit code 1: disk full)" in reasons(row)


def test_status_without_any_daemon_says_a_check_nobody_runs_is_not_in_sync(
    tmp_path: Path, podman_service: PodmanService, podman: object
) -> None:
    """The issue's input, applied once: Podman never runs the check here, so it stays `starting`."""
    tree = write(
        tmp_path, "idle", PORT + 3, '  healthcheck: {test: "exit 1", interval: 1s, timeout: 1s, retries: 1}\n'
    )
    # The same check with an hour's start period: `starting` is all it can be yet.
    patient = '  healthcheck: {test: "exit 1", interval: 1s, timeout: 1s, retries: 1, startPeriod: 1h}\n'
    write(tmp_path, "patient", PORT + 6, patient)
    monop = Cli(tmp_path, podman_service, tree)
    applied = monop("apply")
    assert applied.returncode == 0, applied.stderr

    def status() -> subprocess.CompletedProcess[str]:
        return monop("status", "--json")

    wait_for(lambda: status().returncode == 1, 30, "status to judge the stalled check")
    shown = json.loads(status().stdout)
    row = resource(shown, "idle")
    assert row["state"] == "Unhealthy" and row["container"]["health"] == "starting"
    assert "no check has run" in reasons(row)
    row = resource(shown, "patient")
    assert row["state"] == "InSync" and row["container"]["health"] == "starting"
