"""`monop test receivers` as a person runs it: a real process, a real Alertmanager 0.25, a real webhook.

Ports: Alertmanager 20130, webhook 20131, a closed port 20189.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop.desired.loader import load
from monop.prometheus import alertmanager as am
from monop_testbed.alertmanager_server import AlertmanagerServer, WebhookRecorder
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.prometheus

DESIRED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec: {{receiver: live, groupBy: [alertname], groupWait: 1s, groupInterval: 10s}}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: down}}
spec:
  matchers: [{{name: severity, value: page}}]
  webhookConfigs: [{{url: "http://127.0.0.1:20189/nobody"}}]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: live}}
spec:
  webhookConfigs: [{{url: "{hook}/live"}}]
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[dict[str, str], WebhookRecorder]]:
    with (
        WebhookRecorder(port=20131) as hook,
        AlertmanagerServer(tmp_path / "am", config=tmp_path / "alertmanager.yml", port=20130) as server,
    ):
        desired = tmp_path / "desired"
        desired.mkdir()
        (desired / "alerting.yaml").write_text(DESIRED.format(hook=hook.url))

        async def sync() -> am.SyncResult:
            async with am.connect(server.url) as api:
                return await am.sync(load(desired).alerting, server.config, api)

        assert asyncio.run(sync()).written
        env = {
            **os.environ,
            "MONOP_DESIRED": str(desired),
            "MONOP_STATE_DIR": str(tmp_path / "state"),
            "MONOP_ALERTMANAGER_URL": server.url,
            "MONOP_ALERTMANAGER_CONFIG": str(server.config),
            "MONOP_ALERTMANAGER_LOG": str(server.base / "alertmanager.log"),
        }
        yield env, hook


def monop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_one_line_per_receiver_and_exit_1_when_one_was_not_delivered(
    stack: tuple[dict[str, str], WebhookRecorder],
) -> None:
    env, hook = stack
    done = monop(env, "test", "receivers")
    assert done.returncode == 1, done
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith("down: failed: webhook[0]: Post") and "127.0.0.1:20189" in lines[0]
    assert lines[1] == "live: delivered: webhook notified"
    assert len(hook.alerts("/live")) == 1

    kept = json.loads((Path(env["MONOP_STATE_DIR"]) / "receiver-tests.json").read_text())
    assert {name: r["outcome"] for name, r in kept.items()} == {"down": "failed", "live": "delivered"}


def test_json_and_a_named_receiver_that_got_its_test_exit_0(
    stack: tuple[dict[str, str], WebhookRecorder],
) -> None:
    env, hook = stack
    done = monop(env, "test", "receivers", "live", "-o", "json")
    assert done.returncode == 0, done
    [result] = json.loads(done.stdout)["receivers"]
    assert result["receiver"] == "live" and result["outcome"] == "delivered" and result["evidence"]
    assert [a["labels"]["monop_test"] for a in hook.alerts("/live")] == [result["labels"]["monop_test"]]


def test_an_unknown_receiver_is_a_usage_error(stack: tuple[dict[str, str], WebhookRecorder]) -> None:
    env, _ = stack
    done = monop(env, "test", "receivers", "nobody")
    assert done.returncode == 2
    assert "no AlertReceiver named nobody; the receivers are down, live" in done.stderr


def test_status_shows_the_running_config_each_receiver_and_its_last_test(
    stack: tuple[dict[str, str], WebhookRecorder], podman_service: PodmanService
) -> None:
    env, _ = stack
    env = {**env, "MONOP_PODMAN_URL": podman_service.url}
    assert monop(env, "test", "receivers").returncode == 1

    done = monop(env, "status", "-o", "json")
    assert done.returncode == 0, done  # a failed delivery test is news, not drift
    found = json.loads(done.stdout)["alertmanager"]
    assert found["state"] == "Loaded" and found["error"] is None
    assert found["hash"] == found["runningHash"] and len(found["hash"]) == 12  # Alertmanager runs this file
    by_name = {r["name"]: r for r in found["receivers"]}
    assert by_name["down"]["integrations"] == ["webhook"] and by_name["down"]["routed"]
    assert by_name["down"]["lastTest"]["outcome"] == "failed"
    assert "127.0.0.1:20189" in by_name["down"]["lastTest"]["detail"]
    assert by_name["live"]["lastTest"]["outcome"] == "delivered"

    text = monop(env, "status").stdout
    assert (
        f"alertmanager {env['MONOP_ALERTMANAGER_CONFIG']} Loaded (file {found['hash']}, runs {found['hash']})"
        in text
    )
    assert "  receiver down (webhook): routed; last test failed: webhook[0]: Post" in text
    assert "  receiver live (webhook): routed; last test delivered" in text


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--timeout", "-3"], "--timeout -3: give a number of seconds above 0"),
        (["-o", "name"], "-o name: test receivers prints its lines, -o json or -o yaml"),
        (["-o", "wide"], "-o wide: test receivers prints its lines"),
    ],
)
def test_options_it_cannot_honour_are_usage_errors(tmp_path: Path, args: list[str], said: str) -> None:
    env = {**os.environ, "MONOP_DESIRED": str(tmp_path), "MONOP_ALERTMANAGER_URL": "http://127.0.0.1:20179"}
    done = monop(env, "test", "receivers", *args)
    assert done.returncode == 2, done
    assert said in done.stderr and not done.stdout


def test_ctrl_c_keeps_the_verdicts_told_and_exits_130(stack: tuple[dict[str, str], WebhookRecorder]) -> None:
    env, _ = stack
    process = subprocess.Popen(
        [sys.executable, "-m", "monop", "test", "receivers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # down's verdict; live's test is under way
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)

    assert first.startswith("down: failed"), first
    assert process.returncode == 130, err
    assert "interrupted after 1 receiver(s); their test alerts were resolved" in err
    kept = json.loads((Path(env["MONOP_STATE_DIR"]) / "receiver-tests.json").read_text())
    assert {name: r["outcome"] for name, r in kept.items()} == {"down": "failed"}
    alerts = httpx.get(f"{env['MONOP_ALERTMANAGER_URL']}/api/v2/alerts", params={"active": "true"}, timeout=5)
    assert not [a for a in alerts.json() if "monop_test" in a["labels"]]  # live's was resolved


def test_a_receiver_without_integrations_fails_no_run_of_all(
    stack: tuple[dict[str, str], WebhookRecorder],
) -> None:
    env, hook = stack
    desired = Path(env["MONOP_DESIRED"])
    text = (desired / "alerting.yaml").read_text()
    down = text.index("---\napiVersion: monop.dev/v1alpha1\nkind: AlertReceiver\nmetadata: {name: down}")
    live = text.index("---", down + 3)
    drop = "---\napiVersion: monop.dev/v1alpha1\nkind: AlertReceiver\nmetadata: {name: drop}\n"
    drop += "spec: {matchers: [{name: severity, value: info}]}\n"
    (desired / "alerting.yaml").write_text(text[:down] + drop + text[live:])

    async def sync() -> am.SyncResult:
        async with am.connect(env["MONOP_ALERTMANAGER_URL"]) as api:
            return await am.sync(load(desired).alerting, Path(env["MONOP_ALERTMANAGER_CONFIG"]), api)

    assert asyncio.run(sync()).written
    done = monop(env, "test", "receivers")
    assert done.returncode == 0, done
    assert done.stdout.splitlines() == [
        "drop: no integrations: it has no webhook, email or slack config: alerts stop here",
        "live: delivered: webhook notified",
    ]
    assert len(hook.alerts("/live")) == 1
    assert monop(env, "test", "receivers", "drop").returncode == 1  # named, it got no test
