"""The daemon's status page in a real browser: Debian's Chromium, headless, driven by Playwright.

A real `monop run` on real Podman serves the page. It lists the resource in sync; after an edit
to its desired file (the resource suspended, so the drift stays to be seen) it shows Drifted
without a reload, and InSync again once resumed; a container killed behind the daemon's back
shows its restart. The page's JSON is the document `monop status --json` prints. A screenshot
of each step is kept under the test's tmp dir; the test prints where.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monop.desired.suspend import resume, suspend
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman
PORT = 20400
KEY = "BusinessService/pagesvc"
ROW = f'tr[data-resource="{KEY}"]'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package (scripts/setup installs it)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, not a browser Playwright downloads: nothing can be downloaded here."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def daemon(tmp_path: Path, podman_service: PodmanService) -> Iterator[DaemonProcess]:
    tree = tmp_path / "desired"
    write_service(tree, "pagesvc", PORT)
    with DaemonProcess(podman_service.url, tree, tmp_path / "state") as process:
        process.wait_ready()
        yield process


def row(page: Any) -> dict[str, str]:
    found = page.locator(ROW)
    return {
        "state": found.get_attribute("data-state") or "",
        "health": found.get_attribute("data-health") or "",
        "restarts": found.locator("td.restarts").inner_text(),
    }


def wait_row(page: Any, what: str, timeout: float = 90, **wanted: str) -> None:
    """Poll the rendered row (the page refreshes itself; it is never reloaded) until it shows `wanted`."""

    def shows() -> bool:
        if page.locator(ROW).count() != 1:
            return False
        seen = row(page)
        return all(seen[k] == v for k, v in wanted.items())

    wait_for(shows, timeout, what)


def test_the_page_follows_a_drift_its_repair_and_a_restart(
    daemon: DaemonProcess, browser: Any, podman_service: PodmanService, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nstatus page screenshots: {shots}")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # A script or style the Content-Security-Policy refused would be a console error.
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    answer = page.goto(daemon.base_url + "/")
    assert answer is not None and answer.status == 200
    assert page.title() == "monop status"
    wait_row(page, "the resource listed in sync", state="InSync", health="Healthy")
    assert page.locator("#dashboards").inner_text() == "no dashboards"
    assert page.locator("#chart-repair svg").count() == 1
    page.screenshot(path=str(shots / "1-in-sync.png"), full_page=True)

    # What the page polls is what `monop status --json` prints: one producer.
    served = page.evaluate("() => fetch('/api/v1/status').then(r => r.json())")
    code, printed = daemon.status()
    assert code == 0, printed
    assert [(r["kind"], r["name"], r["state"]) for r in served["resources"]] == [
        (r["kind"], r["name"], r["state"]) for r in printed["resources"]
    ]
    assert set(served) == set(printed)
    assert set(served["resources"][0]) == set(printed["resources"][0])

    state = tmp_path / "state"
    assert suspend(state, KEY, time.time(), by="test")
    wait_row(page, "the resource shown suspended", health="Suspended")
    write_service(daemon.desired, "pagesvc", PORT, metrics="app_up 2")  # a new spec: drift
    wait_row(page, "the edit shown as a drift", state="Drifted")
    page.screenshot(path=str(shots / "2-drifted.png"), full_page=True)
    drift = page.locator(f"{ROW} td").nth(1).inner_text()
    assert "Drifted" in drift and "METRICS" in drift and "app_up 2" in drift  # what changed, and to what

    assert resume(state, KEY)
    outside = daemon.get("/")  # the page's own route answers outside the browser too
    assert outside.status_code == 200 and f'data-resource="{KEY}"' in outside.text
    import httpx

    assert httpx.post(daemon.base_url + "/reconcile", params={"resource": KEY}, timeout=10).status_code == 202
    wait_row(page, "the recreated resource in sync", state="InSync", health="Healthy")
    assert page.locator("#events").get_by_text("Recreated").count() >= 1

    before = int(row(page)["restarts"])
    podman_service.podman("kill", "pagesvc")
    wait_row(page, "the restart counted", restarts=str(before + 1))
    wait_row(page, "the restarted resource in sync", state="InSync", health="Healthy")
    assert page.locator("#events").get_by_text("Started").count() >= 1
    page.screenshot(path=str(shots / "3-restarted.png"), full_page=True)
    assert errors == [], errors
    assert daemon.tracebacks() == 0


ALERTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: system}
spec:
  rules:
    - alert: PageSvcDown
      expr: up{job="pagesvc"} == 0
      for: 1m
---
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {name: alertmanager}
spec:
  receiver: team
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {name: team}
spec:
  webhookConfigs:
    - url: http://127.0.0.1:20402/hook/team-only-path
"""


@pytest.mark.prometheus
def test_the_page_shows_targets_rule_groups_and_receivers_as_prometheus_sees_them(
    browser: Any, podman_service: PodmanService, tmp_path: Path
) -> None:
    from monop.prometheus import scrape
    from monop_testbed.prometheus_server import PrometheusServer

    desired = tmp_path / "desired"
    write_service(desired, "pagesvc", PORT + 1)
    (desired / "alerting.yaml").write_text(ALERTING)
    state_dir = tmp_path / "state"
    (state_dir / "file_sd").mkdir(parents=True)  # Prometheus watches it only if it exists at its start
    (state_dir / "rules").mkdir()
    configs = scrape.scrape_configs(state_dir / "file_sd")["scrape_configs"]
    with PrometheusServer(tmp_path / "prometheus", configs, rules_dir=state_dir / "rules") as server:
        env = {
            "MONOP_PROMETHEUS_URL": server.url,
            "MONOP_SCRAPE_ADDRESS": "127.0.0.1",
            "MONOP_ALERTMANAGER_CONFIG": str(tmp_path / "alertmanager.yml"),
        }
        with DaemonProcess(
            podman_service.url, desired, state_dir, resync_interval="1s", extra_env=env
        ) as daemon:
            daemon.wait_ready()
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(daemon.base_url + "/")

            def target_up() -> bool:
                cell = page.locator(f"{ROW} td").nth(5)
                return page.locator(ROW).count() == 1 and "Up" in cell.inner_text()

            wait_for(target_up, 90, "the resource's target shown Up")
            assert f"127.0.0.1:{PORT + 1}" in page.locator(f"{ROW} td").nth(5).inner_text()
            assert "Up" in page.locator("#prometheus").inner_text()
            wait_for(
                lambda: "Loaded" in page.locator("#rule-groups").inner_text(),
                60,
                "the rule group shown Loaded",
            )
            assert "system" in page.locator("#rule-groups").inner_text()
            receivers = page.locator("#receivers").inner_text()
            assert "team" in receivers and "webhook" in receivers
            assert page.locator("#alertmanager").inner_text().startswith("alertmanager.yml: ")
            assert "team-only-path" not in page.content()  # a receiver's URL may hold a secret: never shown
            shot = tmp_path / "status-page-prometheus.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nstatus page screenshot: {shot}")
            assert daemon.tracebacks() == 0


def test_without_a_valid_desired_state_the_json_is_a_503_that_names_the_problem(
    podman_service: PodmanService, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "broken.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\n"
    )
    with DaemonProcess(podman_service.url, desired, tmp_path / "state") as daemon:
        daemon.wait_event("daemon_started")

        def refused() -> bool:
            return daemon.get("/api/v1/status").status_code == 503

        wait_for(refused, 30, "the JSON refused while no desired state is in force")
        error = daemon.get("/api/v1/status").json()["error"]
        assert error.startswith("no valid desired state in force:") and "broken.yaml" in error
        page = daemon.get("/")
        assert page.status_code == 503 and "broken.yaml" in page.text
        assert (daemon.metric("monop_task_failures_total", task="status-page") or 0) >= 1
        assert daemon.tracebacks() == 0
