"""The status page's script in a real browser (Debian's Chromium, headless, driven by Playwright),
against the page's real routes on the daemon's listener, fed a document the test changes.

It catches a change made between the page's render and its first poll; a refresh that failed is
tried again rather than the change forgotten; while the daemon cannot answer, the last page stays,
marked stale, and the status line says why; a hidden tab stops polling and starts again when
shown; the page is drawn again every 30 s for its charts; and nothing breaks the page's
Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from monop.daemon.http import Listener, Request, Response
from monop.daemon.page import API_PATH, StatusPage
from monop_testbed.podman_service import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package, not a download


class Daemon:
    """The page's routes on a listener in a thread of their own; `state` is what `produce` says."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"restarts": 0, "down": None, "break_page": 0, "after_page": None}
        self.hits = {"api": 0, "page": 0}
        self.now = [1_800_000_000.0]
        self.page = StatusPage(self.produce, list, _registry(), clock=lambda: self.now[0])
        self.url = ""
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    def produce(self) -> dict[str, Any]:
        if self.state["down"]:
            raise LookupError(self.state["down"])
        row = {
            "kind": "Exporter",
            "name": "svc",
            "state": "InSync",
            "sync": "Synced",
            "healthStatus": "Healthy",
            "conditions": [],
            "daemon": {"restartCount": self.state["restarts"]},
        }
        return {"inSync": True, "resources": [row]}

    def change(self, **state: Any) -> None:
        """Change what the daemon says, and move its clock past FRESH_S: the next look sees it."""
        self.state.update(state)
        self.now[0] += 10

    async def _api(self, request: Request) -> Response:
        self.hits["api"] += 1
        return await self.page.api(request)

    async def _html(self, request: Request) -> Response:
        self.hits["page"] += 1
        if self.state["break_page"]:
            self.state["break_page"] -= 1
            return Response(500, b"a proxy in the way\n")
        answer = await self.page.page(request)
        if self.state["after_page"] is not None:  # a change right after the page was rendered
            self.change(**self.state.pop("after_page"))
            self.state["after_page"] = None
        return answer

    async def _serve(self) -> None:
        listener = Listener("127.0.0.1", 0)
        listener.add_route("GET", "/", self._html)
        listener.add_route("GET", API_PATH, self._api)
        async with listener:
            self.url = f"http://127.0.0.1:{listener.port}"
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)

    def __enter__(self) -> Daemon:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


@pytest.fixture
def tab() -> Iterator[tuple[Any, list[str]]]:
    """A tab of Debian's Chromium, and every error it reports (script errors, CSP refusals)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        # A refused CSP is a console error; a failed request (the test's 500s, 503s, the daemon
        # gone) is one too, and expected here.
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        yield page, errors
        browser.close()


def restarts(page: Any) -> str:
    return str(page.locator("td.restarts").inner_text()) if page.locator("td.restarts").count() else ""


def stale(page: Any) -> bool:
    return bool(page.evaluate("() => document.querySelector('main').classList.contains('stale')"))


def test_the_script_catches_every_change_retries_a_failed_refresh_and_marks_what_is_stale(
    tab: tuple[Any, list[str]],
) -> None:
    page, errors = tab
    live = page.locator("#live")
    with Daemon() as daemon:
        daemon.state["after_page"] = {"restarts": 1}  # changed before the first poll
        page.goto(daemon.url + "/")
        wait_for(lambda: restarts(page) == "1", 15, "a change made before the first poll shown")

        daemon.change(restarts=2, break_page=1)  # the refresh for this change fails once
        wait_for(lambda: restarts(page) == "2", 15, "the change shown after its failed refresh")
        assert daemon.state["break_page"] == 0
        wait_for(lambda: live.inner_text().startswith("updated "), 10, "the status line says updated")
        assert live.inner_text().endswith(" UTC") and not stale(page)

        daemon.change(down="podman: connection refused")
        wait_for(lambda: stale(page), 15, "the page marked stale while the daemon cannot tell")
        assert "cannot tell the status now" in live.inner_text()
        assert "podman: connection refused" in live.inner_text()
        assert restarts(page) == "2"  # the last page it had, kept, marked

        daemon.change(down=None, restarts=3)
        wait_for(lambda: restarts(page) == "3" and not stale(page), 15, "the page current again")

        page.evaluate(
            """() => {
                Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        wait_for(lambda: "paused" in live.inner_text(), 10, "polling paused in a hidden tab")
        before = daemon.hits["api"]
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        wait_for(lambda: daemon.hits["api"] > before, 10, "polling again once shown")
        wait_for(lambda: live.inner_text().startswith("updated "), 10, "the status line says updated")

        daemon.stop()  # the daemon gone
        wait_for(lambda: stale(page), 15, "the page marked stale once the daemon is gone")
        assert "cannot tell the status now" in live.inner_text() and restarts(page) == "3"
    assert errors == [], errors


def test_the_page_is_drawn_again_every_30_s_for_its_charts_even_when_the_json_stays_the_same(
    tab: tuple[Any, list[str]],
) -> None:
    page, errors = tab
    page.clock.install()  # the tab's timers and Date, moved by the test: no 30 s wait
    with Daemon() as daemon:
        page.goto(daemon.url + "/")
        wait_for(lambda: page.locator("#live").inner_text().startswith("updated "), 10, "the first poll")
        drawn = daemon.hits["page"]
        page.clock.run_for(10_000)  # polls with the same JSON: the page is not fetched again
        wait_for(lambda: daemon.hits["api"] >= 2, 10, "the tab polling")
        assert daemon.hits["page"] == drawn
        page.clock.run_for(25_000)
        wait_for(lambda: daemon.hits["page"] > drawn, 10, "the page drawn again after 30 s")
    assert errors == [], errors
