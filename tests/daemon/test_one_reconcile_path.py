"""`monop plan`, `monop apply` and the daemon's reconciler choose the same actions from one world.

One observed state (a container in a crash loop, one a person suspended, one missing) and one
set of holds (the daemon's state file, the suspend file): the plan `monop plan` prints, the
actions `monop apply` carries out, and what the daemon's `ResourceReconciler` plans and does
for each key agree. Real Podman, real `monop` processes, the daemon's parts in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monop.controller.workers import Result
from monop.daemon.daemon import Daemon
from monop.daemon.statestore import DaemonRecord, StateStore
from monop.desired.suspend import suspend
from monop.settings import Settings, load_settings
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman

ALPHA, BETA, GAMMA = "BusinessService/alpha", "BusinessService/beta", "BusinessService/gamma"
LINE = re.compile(r"\[\d+\] (\w+) (\S+?)(?: \(pull image first\))?(?: deferred: (\w+).*|: .*)$")


def monop(podman_service: PodmanService, state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONOP_PODMAN_URL": podman_service.url,
        "MONOP_STATE_DIR": str(state_dir),
        "MONOP_SD_DIR": str(state_dir / "file_sd"),
        "MONOP_RULES_DIR": str(state_dir / "rules"),
    }
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def parsed(plan_text: str) -> list[tuple[str, str, str | None]]:
    """(action, resource, why deferred) of each line of a printed plan."""
    found = []
    for line in plan_text.splitlines():
        match = LINE.match(line)
        assert match is not None, line
        found.append((match[1], match[2], match[3]))
    return found


def running(podman_service: PodmanService) -> dict[str, str]:
    return {c["Names"][0]: c["State"] for c in podman_service.containers()}


def test_plan_apply_and_the_daemon_choose_the_same_actions(
    tmp_path: Path, podman_service: PodmanService, podman: object
) -> None:
    desired, state_dir = tmp_path / "desired", tmp_path / "state"
    for i, name in enumerate(["alpha", "beta", "gamma"]):
        write_service(desired, name, 19270 + i)
    first = monop(podman_service, state_dir, "apply", "-d", str(desired))
    assert first.returncode == 0, first.stderr

    # The world: alpha stopped while in a crash loop (its next start 10 min away), beta stopped
    # and suspended by a person, gamma gone.
    podman_service.podman("stop", "--time", "0", "alpha", "beta")
    podman_service.podman("rm", "--force", "--time", "0", "gamma")
    now = time.time()
    loop = {ALPHA: {"restarts": [now - 30, now - 20, now - 10], "level": 6, "last": now - 10}}
    StateStore(state_dir).save(
        DaemonRecord(pid=1, started_at=now, updated_at=now, source="d", crash_loops=loop), {}
    )
    suspend(state_dir, BETA, now, "ops")

    expected = [
        ("create", GAMMA, None),
        ("start", ALPHA, "CrashLoopBackOff"),
        ("start", BETA, "Suspended"),
    ]
    # `monop plan`: what would be done, deferred actions included, and exit 1 for differences.
    shown = monop(podman_service, state_dir, "plan", "-d", str(desired))
    assert shown.returncode == 1, shown.stderr
    assert parsed(shown.stdout) == expected
    as_json = monop(podman_service, state_dir, "plan", "-d", str(desired), "-o", "json")
    assert [
        (a["action"], a["resource"], (a["deferred"] or {}).get("reason")) for a in json.loads(as_json.stdout)
    ] == expected

    settings = load_settings(
        {
            "desired": desired,
            "state_dir": state_dir,
            "podman_url": podman_service.url,
            "sd_dir": state_dir / "file_sd",
            "rules_dir": state_dir / "rules",
        }
    )

    async def daemon_plan() -> list[tuple[str, str, str | None]]:
        daemon = await started(settings)
        try:
            planned = daemon.reconciler.survey(await daemon.observe(daemon.clock.now()))
        finally:
            await shut(daemon)
        return [
            (a.kind.value, a.key, a.deferred.reason.value if a.deferred else None) for a in planned.actions
        ]

    assert asyncio.run(daemon_plan()) == expected

    # `monop apply` carries out exactly the actions not deferred, and says the rest is not in sync.
    applied = monop(podman_service, state_dir, "apply", "-d", str(desired), "--json")
    assert applied.returncode == 1, applied.stderr
    report = json.loads(applied.stdout)
    assert [(a["action"], a["resource"]) for a in report["actions"]] == [("create", GAMMA)]
    assert {r["name"]: r["state"] for r in report["resources"]} == {
        "alpha": "CrashLoopBackOff",
        "beta": "Stopped",
        "gamma": "InSync",
    }
    assert running(podman_service) == {"alpha": "exited", "beta": "exited", "gamma": "running"}

    # The daemon's reconciler, per key: alpha waits out its crash loop, beta waits for a person.
    async def daemon_reconciles() -> dict[str, Result]:
        daemon = await started(settings)
        try:
            return {key: await daemon.reconciler.reconcile(key) for key in (ALPHA, BETA, GAMMA)}
        finally:
            await shut(daemon)

    results = asyncio.run(daemon_reconciles())
    assert results[ALPHA].requeue_after is not None and 0 < results[ALPHA].requeue_after <= 300
    assert results[BETA] == Result()
    assert results[GAMMA] == Result()
    assert running(podman_service) == {"alpha": "exited", "beta": "exited", "gamma": "running"}
    record = json.loads((state_dir / "status.json").read_text())["resources"]
    assert (record[ALPHA]["state"], record[BETA]["state"]) == ("CrashLoopBackOff", "Stopped")


async def started(settings: Settings) -> Daemon:
    """The daemon's parts, in this process, with its state file read and the desired state loaded."""
    daemon = Daemon(settings)
    daemon.restore()
    daemon.reload_desired()
    assert daemon.source.refresh_task is not None
    await daemon.source.refresh_task
    return daemon


async def shut(daemon: Daemon) -> None:
    for task in daemon.background_tasks():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    daemon.queue.shutdown(drain=False)
    await daemon.health_checks.close()
    daemon.podman.close()
