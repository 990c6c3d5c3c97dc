"""`monop test receivers`' verdicts against a real Alertmanager 0.25 (Debian's) and real webhooks on loopback.

Alertmanager 0.25 counts notification attempts per integration type: while one webhook
receiver's failures are retried, every other webhook receiver's test sees the failure count
rise. These tests make exactly that happen and check each verdict is the receiver's own.
Ports: Alertmanager 20110-20119, webhooks 20120-20129, closed ports 20190-20199.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop.desired.loader import load
from monop.prometheus import alertmanager as am
from monop.prometheus.alertmanager import AlertmanagerAPI
from monop.prometheus.amlog import AlertmanagerLog
from monop.prometheus.receivertest import Outcome, ReceiverTest, run_receiver_tests
from monop_testbed.alertmanager_server import AlertmanagerServer, WebhookRecorder
from monop_testbed.podman_service import wait_for

pytestmark = pytest.mark.prometheus

ROUTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec:
  receiver: {default}
  groupBy: [alertname]
  groupWait: 1s
  groupInterval: {interval}
  repeatInterval: 1h
"""
RECEIVER = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: {name}}}
spec:
  matchers: [{{name: team, value: {team}}}]
  webhookConfigs:
    - url: {url}
"""


def closed(n: int) -> str:
    return f"http://127.0.0.1:{20190 + n}/nobody-listens-{n}"


def write(desired: Path, default: str, receivers: dict[str, tuple[str, str]], interval: str = "1m") -> None:
    """`receivers`: name -> (team label it takes, webhook URL); a team `=~X` is a regex matcher."""
    desired.mkdir(exist_ok=True)
    text = ROUTING.format(default=default, interval=interval)
    for name, (team, url) in receivers.items():
        text += RECEIVER.format(name=name, team=team, url=url)
        if team.startswith("=~"):
            text = text.replace(f"value: {team}}}", f'value: "{team[2:]}", matchType: "=~"}}')
    (desired / "alerting.yaml").write_text(text)


def write_secret_url(desired: Path, url: str) -> None:
    """One receiver, ops, whose webhook URL monop reads from a file beside the tree (mode 0600)."""
    url_file = desired.parent / "hook-url"
    url_file.write_text(url + "\n")
    url_file.chmod(0o600)
    write(desired, "ops", {"ops": ("ops", "placeholder")})
    text = (desired / "alerting.yaml").read_text()
    (desired / "alerting.yaml").write_text(
        text.replace("- url: placeholder", f"- urlSecret: {{file: {url_file}}}")
    )


def sync(desired: Path, server: AlertmanagerServer) -> None:
    async def go() -> am.SyncResult:
        api = AlertmanagerAPI(server.url)
        try:
            return await am.sync(load(desired).alerting, server.config, api)
        finally:
            await api.close()

    result = asyncio.run(go())
    assert result.written and result.rejected is None, result


def run(
    desired: Path, server: AlertmanagerServer, *names: str, log: bool = True, timeout: float | None = 15
) -> dict[str, ReceiverTest]:
    async def go() -> list[ReceiverTest]:
        api = AlertmanagerAPI(server.url)
        try:
            return await run_receiver_tests(
                load(desired).alerting,
                api,
                names,
                log=AlertmanagerLog(server.base / "alertmanager.log") if log else None,
                timeout=timeout,
            )
        finally:
            await api.close()

    return {r.receiver: r for r in asyncio.run(go())}


def firing_tests(server: AlertmanagerServer) -> list[dict[str, object]]:
    alerts = httpx.get(f"{server.url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
    return [a for a in alerts if "monop_test" in a["labels"] and a["status"]["state"] == "active"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(tmp_path / "am", config=tmp_path / "alertmanager.yml", port=20110) as found:
        yield found


@pytest.fixture
def hook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder(port=20120) as recorder:
        yield recorder


def test_a_failing_receivers_retries_are_not_the_next_receivers_verdict(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    # a-down is tested first. Alertmanager retries it until its flush's deadline (10 s) and,
    # while its alert fires, flushes it again every groupInterval: its failures go on while
    # b-live is tested, and the webhook failure counter rises during b-live's test too (the
    # code before this test said b-live failed, Alertmanager's own log says it was delivered).
    write(desired, "b-live", {"a-down": ("a", closed(1)), "b-live": ("b", f"{hook.url}/b")}, interval="10s")
    sync(desired, server)

    results = run(desired, server)

    assert results["a-down"].outcome is Outcome.FAILED, results["a-down"]
    # Alertmanager's own error, read from its log, which names the receiver.
    assert "connection refused" in results["a-down"].detail and ":20191" in results["a-down"].detail
    assert results["b-live"].outcome is Outcome.DELIVERED, results["b-live"]
    assert [a["labels"]["monop_test"] for a in hook.alerts("/b")] == [
        results["b-live"].to_json()["labels"]["monop_test"]
    ]
    wait_for(lambda: not firing_tests(server), 10, "the test alerts to be resolved", interval=0.1)


def test_two_failing_receivers_each_get_their_own_error(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "a-down", {"a-down": ("a", closed(2)), "b-down": ("b", closed(3))})
    sync(desired, server)

    results = run(desired, server)

    assert results["a-down"].outcome is Outcome.FAILED and ":20192" in results["a-down"].detail
    assert results["b-down"].outcome is Outcome.FAILED and ":20193" in results["b-down"].detail
    assert results["b-down"].evidence == "log"


def test_without_the_log_a_verdict_another_receiver_could_have_caused_is_uncertain(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(
        desired,
        "a-down",
        {"a-down": ("a", closed(4)), "b-down": ("b", closed(5)), "c-live": ("c", f"{hook.url}/c")},
    )
    sync(desired, server)

    results = run(desired, server, log=False, timeout=6)

    assert results["a-down"].outcome is Outcome.FAILED, results["a-down"]  # no one else notified meanwhile
    # a-down's retries fail all through b-down's test: whose failures are they? 0.25 does not say.
    assert results["b-down"].outcome is Outcome.UNCERTAIN, results["b-down"]
    assert "alertmanager_log" in results["b-down"].detail
    # A success while the others in flight are failing retries can only be c-live's.
    assert results["c-live"].outcome is Outcome.DELIVERED, results["c-live"]


def test_an_alert_an_earlier_route_catches_is_not_routed_and_never_sent(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    # validate refuses a route it can prove shadowed; two regexes it cannot compare.
    write(
        desired, "a-ops", {"a-ops": ("=~op.*", f"{hook.url}/a"), "b-ops-too": ("=~op(s)?", f"{hook.url}/b")}
    )
    sync(desired, server)

    results = run(desired, server, "b-ops-too")

    found = results["b-ops-too"]
    assert found.outcome is Outcome.NOT_ROUTED, found
    assert "AlertReceiver/a-ops" in found.detail and 'team=~"op.*"' in found.detail
    assert hook.alerts() == []  # a-ops' people were not notified by a test of b-ops-too
    assert list(results) == ["b-ops-too"]


def test_an_interrupted_run_leaves_no_test_alert_firing(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write(desired, "a-down", {"a-down": ("a", closed(6))})
    sync(desired, server)

    async def go() -> None:
        api = AlertmanagerAPI(server.url)
        try:
            task = asyncio.create_task(run_receiver_tests(load(desired).alerting, api, timeout=60))
            # Cancelled while it waits for Alertmanager's verdict, its alert posted and firing.
            await asyncio.to_thread(
                wait_for, lambda: firing_tests(server), 10, "the test alert", interval=0.05
            )
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await api.close()

    asyncio.run(go())
    assert not firing_tests(server)


def test_a_receiver_that_answers_an_error_fails_with_alertmanagers_words(
    server: AlertmanagerServer, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    with WebhookRecorder(status=400, port=20121) as refusing:
        write(desired, "ops", {"ops": ("ops", f"{refusing.url}/ops")})
        sync(desired, server)
        found = run(desired, server)["ops"]
        assert refusing.alerts("/ops")  # it got the alert, and said no
    assert found.outcome is Outcome.FAILED, found
    assert "unexpected status code 400" in found.detail and found.evidence == "log"


def test_a_secret_webhook_url_in_alertmanagers_error_is_masked(
    server: AlertmanagerServer, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write_secret_url(desired, "http://127.0.0.1:20198/hooks/T0KEN-abcdef123456")
    sync(desired, server)

    found = run(desired, server)["ops"]

    assert found.outcome is Outcome.FAILED, found
    assert "connection refused" in found.detail and "T0KEN" not in found.detail and "<secret>" in found.detail
    assert "T0KEN" in server.log()  # Alertmanager's own words had it
