"""The daemon's HTTP server, spoken to by a real HTTP client over loopback."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter

from monop.http import HttpServer, Request, Response, text


def serve(scenario, ready=lambda: (True, "ready")):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        registry = CollectorRegistry()
        Counter("monop_test_things", "Things.", registry=registry).inc(3)
        server = HttpServer(registry, ready, "127.0.0.1", 0)
        # The client's URL is read after the server started and took its port.
        async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            return await scenario(server, client)

    return asyncio.run(asyncio.wait_for(main(), 20))


def test_metrics_are_served_in_prometheus_text_format() -> None:
    async def scenario(server, client):  # type: ignore[no-untyped-def]
        return await client.get("/metrics")

    response = serve(scenario)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "monop_test_things_total 3.0" in response.text


def test_readyz_follows_readiness_and_says_why() -> None:
    state = {"ok": False}

    async def scenario(server, client):  # type: ignore[no-untyped-def]
        before = await client.get("/readyz")
        state["ok"] = True
        after = await client.get("/readyz")
        health = await client.get("/healthz")
        return before, after, health

    before, after, health = serve(scenario, lambda: (state["ok"], "ready" if state["ok"] else "no Podman"))
    assert (before.status_code, before.text) == (503, "no Podman\n")
    assert (after.status_code, after.text) == (200, "ready\n")
    assert health.status_code == 200


def test_unknown_paths_wrong_methods_and_huge_bodies_are_refused() -> None:
    async def scenario(server, client):  # type: ignore[no-untyped-def]
        return (
            await client.get("/nope"),
            await client.post("/metrics", content=b"x"),
            await client.post("/metrics", content=b"x" * (2 << 20)),
        )

    missing, wrong, huge = serve(scenario)
    assert missing.status_code == 404
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert huge.status_code == 413


def test_added_routes_receive_method_headers_and_body() -> None:
    seen: list[Request] = []

    async def hook(request: Request) -> Response:
        seen.append(request)
        return text(202, "queued")

    async def scenario(server, client):  # type: ignore[no-untyped-def]
        server.add_route("POST", "/hooks/test", hook)
        return await client.post("/hooks/test?x=1", content=b'{"a": 1}', headers={"X-Thing": "yes"})

    response = serve(scenario)
    assert response.status_code == 202
    [request] = seen
    assert (request.method, request.path, request.body) == ("POST", "/hooks/test", b'{"a": 1}')
    assert request.headers["x-thing"] == "yes"


def test_stop_closes_idle_connections_and_frees_the_port() -> None:
    async def main() -> bool:
        server = HttpServer(CollectorRegistry(), lambda: (True, "ready"), "127.0.0.1", 0)
        await server.start()
        # A client that connects and never sends a request must not hold stop() up.
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.sleep(0)
        await asyncio.wait_for(server.stop(), 5)
        writer.close()
        try:
            await asyncio.open_connection("127.0.0.1", server.port)
        except OSError:
            return True
        return False

    assert asyncio.run(main())
