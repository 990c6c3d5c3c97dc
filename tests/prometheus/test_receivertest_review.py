"""`monop test receivers` against a real Alertmanager 0.25 (Debian's): the cases a review found wrong.

Ports: Alertmanager 20145, webhooks 20150-20159, closed ports 20160-20169.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.prometheus.test_receivertest_live import firing_tests, run, sync, write_secret_url

from monop.desired.loader import load
from monop.prometheus.alertmanager import AlertmanagerAPI
from monop.prometheus.amlog import AlertmanagerLog
from monop.prometheus.receivertest import (
    Outcome,
    ReceiverTest,
    resolved_earlier,
    run_receiver_tests,
    save_results,
)
from monop_testbed.alertmanager_server import AlertmanagerServer, WebhookRecorder
from monop_testbed.podman_service import wait_for

pytestmark = pytest.mark.prometheus


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(tmp_path / "am", config=tmp_path / "alertmanager.yml", port=20145) as found:
        yield found


def test_a_secret_url_with_a_password_is_masked_in_the_form_go_prints_it(
    server: AlertmanagerServer, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write_secret_url(desired, "http://bob:PW123secret@127.0.0.1:20160/hook/PATHSECRET")
    sync(desired, server)

    found = run(desired, server)["ops"]

    assert found.outcome is Outcome.FAILED, found
    assert "connection refused" in found.detail and "<secret>" in found.detail, found
    assert "PW123secret" not in str(found.to_json()) and "PATHSECRET" not in str(found.to_json())
    assert "bob:***@127.0.0.1:20160/hook/PATHSECRET" in server.log()  # how Go printed it


HEAD = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {name: alertmanager}
spec: {receiver: zz-default, groupBy: [alertname], groupWait: 1s, groupInterval: 10s, repeatInterval: 1h}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {name: zz-default}
spec: {webhookConfigs: [{url: "http://127.0.0.1:20150/default"}]}
"""


def tree(tmp_path: Path, server: AlertmanagerServer, text: str) -> Path:
    """The desired tree of `text`, its alertmanager.yml written and loaded."""
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "alerting.yaml").write_text(text)
    sync(desired, server)
    return desired


def receiver(name: str, takes: str, *urls: str, extra: str = "") -> str:
    """An AlertReceiver whose webhooks are `urls`; `takes`: a team it matches, or its matchers in YAML."""
    matchers = takes if takes.startswith("[") else f"[{{name: team, value: {takes}}}]"
    hooks = ", ".join(f'{{url: "{url}"}}' for url in urls)
    return (
        f"---\napiVersion: monop.dev/v1alpha1\nkind: AlertReceiver\nmetadata: {{name: {name}}}\n"
        f"spec: {{matchers: {matchers}, webhookConfigs: [{hooks}]{extra}}}\n"
    )


@pytest.fixture
def hook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder(port=20150) as recorder:
        yield recorder


@pytest.fixture
def hanging() -> Iterator[str]:
    """A webhook that takes the connection and never answers: Alertmanager waits until its flush's deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 20161))
        listener.listen(16)
        yield "http://127.0.0.1:20161/hangs"


def test_a_receiver_whose_second_webhook_hangs_is_not_delivered(
    server: AlertmanagerServer, hook: WebhookRecorder, hanging: str, tmp_path: Path
) -> None:
    desired = tree(tmp_path, server, HEAD + receiver("b-pager", "pager", f"{hook.url}/b", hanging))

    found = run(desired, server, "b-pager", timeout=20)["b-pager"]

    assert hook.alerts("/b"), "its first webhook got the alert"
    # The second one's attempt ends at the flush's deadline (groupInterval 10s), failed.
    assert found.outcome is Outcome.FAILED, found
    assert "webhook[1]" in found.detail and "20161" in found.detail, found


def test_another_receivers_notification_during_group_wait_is_not_the_tests_delivery(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tree(
        tmp_path,
        server,
        HEAD
        + receiver("e-down", "e", "http://127.0.0.1:20162/nobody", extra=", groupWait: 6s")
        + receiver("f-live", "f", f"{hook.url}/f"),
    )

    async def go() -> ReceiverTest:
        api = AlertmanagerAPI(server.url)
        try:
            task = asyncio.create_task(
                run_receiver_tests(
                    load(desired).alerting,
                    api,
                    ["e-down"],
                    log=AlertmanagerLog(server.base / "alertmanager.log"),
                    timeout=15,
                )
            )
            await asyncio.to_thread(
                wait_for, lambda: firing_tests(server), 10, "the test alert", interval=0.05
            )
            # A real alert for f-live, delivered a second later, while e-down's test waits its 6 s.
            await api.post_alerts([{"labels": {"alertname": "Real", "team": "f"}}])
            return (await task)[0]
        finally:
            await api.close()

    found = asyncio.run(go())

    assert hook.alerts("/f"), "f-live was notified during e-down's test"
    assert found.outcome is Outcome.FAILED, found
    assert "connection refused" in found.detail and "20162" in found.detail, found


def test_an_earlier_runs_resolved_notification_is_not_the_next_tests_delivery(
    server: AlertmanagerServer, hook: WebhookRecorder, hanging: str, tmp_path: Path
) -> None:
    desired = tree(tmp_path, server, HEAD + receiver("e-hangs", "e", hanging))
    assert run(desired, server, "zz-default")["zz-default"].outcome is Outcome.DELIVERED
    results = tmp_path / "receiver-tests.json"
    save_results(results, [ReceiverTest("zz-default", Outcome.DELIVERED)])  # written after the run

    async def go() -> ReceiverTest:
        api = AlertmanagerAPI(server.url)
        try:
            log = AlertmanagerLog(server.base / "alertmanager.log")
            found = await run_receiver_tests(
                load(desired).alerting,
                api,
                ["e-hangs"],
                log=log,
                timeout=12,
                resolved=resolved_earlier(results),
            )
            return found[0]
        finally:
            await api.close()

    # zz-default's resolved notification goes out at its group's next tick (within 10 s), while
    # e-hangs' webhook holds the connection until its flush's deadline (10 s after its group_wait).
    found = asyncio.run(go())

    wait_for(
        lambda: any(a["status"] == "resolved" for a in hook.alerts("/default")),
        15,
        "the resolved notification",
    )
    assert found.outcome in (Outcome.FAILED, Outcome.UNCERTAIN), found


def test_a_receiver_reachable_past_an_earlier_route_is_tested_with_labels_that_reach_it(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tree(
        tmp_path,
        server,
        HEAD
        + receiver(
            "c-team",
            '[{name: severity, value: "warn.*", matchType: "=~"}, {name: team, value: infra, matchType: "!="}]',
            f"{hook.url}/c",
        )
        + receiver("d-infra", '[{name: severity, value: "warn.*", matchType: "=~"}]', f"{hook.url}/d"),
    )

    found = run(desired, server, "d-infra")["d-infra"]

    assert found.outcome is Outcome.DELIVERED, found
    assert dict(found.labels)["team"] == "infra"  # c-team, earlier, takes every other team
    assert hook.alerts("/d") and not hook.alerts("/c")


def test_a_test_alert_that_would_page_a_continue_route_too_is_not_sent_unless_allowed(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    page = "[{name: severity, value: page}]"
    desired = tree(
        tmp_path,
        server,
        HEAD
        # a-audit sees every page, and lets later routes see it too.
        + receiver("a-audit", page, f"{hook.url}/a", extra=", continue: true")
        + receiver("b-pager", page, f"{hook.url}/b"),
    )

    found = run(desired, server, "b-pager")["b-pager"]

    assert found.outcome is Outcome.UNTESTABLE, found
    assert "a-audit" in found.detail and "--allow-fanout" in found.detail
    assert hook.alerts() == []  # no one was paged

    async def go() -> ReceiverTest:
        api = AlertmanagerAPI(server.url)
        try:
            log = AlertmanagerLog(server.base / "alertmanager.log")
            tested = await run_receiver_tests(
                load(desired).alerting, api, ["b-pager"], log=log, timeout=5, allow_fanout=True
            )
            return tested[0]
        finally:
            await api.close()

    allowed = asyncio.run(go())

    wait_for(lambda: hook.alerts("/a") and hook.alerts("/b"), 10, "both receivers notified")
    # A success of the webhook counter could be either's: Alertmanager 0.25 does not say.
    assert allowed.outcome is Outcome.UNCERTAIN and "a-audit" in allowed.detail, allowed


def test_a_test_alert_joining_a_firing_group_waits_for_its_next_flush(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    # g-ops groups by team, which its matcher fixes: every alert it takes is in one group.
    desired = tree(
        tmp_path,
        server,
        HEAD + receiver("g-ops", "ops", f"{hook.url}/g", extra=", groupBy: [team], groupInterval: 20s"),
    )
    httpx.post(
        f"{server.url}/api/v2/alerts", json=[{"labels": {"alertname": "Real", "team": "ops"}}], timeout=5
    )
    wait_for(lambda: hook.alerts("/g"), 10, "the real alert's notification")

    found = run(desired, server, "g-ops", timeout=None)["g-ops"]  # default: its groupWait + 15 s

    assert found.outcome is Outcome.DELIVERED, found
    assert any("monop_test" in a["labels"] for a in hook.alerts("/g"))


def test_regex_matchers_get_a_value_they_take(
    server: AlertmanagerServer, hook: WebhookRecorder, tmp_path: Path
) -> None:
    desired = tree(
        tmp_path,
        server,
        HEAD
        + receiver("h-prio", '[{name: priority, value: "P[12]", matchType: "=~"}]', f"{hook.url}/h")
        + receiver(
            "i-page",
            '[{name: severity, value: "critical|page", matchType: "=~"}, '
            '{name: severity, value: critical, matchType: "!="}]',
            f"{hook.url}/i",
        ),
    )

    results = run(desired, server, "h-prio", "i-page")

    assert results["h-prio"].outcome is Outcome.DELIVERED, results["h-prio"]
    assert dict(results["h-prio"].labels)["priority"] == "P1"
    assert results["i-page"].outcome is Outcome.DELIVERED, results["i-page"]
    assert dict(results["i-page"].labels)["severity"] == "page"
    assert hook.alerts("/h") and hook.alerts("/i")
