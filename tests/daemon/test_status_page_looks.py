"""The status page's looks under load and abuse: slow looks shared, not queued; a look that hangs
answered with a 503 in time, never a second thread; a file name that is not UTF-8 shown, not a
crash; a Host that is not this daemon's refused (DNS rebinding).

The routes run on the daemon's real HTTP listener on a free loopback port; `produce` is one
written here, blocking on an event the test sets, and time is a clock the test moves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from monop.daemon.http import Listener, Request, Response
from monop.daemon.page import API_PATH, StatusPage

Body = Callable[[httpx.AsyncClient, Callable[[], int]], Awaitable[Any]]


def serve(page: StatusPage, body: Body, request_timeout: float = 10.0) -> Any:
    """Run `body(client, arrived)` against the page's routes on a real listener; `arrived()` is
    how many requests have reached the page's handlers so far."""
    arrivals = [0]

    def counted(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            arrivals[0] += 1
            return await handler(request)

        return route

    async def main() -> Any:
        listener = Listener("127.0.0.1", 0, request_timeout=request_timeout)
        for (method, path), handler in page.routes().items():
            listener.add_route(method, path, counted(handler))
        async with (
            listener,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{listener.port}", timeout=30) as client,
        ):
            return await body(client, lambda: arrivals[0])

    return asyncio.run(main())


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `condition` on the event loop until it holds, for at most `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


def test_requests_during_a_slow_look_share_it_rather_than_queue_for_looks_of_their_own() -> None:
    now = [1_800_000_000.0]
    release = threading.Event()
    looks: list[float] = []

    def produce() -> dict[str, Any]:
        looks.append(now[0])
        release.wait(10)
        now[0] += 1.5  # the look took longer than FRESH_S
        return {"resources": [], "look": len(looks)}

    page = StatusPage(produce, list, CollectorRegistry(), clock=lambda: now[0])

    async def body(client: httpx.AsyncClient, arrived: Callable[[], int]) -> list[httpx.Response]:
        asked = [asyncio.create_task(client.get(path)) for path in (API_PATH, API_PATH, "/", API_PATH)]
        await until(lambda: arrived() == 4 and len(looks) == 1, "four requests waiting on one look")
        release.set()
        return list(await asyncio.gather(*asked))

    answers = serve(page, body)
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert len(looks) == 1, f"{len(looks)} looks for four requests made while one ran"
    assert {a.json()["look"] for a in answers if "json" in a.headers["content-type"]} == {1}
    # The look's ETag is the digest the page carries on its <main>.
    digest = answers[0].headers["etag"].strip('"')
    assert f'<main data-digest="{digest}">' in answers[2].text


def test_a_look_that_hangs_is_a_503_in_time_and_never_a_second_thread() -> None:
    now = [1_800_000_000.0]
    release = threading.Event()
    looks: list[int] = []
    failures: list[Exception] = []

    def produce() -> dict[str, Any]:
        looks.append(1)
        release.wait(30)  # Podman not answering
        return {"resources": []}

    page = StatusPage(
        produce, list, CollectorRegistry(), clock=lambda: now[0], timeout=0.3, on_error=failures.append
    )

    def threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "status-page-look")

    async def body(client: httpx.AsyncClient, arrived: Callable[[], int]) -> list[httpx.Response]:
        answers = []
        for _ in range(3):
            answers.append(await client.get(API_PATH))
            now[0] += 2  # each request past FRESH_S: only the running look keeps a new one from starting
        answers.append(await client.get("/"))
        assert len(looks) == 1 and threads() == 1
        release.set()
        await until(lambda: threads() == 0, "the hung look finished")
        answers.append(await client.get(API_PATH))  # the look that finished late, served
        return answers

    # The listener's own deadline is longer than the page's: the page answers, not the listener.
    *slow, page_answer, late = serve(page, body, request_timeout=5.0)
    for answer in slow:
        assert answer.status_code == 503
        assert answer.json() == {"error": "no answer from Podman, the state file or Prometheus in 0.3 s"}
    assert page_answer.status_code == 503 and "no answer from Podman" in page_answer.text
    assert late.status_code == 200 and late.json() == {"resources": []}
    assert len(looks) == 1
    assert len(failures) == 1  # one look timed out: counted once, not once per request


def test_a_file_name_that_is_not_utf8_is_shown_not_a_crash() -> None:
    name = b"caf\xe9.yaml".decode("utf-8", "surrogateescape")  # as os.fsdecode gives it
    document = {"resources": [], "daemon": {"pid": 1, "desired_error": f"{name}:3: bad"}}
    page = StatusPage(lambda: document, list, CollectorRegistry())

    async def body(client: httpx.AsyncClient, _: Callable[[], int]) -> list[httpx.Response]:
        return [await client.get(API_PATH), await client.get("/")]

    api, html = serve(page, body)
    assert api.status_code == 200 and api.json()["daemon"]["desired_error"] == f"{name}:3: bad"
    assert html.status_code == 200 and "caf\\udce9.yaml:3: bad" in html.text


def test_a_host_that_is_not_this_daemon_is_refused() -> None:
    page = StatusPage(lambda: {"resources": []}, list, CollectorRegistry())

    async def body(client: httpx.AsyncClient, _: Callable[[], int]) -> dict[str, tuple[int, int]]:
        seen = {}
        hosts = ("evil.example:9469", "[::1", "localhost:9469", "127.0.0.1", "[::1]:9469", "10.1.2.3")
        for host in hosts:
            api = await client.get(API_PATH, headers={"host": host})
            html = await client.get("/", headers={"host": host})
            seen[host] = (api.status_code, html.status_code)
        return seen

    listener_host = Listener("127.0.0.1", 0)
    page.add_to(listener_host)  # as the daemon does: the listener's host is one of the page's names
    seen = serve(page, body)
    assert seen.pop("evil.example:9469") == (403, 403)  # a page on evil.example reads nothing
    assert seen.pop("[::1") == (403, 403)  # not a host at all
    assert set(seen.values()) == {(200, 200)}
