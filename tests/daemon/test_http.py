"""The daemon's HTTP server, spoken to by a real HTTP client over loopback."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter

from monop.daemon.http import HttpServer, Request, Response, text


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


def test_a_client_trickling_its_headers_is_cut_at_the_header_deadline() -> None:
    """One byte every 0.2 s never trips a per-read timeout; the header deadline (1 s) closes it."""

    async def main() -> tuple[bool, dict[str, float]]:
        shed: dict[str, float] = {}
        server = HttpServer(
            CollectorRegistry(),
            lambda: (True, "ready"),
            "127.0.0.1",
            0,
            header_timeout=1.0,
            request_timeout=2.0,
            shed=lambda reason: shed.__setitem__(reason, shed.get(reason, 0) + 1),
        )
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            closed = False
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if loop.time() > deadline:
                    break
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    closed = await asyncio.wait_for(reader.read(1), 0.2) == b""
                except TimeoutError:
                    continue
                except ConnectionError:
                    closed = True
                if closed:
                    break
            writer.close()
        return closed, shed

    closed, shed = asyncio.run(asyncio.wait_for(main(), 20))
    assert closed
    assert shed == {"header_timeout": 1}


def test_at_the_connection_limit_a_new_client_pushes_out_the_oldest_idle_one() -> None:
    """Eight idle connections fill a limit of eight; a probe still gets its answer at once."""

    async def main() -> tuple[int, int, bool]:
        server = HttpServer(CollectorRegistry(), lambda: (True, "ready"), "127.0.0.1", 0, max_connections=8)
        async with server:
            idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(8)]
            await asyncio.sleep(0)
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"http://127.0.0.1:{server.port}/healthz")
            oldest_reader, _ = idle[0]
            oldest_closed = await asyncio.wait_for(oldest_reader.read(1), 2) == b""
            open_now = server.open_connections
            for _, writer in idle:
                writer.close()
        return response.status_code, open_now, oldest_closed

    status, open_now, oldest_closed = asyncio.run(asyncio.wait_for(main(), 20))
    assert status == 200
    assert oldest_closed
    assert open_now <= 8


def test_what_is_shed_is_logged_once_per_interval_not_per_connection() -> None:
    from structlog.testing import capture_logs

    from monop import log

    async def main() -> None:
        evicted: list[str] = []
        server = HttpServer(
            CollectorRegistry(),
            lambda: (True, "ready"),
            "127.0.0.1",
            0,
            max_connections=8,
            report_interval=3600,
            shed=evicted.append,
            log=log.get(),
        )
        async with server:
            clients = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(40)]
            async with asyncio.timeout(5):
                while len(evicted) < 32:  # every client past the eighth pushed one out
                    await asyncio.sleep(0.01)
            for _, writer in clients:
                writer.close()

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(main(), 20))
    shed = [line for line in logs if line["event"] == "http_clients_shed"]
    assert len(shed) == 1  # the stop reports what the interval had not yet
    assert shed[0]["evicted"] == 32 and shed[0]["limit"] == 8
