"""The status page's parts without a browser: the HTML escapes user text, the JSON route says
why it cannot answer, looks are shared, the chart reads the registry, secrets never leave.

The routes run on the daemon's real HTTP listener on a free loopback port; the document is one
written here (the browser test feeds the real one, from a real daemon).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monop import secrets
from monop.daemon import pagehtml
from monop.daemon.events import Event, EventLog
from monop.daemon.http import Listener
from monop.daemon.metrics import Metrics
from monop.daemon.page import API_PATH, Activity, StatusPage, last_events

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def resource(name: str = "svc", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "BusinessService",
        "name": name,
        "state": "Drifted",
        "sync": "OutOfSync",
        "healthStatus": "Healthy",
        "conditions": [{"type": "Ready", "status": "False", "reason": "Drifted", "message": HOSTILE}],
        "reasons": [{"field": "env METRICS", "old": "a", "new": HOSTILE}],
        "daemon": {"restartCount": 2},
        "targets": None,
        "scrape": [{"job": "svc", "url": "http://127.0.0.1:9100/metrics", "interval": None}],
        **extra,
    }


def render(document: dict[str, Any], events: list[dict[str, Any]] | None = None, **kw: Any) -> str:
    activity = Activity(Metrics(CollectorRegistry()).registry, clock=lambda: 1_800_000_000.0)
    return pagehtml.render(
        document, events or [], activity, now=1_800_000_000.0, error=None, api=API_PATH, **kw
    )


def test_user_text_is_escaped_everywhere() -> None:
    document = {
        "inSync": False,
        "resources": [resource()],
        "ruleGroups": [{"name": HOSTILE, "state": "Refused", "error": HOSTILE}],
        "receivers": [{"name": HOSTILE, "integrations": ["webhook"], "error": HOSTILE}],
        "dashboards": [{"name": "d", "title": HOSTILE, "uid": HOSTILE, "panels": [{"title": HOSTILE}]}],
        "daemon": {"pid": 1, "ready": True, "source": HOSTILE, "desired_error": HOSTILE},
        "prometheus": {"url": HOSTILE, "reachable": False, "error": HOSTILE},
    }
    events = [{"time": "t", "type": "Warning", "reason": HOSTILE, "resource": HOSTILE, "message": HOSTILE}]
    page = render(document, events)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 10
    # The only scripts are the template's own.
    assert page.count("<script>") == 1


def test_each_resource_row_carries_its_state_and_restarts() -> None:
    page = render({"resources": [resource("a"), resource("b", state="InSync", healthStatus="Degraded")]})
    assert '<tr data-resource="BusinessService/a" data-state="Drifted" data-sync="OutOfSync"' in page
    assert 'data-resource="BusinessService/b" data-state="InSync"' in page
    assert 'data-health="Degraded"' in page
    assert '<td class="restarts">2</td>' in page
    assert "env METRICS: a -&gt; &lt;script&gt;" in page  # a reason as `monop status` words it
    assert "http://127.0.0.1:9100/metrics" in page  # where Prometheus is to scrape it


def test_no_dashboards_is_said_and_a_dashboard_lists_its_panels() -> None:
    assert '<p class="muted" id="dashboards">no dashboards</p>' in render({"resources": []})
    board = {
        "name": "monop",
        "title": "monop itself",
        "uid": "monop-self",
        "panels": [
            {"title": "reconciles", "result": "Data"},
            {"title": "gpu", "result": "NoData", "reason": "metric nvidia_gpu_x never seen"},
        ],
    }
    page = render({"resources": [], "dashboards": [board]})
    assert 'data-dashboard="monop"' in page
    assert "1/2 with data" in page
    assert "metric nvidia_gpu_x never seen" in page


def test_the_reconcile_chart_counts_per_minute_and_leaves_unseen_minutes_empty() -> None:
    metrics = Metrics(CollectorRegistry())
    now = [600_000.0]  # the start of a minute
    activity = Activity(metrics.registry, clock=lambda: now[0])
    activity.sample()
    metrics.reconciles.labels("Exporter", "success").inc(3)
    now[0] += 60
    activity.sample()
    metrics.reconciles.labels("Exporter", "error").inc(2)
    minutes = activity.per_minute()
    assert minutes[-2:] == [(10_000, 3.0), (10_001, 2.0)]
    assert minutes[0][1] is None  # no sample then: no bar rather than a zero
    metrics.event_to_repair.observe(0.3)
    metrics.event_to_repair.observe(0.4)
    metrics.event_to_repair.observe(7)
    buckets = dict(activity.repair_latency())
    assert buckets["0.5"] == 2 and buckets["10.0"] == 1 and sum(buckets.values()) == 3


def test_the_latency_chart_sums_a_labelled_histogram_over_its_labels() -> None:
    from prometheus_client import Histogram

    registry = CollectorRegistry()
    labelled = Histogram("monop_event_to_repair_seconds", "", ["kind"], buckets=(1, 5), registry=registry)
    labelled.labels("Exporter").observe(0.5)
    labelled.labels("BusinessService").observe(0.5)
    labelled.labels("BusinessService").observe(3)
    assert Activity(registry).repair_latency() == [("1.0", 2.0), ("5.0", 1.0), ("+Inf", 0.0)]


def ask(page: StatusPage, *paths: str) -> list[httpx.Response]:
    """GET each path from the page's routes on a real listener, one after another."""

    async def main() -> list[httpx.Response]:
        listener = Listener("127.0.0.1", 0)
        page.add_to(listener)
        async with listener, httpx.AsyncClient(base_url=f"http://127.0.0.1:{listener.port}") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(main())


def test_the_json_is_what_produce_makes_and_a_failure_is_a_503_that_says_why() -> None:
    calls: list[int] = []
    failures: list[Exception] = []

    def produce() -> dict[str, Any]:
        calls.append(1)
        return {"inSync": True, "resources": [resource()]}

    now = [1_800_000_000.0]  # time stands still unless the test moves it: sharing is not a race

    def clock() -> float:
        return now[0]

    page = StatusPage(produce, list, CollectorRegistry(), on_error=failures.append, clock=clock)
    first, second, html = ask(page, API_PATH, API_PATH, "/")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json()["resources"][0]["name"] == "svc"
    assert second.json() == first.json()
    assert len(calls) == 1  # looks within FRESH_S share one
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "default-src 'none'" in html.headers["content-security-policy"]

    def broken() -> dict[str, Any]:
        calls.append(1)
        raise LookupError("no valid desired state in force: x.yaml:3: bad")

    with capture_logs() as logs:
        down = StatusPage(
            broken,
            list,
            CollectorRegistry(),
            on_error=failures.append,
            log=structlog.get_logger(),
            clock=clock,
        )
        answer, html = ask(down, API_PATH, "/")
        assert len(calls) == 2  # a failure is not asked again on every request either
        assert len(failures) == 1  # a failed look is counted once, however many requests it answered
        now[0] += 1.5  # past FRESH_S: asked again, failed again, counted again
        (again,) = ask(down, API_PATH)
    assert answer.status_code == 503 and again.status_code == 503
    assert answer.json() == {"error": "no valid desired state in force: x.yaml:3: bad"}
    assert html.status_code == 503 and "cannot tell the status now" in html.text
    assert len(calls) == 3 and len(failures) == 2  # each failed look counted, the same reason logged once
    assert [(e["event"], e["error"]) for e in logs] == [
        ("status_page_failed", "no valid desired state in force: x.yaml:3: bad")
    ]


def test_a_known_secret_never_leaves_the_page() -> None:
    secrets.remember(secrets.Secrets(frozenset({"hunter2-very-secret"})))
    leaky = resource(
        conditions=[{"type": "Ready", "status": "False", "reason": "X", "message": "pw hunter2-very-secret"}]
    )
    page = StatusPage(
        lambda: {"resources": [leaky]},
        lambda: [{"type": "Warning", "reason": "X", "message": "hunter2-very-secret"}],
        CollectorRegistry(),
    )
    api, html = ask(page, API_PATH, "/")
    assert "hunter2-very-secret" not in api.text and "hunter2-very-secret" not in html.text
    assert "hunter2-very-secret" not in json.dumps(api.json())


def test_the_page_gets_the_newest_events_and_each_resources_last_one(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.emit(Event(1.0, "Normal", "Created", "no container", "Exporter/quiet"))
    for i in range(30):
        log.emit(Event(10.0 + i, "Normal", "Started", f"start {i}", "Exporter/busy"))
    found = last_events(tmp_path, newest=5)
    assert [(e["resource"], e["message"]) for e in found] == [
        ("Exporter/quiet", "no container"),  # long gone from the newest, still its row's last event
        *[("Exporter/busy", f"start {i}") for i in range(25, 30)],
    ]


def test_user_text_is_isolated_and_alertmanagers_refusal_said_once() -> None:
    flipped = "evil\u202etxt.yaml"  # a right-to-left override in a name
    receivers = [{"name": n, "integrations": ["webhook"], "error": "amtool: bad"} for n in ("a", "b", "c")]
    page = render({"resources": [resource(flipped)], "receivers": receivers})
    assert f"<b><bdi>{flipped}</bdi></b>" in page  # the override ends with its cell's text
    assert page.count("amtool: bad") == 1 and '<p id="alertmanager">alertmanager.yml: ' in page
    assert '<p id="alertmanager">alertmanager.yml: <span class="muted">no refusal</span></p>' in render(
        {"receivers": [{"name": "a", "integrations": [], "error": None}]}
    )


def test_a_chart_value_that_is_not_finite_draws_no_bar() -> None:
    chart = pagehtml._bars("t", "c", [("a", float("nan")), ("b", float("inf")), ("c", 2.0)], "n")
    assert chart.count("<rect") == 1 and "nan" not in chart and "inf" not in chart
    assert "(max 2)" in chart


def test_the_policy_allows_the_pages_own_script_and_style_by_hash_and_nothing_inline_else() -> None:
    import base64
    import hashlib
    import re

    policy = pagehtml.content_security_policy(API_PATH)
    assert "unsafe-inline" not in policy
    page = render({"resources": []})
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert '<link rel="icon" href="data:,">' in page  # no request for /favicon.ico, no 404
    assert 'role="status" aria-live="polite"' in page
