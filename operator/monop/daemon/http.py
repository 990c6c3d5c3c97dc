"""The daemon's small HTTP servers: /metrics, /healthz, /readyz, and routes the daemon adds.

h11 (a sans-IO HTTP/1.1 library, already here with httpx) parses; the event loop's socket calls
carry. One request per connection is all Prometheus, probes and webhooks need. Clients cannot
starve it: at most `max_connections` are open (a quarter of the open-file limit at most, so the
daemon keeps descriptors for Podman, git and its files), a new one pushes out the oldest, and
every request has a deadline for its headers and one for the whole exchange. What it sheds is
counted and logged once per `report_interval`, never once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h11
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_BODY = 1 << 20
MAX_HEADER = 64 * 1024
HEADER_TIMEOUT = 5.0  # seconds from accept to the end of the request's headers
REQUEST_TIMEOUT = 10.0  # seconds from accept to the last byte of the response
MAX_CONNECTIONS = 256
REPORT_INTERVAL = 10.0  # seconds between two `http_clients_shed` lines, at most one per interval
ACCEPT_RETRY = 0.1  # seconds to wait after accept() found no descriptor left
# What the server sheds, by reason: the label values of the metric and the fields of the log line.
SHED_REASONS = ("evicted", "header_timeout", "request_timeout", "accept_failed")
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    query: str = ""  # what follows `?` in the target, undecoded


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "text/plain; charset=utf-8"})


def text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]
Shed = Callable[[str], object]  # called with a SHED_REASONS value for each connection shed


def connection_limit(wanted: int = MAX_CONNECTIONS) -> int:
    """`wanted`, but at most a quarter of this process's soft RLIMIT_NOFILE (and at least 8)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft // 4))


class Listener:
    """Serves the routes added to it on `host:port` (port 0: any free one, see `.port`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int | None = None,
        header_timeout: float = HEADER_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        report_interval: float = REPORT_INTERVAL,
        shed: Shed | None = None,
        log: Any = None,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self.host, self.port = host.strip("[]"), port
        self._on_error = on_error  # told of a handler's unexpected exception; the connection is closed
        self.max_connections = max_connections or connection_limit()
        self.header_timeout, self.request_timeout = header_timeout, request_timeout
        self.report_interval = report_interval
        self._shed_hook = shed
        self._log = log
        self._routes: dict[tuple[str, str], Handler] = {}
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Open connections, oldest first (dicts keep insertion order): the oldest goes first.
        self._connections: dict[asyncio.Task[None], None] = {}
        self._shed_counts = dict.fromkeys(SHED_REASONS, 0)

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method, path)] = handler

    async def start(self) -> None:
        """Listen; raises OSError as bind() does (EADDRINUSE: the port is taken)."""
        family, kind, proto, _name, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(min(socket.SOMAXCONN, 1024))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._tasks = [
            asyncio.create_task(self._accept_loop(), name=f"http-accept-{self.port}"),
            asyncio.create_task(self._report_loop(), name=f"http-report-{self.port}"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._connections]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._report()

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # -- connections -------------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _peer = await loop.sock_accept(self._sock)
            except OSError as err:
                if err.errno not in _OUT_OF_RESOURCES:
                    continue  # the client gave up before we took it (ECONNABORTED, ...)
                self._count("accept_failed")
                await asyncio.sleep(ACCEPT_RETRY)  # the connection waits in the backlog meanwhile
                continue
            conn.setblocking(False)
            while len(self._connections) >= self.max_connections:
                oldest = next(iter(self._connections))
                del self._connections[oldest]  # its task closes the socket when it runs
                oldest.cancel()
                self._count("evicted")
            task = asyncio.create_task(self._connection(conn))
            self._connections[task] = None

    async def _connection(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout_at(started + self.request_timeout):
                await self._serve(conn, started + self.header_timeout)
        except _HeaderTimeout:
            self._count("header_timeout")
        except TimeoutError:
            self._count("request_timeout")
        except (ConnectionError, h11.RemoteProtocolError):
            pass  # a client that went away or spoke nonsense costs nothing more
        except Exception as err:  # a bug in a handler: said, and the server goes on serving
            if self._on_error is not None:
                self._on_error(err)
        finally:
            self._connections.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            conn.close()

    async def _serve(self, conn: socket.socket, header_deadline: float) -> None:
        loop = asyncio.get_running_loop()
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                if request is None:
                    try:
                        async with asyncio.timeout_at(header_deadline):
                            data = await loop.sock_recv(conn, 65536)
                    except TimeoutError:
                        raise _HeaderTimeout from None
                else:
                    data = await loop.sock_recv(conn, 65536)
                parser.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    await self._send(parser, conn, text(413, "request body too large"))
                    return
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if request is None:
            return
        await self._send(parser, conn, await self._dispatch(request, bytes(body)))

    async def _dispatch(self, request: h11.Request, body: bytes) -> Response:
        method = request.method.decode()
        path, _, query = request.target.decode().partition("?")
        handler = self._routes.get((method, path))
        if handler is None:
            allowed = [m for m, p in self._routes if p == path]
            if allowed:
                return Response(405, b"method not allowed\n", {"allow": ", ".join(allowed)})
            return text(404, "not found")
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in request.headers}
        return await handler(Request(method, path, headers, body, query))

    @staticmethod
    async def _send(parser: h11.Connection, conn: socket.socket, response: Response) -> None:
        headers = [
            *response.headers.items(),
            ("content-length", str(len(response.body))),
            ("connection", "close"),
        ]
        loop = asyncio.get_running_loop()
        data = parser.send(h11.Response(status_code=response.status, headers=headers))
        data += parser.send(h11.Data(data=response.body)) or b""
        data += parser.send(h11.EndOfMessage()) or b""
        await loop.sock_sendall(conn, data or b"")

    # -- what was shed -------------------------------------------------------------------------

    def _count(self, reason: str) -> None:
        self._shed_counts[reason] += 1
        if self._shed_hook is not None:
            self._shed_hook(reason)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            self._report()

    def _report(self) -> None:
        """One log line for everything shed since the last one, if anything was."""
        counts, self._shed_counts = self._shed_counts, dict.fromkeys(SHED_REASONS, 0)
        if not any(counts.values()):
            return
        log = self._log
        if log is None:
            from monop import log as logging

            log = logging.get()
        log.warning(
            "http_clients_shed",
            address=f"{self.host}:{self.port}",
            open=len(self._connections),
            limit=self.max_connections,
            **counts,
        )


class _HeaderTimeout(Exception):
    """The request's headers did not all arrive by the header deadline."""


class HttpServer(Listener):
    """Serves the registry and the probes on `host:port` (port 0: any free one, see `.port`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], tuple[bool, str]],
        host: str = "127.0.0.1",
        port: int = 9469,
        **limits: Any,
    ) -> None:
        super().__init__(host, port, **limits)

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
