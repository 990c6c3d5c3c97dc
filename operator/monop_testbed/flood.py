"""Slow HTTP clients (slowloris) for fault tests: many connections that never finish their headers.

Bounded in count and in time: at most `count` sockets, to a loopback address only, for at most
`duration` seconds; `stop()` (or leaving the `with`) closes every socket.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Self

# A request whose header never ends: after this prefix, one more "a" per tick, forever.
_PREFIX = b"GET /healthz HTTP/1.1\r\nHost: monop\r\nX-Slow: "


class SlowClients:
    """`count` connections to `host:port`, each sending one header byte every `every` seconds.

    A connection the server closes is opened again on the next tick (as an attacker would),
    so the server sees `count` slow clients for the whole `duration` (seconds).
    """

    def __init__(
        self, host: str, port: int, *, count: int = 1100, every: float = 5.0, duration: float = 40.0
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"slow clients only ever target loopback, not {host}")
        self.address = (host, port)
        self.count, self.every, self.duration = count, every, duration
        self.connects = 0  # connections opened, first ones and re-opened ones
        self.dropped = 0  # connections the server closed (or refused)
        self.rounds = 0  # ticks done: every client has sent (or tried) one more byte
        self._sockets: list[socket.socket | None] = [None] * count
        self._sent = [0] * count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for sock in self._sockets:
            if sock is not None:
                sock.close()
        self._sockets = [None] * self.count

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def open(self) -> int:
        return sum(sock is not None for sock in self._sockets)

    def _run(self) -> None:
        deadline = time.monotonic() + self.duration
        while not self._stop.is_set() and time.monotonic() < deadline:
            for i in range(self.count):
                if self._stop.is_set():
                    return
                self._tick(i)
            self.rounds += 1
            self._stop.wait(self.every)

    def _tick(self, i: int) -> None:
        sock = self._sockets[i]
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(self.address)  # in progress: the first byte goes on the next tick
            self._sockets[i], self._sent[i] = sock, 0
            self.connects += 1
            return
        sent = self._sent[i]
        byte = _PREFIX[sent : sent + 1] or b"a"
        try:
            sock.send(byte)
        except BlockingIOError:
            return  # still connecting, or the server reads nothing: try again next tick
        except OSError:
            sock.close()
            self._sockets[i] = None
            self.dropped += 1
            return
        self._sent[i] = sent + 1
