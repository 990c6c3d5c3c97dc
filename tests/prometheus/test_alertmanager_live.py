"""alertmanager.yml against a real Alertmanager 0.25 (Debian's) and a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.desired.amconfig import render
from monop.desired.loader import load
from monop.desired.state import LoadedResource
from monop.prometheus import alertmanager as am
from monop.prometheus.alertmanager import AlertmanagerAPI, ConfigState
from monop.prometheus.receivertest import Outcome, ReceiverTest, run_receiver_tests
from monop_testbed.alertmanager_server import AlertmanagerServer, WebhookRecorder
from monop_testbed.podman_service import wait_for
from monop_testbed.prometheus_server import free_port

pytestmark = pytest.mark.prometheus

ROUTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec:
  receiver: {default}
  groupBy: [alertname]
  groupWait: 1s
  groupInterval: 1s
  repeatInterval: 1h
{extra}"""

RECEIVER = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: {name}}}
spec:
  matchers: [{{name: severity, value: {severity}}}]
  webhookConfigs:
    - url: {url}
"""


def write(desired: Path, default: str, receivers: dict[str, tuple[str, str]], extra: str = "") -> None:
    """`receivers`: name -> (severity it takes, webhook URL); a severity `=~X` is a regex matcher."""
    desired.mkdir(exist_ok=True)
    text = ROUTING.format(default=default, extra=extra)
    for name, (severity, url) in receivers.items():
        text += RECEIVER.format(name=name, severity=severity, url=url)
        if severity.startswith("=~"):
            text = text.replace(f"value: {severity}}}", f'value: "{severity[2:]}", matchType: "=~"}}')
    (desired / "alerting.yaml").write_text(text)


def alerting(desired: Path) -> tuple[LoadedResource, ...]:
    return load(desired).alerting


def sync(desired: Path, path: Path, url: str) -> am.SyncResult:
    async def go() -> am.SyncResult:
        api = AlertmanagerAPI(url)
        try:
            return await am.sync(alerting(desired), path, api)
        finally:
            await api.close()

    return asyncio.run(go())


def status(desired: Path, path: Path, url: str, rejected: str | None = None) -> am.ConfigStatus:
    async def go() -> am.ConfigStatus:
        api = AlertmanagerAPI(url)
        try:
            return await am.status(alerting(desired), path, api, rejected)
        finally:
            await api.close()

    return asyncio.run(go())


def receiver_tests(desired: Path, url: str, *names: str, timeout: float = 30) -> list[ReceiverTest]:
    async def go() -> list[ReceiverTest]:
        api = AlertmanagerAPI(url)
        try:
            return await run_receiver_tests(alerting(desired), api, names, timeout=timeout)
        finally:
            await api.close()

    return asyncio.run(go())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(tmp_path / "alertmanager", config=tmp_path / "alertmanager.yml") as alertmanager:
        yield alertmanager


@pytest.fixture
def hook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as recorder:
        yield recorder


def test_a_changed_receiver_is_reloaded_and_verified_as_running(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/one")})
    result = sync(desired, server.config, server.url)
    assert result.written and result.rejected is None, result
    assert status(desired, server.config, server.url).state is ConfigState.LOADED
    assert f"{hook.url}/one" in server.running_config()

    write(desired, "ops", {"ops": ("critical", f"{hook.url}/two")})
    # Before the sync the file is the old one: the status says so.
    assert status(desired, server.config, server.url).state is ConfigState.NOT_WRITTEN
    assert sync(desired, server.config, server.url).written
    assert status(desired, server.config, server.url).state is ConfigState.LOADED
    running = server.running_config()
    assert f"{hook.url}/two" in running and f"{hook.url}/one" not in running
    assert not sync(desired, server.config, server.url).written  # unchanged: nothing written, no reload


def test_status_says_not_loaded_when_alertmanager_runs_another_file(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "ops", {"ops": ("critical", hook.url)})
    elsewhere = tmp_path / "not-read-by-alertmanager.yml"
    assert sync(desired, elsewhere, server.url).written
    found = status(desired, elsewhere, server.url)
    assert found.state is ConfigState.NOT_LOADED
    assert found.error is not None and str(elsewhere) in found.error
    assert [r.name for r in found.receivers] == ["ops"]


def test_a_config_amtool_refuses_never_replaces_the_running_one(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/good")})
    assert sync(desired, server.config, server.url).written
    good = server.config.read_text()
    (desired / "broken.tmpl").write_text('{{ define "x" }}{{ if }}{{ end }}')
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/bad")}, extra="  templates: [broken.tmpl]\n")

    result = sync(desired, server.config, server.url)
    assert not result.written and result.rejected is not None
    assert "amtool" in result.rejected
    assert server.config.read_text() == good
    assert f"{hook.url}/good" in server.running_config()
    found = status(desired, server.config, server.url, result.rejected)
    assert found.state is ConfigState.REJECTED
    assert not list(server.config.parent.glob(".*.check"))


def test_a_config_alertmanager_refuses_is_rolled_back_and_the_previous_one_still_runs(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desired = tmp_path / "desired"
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/good")})
    assert sync(desired, server.config, server.url).written
    good = server.config.read_text()
    (desired / "broken.tmpl").write_text('{{ define "x" }}{{ if }}{{ end }}')
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/bad")}, extra="  templates: [broken.tmpl]\n")
    # Without amtool on the PATH the check is Alertmanager's own reload: the path a host takes
    # when amtool is missing, or when Alertmanager is stricter than the amtool installed.
    monkeypatch.setenv("PATH", "/nonexistent")

    result = sync(desired, server.config, server.url)
    assert result.rolled_back and not result.written
    assert result.rejected is not None and "Alertmanager" in result.rejected and "template" in result.rejected
    assert server.config.read_text() == good
    running = server.running_config()
    assert f"{hook.url}/good" in running and f"{hook.url}/bad" not in running


def test_alertmanager_delivers_to_the_receiver_the_route_leads_to(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(
        desired,
        "warnings",
        {
            "critical-alerts": ("critical", f"{hook.url}/critical"),
            "warnings": ("warning", f"{hook.url}/warning"),
        },
    )
    assert sync(desired, server.config, server.url).written
    import httpx

    alert = {"labels": {"alertname": "DiskFull", "severity": "critical"}, "annotations": {"summary": "disk"}}
    assert httpx.post(f"{server.url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200
    wait_for(lambda: hook.alerts("/critical"), 30, "the critical webhook to get the alert", interval=0.1)
    got = hook.alerts("/critical")[0]
    assert got["labels"]["alertname"] == "DiskFull" and got["status"] == "firing"
    assert hook.alerts("/warning") == []


def test_receiver_tests_say_delivered_failed_and_not_routed(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    write(
        desired,
        "a-live",
        {
            "a-live": ("=~crit.*", f"{hook.url}/live"),
            "b-closed": ("warning", closed),
            # a-live comes first and takes these; validate's analysis cannot prove it for two regexes.
            "c-shadowed": ("=~crit(ical)?", f"{hook.url}/shadowed"),
        },
    )
    assert sync(desired, server.config, server.url).written
    results = {r.receiver: r for r in receiver_tests(desired, server.url)}

    assert results["a-live"].outcome is Outcome.DELIVERED, results["a-live"]
    assert any(a["labels"].get("monop_test") for a in hook.alerts("/live"))
    assert results["b-closed"].outcome is Outcome.FAILED, results["b-closed"]
    assert results["c-shadowed"].outcome is Outcome.NOT_ROUTED
    assert "a-live" in results["c-shadowed"].detail
    assert hook.alerts("/shadowed") == []

    # No test alert is left firing.
    import httpx

    def resolved() -> bool:
        alerts = httpx.get(f"{server.url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
        return not [a for a in alerts if "monop_test" in a["labels"] and a["status"]["state"] == "active"]

    wait_for(resolved, 10, "the test alerts to be resolved", interval=0.1)


def test_a_secret_webhook_url_is_written_for_alertmanager_and_nowhere_else(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    token_url = f"{hook.url}/hooks/T0KEN-abcdef123456"
    url_file = secret_dir / "hook-url"
    url_file.write_text(token_url + "\n")
    os.chmod(url_file, 0o600)
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "alerting.yaml").write_text(
        ROUTING.format(default="ops", extra="")
        + f"""---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: ops}}
spec:
  webhookConfigs:
    - urlSecret: {{file: {url_file}}}
"""
    )
    assert sync(desired, server.config, server.url).written
    assert token_url in server.config.read_text()  # Alertmanager 0.25 takes a webhook URL only inline
    # It replaced a 0644 file: Alertmanager's group keeps reading it, others no longer do.
    assert os.stat(server.config).st_mode & 0o777 == 0o640
    found = status(desired, server.config, server.url)
    assert found.state is ConfigState.LOADED
    assert "T0KEN" not in str(found.to_json())
    assert "T0KEN" not in render(alerting(desired))  # what `monop render alertmanager` prints


def test_each_receiver_test_gets_a_group_of_its_own_and_is_not_held_for_group_interval(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "ops", {"ops": ("critical", f"{hook.url}/ops")})
    text = (desired / "alerting.yaml").read_text().replace("groupInterval: 1s", "groupInterval: 5m")
    (desired / "alerting.yaml").write_text(text)
    assert sync(desired, server.config, server.url).written
    # The second test's alert would join the first one's group (grouped by alertname) and wait
    # for its next group_interval, 5 minutes: unless the test gives it a group of its own.
    for _ in range(2):
        [result] = receiver_tests(desired, server.url, timeout=15)
        assert result.outcome is Outcome.DELIVERED, result
    assert len({a["labels"]["monop_test"] for a in hook.alerts("/ops")}) == 2
