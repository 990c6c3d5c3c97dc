"""The daemon's small HTTP server: /metrics, /healthz, /readyz, and routes the daemon adds.

h11 (a sans-IO HTTP/1.1 library, already here with httpx) parses; asyncio streams carry.
One request per connection keeps it simple and is all Prometheus and probes need.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import h11
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_BODY = 1 << 20
READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "text/plain; charset=utf-8"})


def text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """Serves the registry and the probes on `host:port` (port 0: any free one, see `.port`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], tuple[bool, str]],
        host: str = "127.0.0.1",
        port: int = 9469,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._on_error = on_error  # told of a handler's unexpected exception; the connection is closed
        self._routes: dict[tuple[str, str], Handler] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

        async def metrics(_: Request) -> Response:
            return Response(200, generate_latest(registry), {"content-type": CONTENT_TYPE_LATEST})

        async def healthz(_: Request) -> Response:
            return text(200, "ok")

        async def readyz(_: Request) -> Response:
            ok, why = ready()
            return text(200 if ok else 503, why)

        self.add_route("GET", "/metrics", metrics)
        self.add_route("GET", "/healthz", healthz)
        self.add_route("GET", "/readyz", readyz)

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method, path)] = handler

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, h11.RemoteProtocolError):
            pass  # a client that went away or spoke nonsense costs nothing more
        except Exception as err:  # a bug in a handler: said, and the server goes on serving
            if self._on_error is not None:
                self._on_error(err)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), READ_TIMEOUT)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    await self._send(conn, writer, text(413, "request body too large"))
                    return
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if request is None:
            return
        await self._send(conn, writer, await self._dispatch(request, bytes(body)))

    async def _dispatch(self, request: h11.Request, body: bytes) -> Response:
        method, path = request.method.decode(), request.target.decode().split("?", 1)[0]
        handler = self._routes.get((method, path))
        if handler is None:
            allowed = [m for m, p in self._routes if p == path]
            if allowed:
                return Response(405, b"method not allowed\n", {"allow": ", ".join(allowed)})
            return text(404, "not found")
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in request.headers}
        return await handler(Request(method, path, headers, body))

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, response: Response) -> None:
        headers = [
            *response.headers.items(),
            ("content-length", str(len(response.body))),
            ("connection", "close"),
        ]
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
        writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
