"""Benchmark: a receiver change reaching Alertmanager, and a receiver test reaching its webhook.

Real Alertmanager (Debian's 0.25) and a real webhook on loopback; a real `monop run` daemon
(default settings: it watches the desired directory) with a desired state of alerting resources only.

- **save -> running**: from just before a receiver's file is saved (its webhook URL changed)
  to Alertmanager's `/api/v2/status` showing the new URL (polled every 5 ms). The reference,
  in the same run: the same change made by hand as a careful script would, the rendered
  file written, `amtool check-config`, `POST /-/reload`, polled the same way.
- **test -> webhook**: from starting `monop test receivers NAME` (a whole process) to the
  webhook having the test alert; the reference is the same alert POSTed straight to
  Alertmanager's API. The routing takes groupWait 0s, so Alertmanager sends at once.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/alerting.py [REPEATS].
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from monop.desired.amconfig import render
from monop.desired.loader import load
from monop_testbed.alertmanager_server import AlertmanagerServer, WebhookRecorder
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

AM_PORT, HOOK_PORT = 20140, 20141
DESIRED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec: {{receiver: team, groupBy: [alertname], groupWait: 0s, groupInterval: 1m}}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: team}}
spec:
  webhookConfigs: [{{url: "http://127.0.0.1:{port}/{path}"}}]
"""


def until(check: Callable[[], bool], timeout: float = 30.0) -> float:
    """time.time() at which `check` first held, polled every 5 ms."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("not within the deadline")
        time.sleep(0.005)
    return time.time()


def running(server: AlertmanagerServer, text: str) -> Callable[[], bool]:
    return lambda: text in server.running_config()


def by_hand(server: AlertmanagerServer, desired: Path, path: str) -> float:
    """The reference: write the rendered file, amtool, reload, verify; seconds."""
    (desired / "alerting.yaml").write_text(DESIRED.format(port=HOOK_PORT, path=path))
    text = render(load(desired).alerting, reveal=True)  # a script has its file already
    started = time.time()
    server.config.write_text(text)
    subprocess.run(["amtool", "check-config", str(server.config)], check=True, capture_output=True)
    httpx.post(f"{server.url}/-/reload", timeout=5).raise_for_status()
    return until(running(server, f"/{path}")) - started


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
        WebhookRecorder(port=HOOK_PORT) as hook,
        AlertmanagerServer(Path(tmp) / "am", Path(tmp) / "am" / "alertmanager.yml", port=AM_PORT) as server,
    ):
        desired = Path(tmp) / "desired"
        desired.mkdir()
        (desired / "alerting.yaml").write_text(DESIRED.format(port=HOOK_PORT, path="start"))
        env = {
            "MONOP_ALERTMANAGER_CONFIG": str(server.config),
            "MONOP_ALERTMANAGER_URL": server.url,
            "MONOP_ALERTMANAGER_LOG": str(server.base / "alertmanager.log"),
        }
        saves, hands = [], []
        with DaemonProcess(service.url, desired, Path(tmp) / "state", extra_env=env) as daemon:
            daemon.wait_ready()
            wait_for(running(server, "/start"), 60, "the first config running")
            for n in range(repeats):
                path = f"saved-{n}"
                started = time.time()
                (desired / "alerting.yaml").write_text(DESIRED.format(port=HOOK_PORT, path=path))
                saves.append(until(running(server, f"/{path}")) - started)
            assert daemon.stop() == 0
        for n in range(repeats):
            hands.append(by_hand(server, desired, f"hand-{n}"))

        (desired / "alerting.yaml").write_text(DESIRED.format(port=HOOK_PORT, path="hook"))
        server.config.write_text(render(load(desired).alerting, reveal=True))
        httpx.post(f"{server.url}/-/reload", timeout=5).raise_for_status()
        monop_env = {
            **os.environ,
            **env,
            "MONOP_DESIRED": str(desired),
            "MONOP_STATE_DIR": str(Path(tmp) / "state"),
        }
        tests, whole, posts = [], [], []
        for _ in range(repeats):
            seen = len(hook.alerts("/hook"))
            started = time.time()
            process = subprocess.Popen(
                [sys.executable, "-m", "monop", "test", "receivers", "team"],
                env=monop_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            tests.append(until(lambda: len(hook.alerts("/hook")) > seen) - started)  # noqa: B023
            assert process.wait(60) == 0
            whole.append(time.time() - started)
        for _ in range(repeats):
            seen = len(hook.alerts("/hook"))
            alert = {"labels": {"alertname": f"Bench-{uuid.uuid4().hex[:8]}"}}
            started = time.time()
            httpx.post(f"{server.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
            posts.append(until(lambda: len(hook.alerts("/hook")) > seen) - started)  # noqa: B023
        service.remove_all_containers()

    def row(name: str, seconds: list[float]) -> str:
        return f"| {name} | {statistics.median(seconds):.3f} | {max(seconds):.3f} |"

    print(f"| {repeats} repeats each | median (s) | worst (s) |")
    print("|---|---|---|")
    print(row("receiver saved -> Alertmanager runs it (`monop run`)", saves))
    print(row("reference: write, amtool check-config, POST /-/reload, verify", hands))
    print(row("`monop test receivers team` started -> webhook has the alert", tests))
    print(row("`monop test receivers team`, the whole process (verdict, alert resolved)", whole))
    print(row("reference: the alert POSTed to /api/v2/alerts -> webhook has it", posts))


if __name__ == "__main__":
    main()
