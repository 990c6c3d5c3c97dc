"""A small HTTP/1.1 client of Podman's REST API, from the standard library.

`monop apply`, `status` and `plan` ask Podman only for two lists; podman-py (with requests,
urllib3 and rich) costs a tenth of a second to import, more than the whole answer. This
client serves those reads over the unix socket (or plain TCP) with `http.client`; what
changes containers still goes through podman-py (monop.runtime.podman).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class HTTPStatusError(Exception):
    """Podman answered with a status of 400 or more."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body

    def message(self) -> str:
        """Podman's own `message`, else the body as text."""
        text = self.body.decode("utf-8", "replace").strip()
        try:
            data = json.loads(text)
        except ValueError:
            return text or str(self)
        return str(data.get("message") or text).strip() if isinstance(data, dict) else text


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("podman", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True)
class Rest:
    """Reads from one Podman service; None from `for_url` when the URL is not one it speaks."""

    unix_path: str | None
    host: str
    port: int | None
    timeout: float

    @classmethod
    def for_url(cls, url: str, timeout: float) -> Rest | None:
        """`unix:///path`, `http+unix:///path`, `tcp://host:port` or `http://host:port`; else None."""
        parts = urlsplit(url)
        if parts.scheme in ("unix", "http+unix") and parts.path:
            return cls(parts.path, "podman", None, timeout)
        if parts.scheme in ("tcp", "http") and parts.hostname:
            return cls(None, parts.hostname, parts.port, timeout)
        return None

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `/<version>/libpod<path>`'s JSON body. Raises OSError (the socket, a timeout),
        HTTPStatusError (status 400 or more), ValueError (a body that is not JSON)."""
        query = f"?{urlencode(params)}" if params else ""
        connection = (
            _UnixConnection(self.unix_path, self.timeout)
            if self.unix_path is not None
            else http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        )
        try:
            connection.request("GET", f"/v4.0.0/libpod{path}{query}")
            response = connection.getresponse()
            body = response.read()
        except http.client.HTTPException as err:  # a broken answer is a broken connection
            raise ConnectionError(f"bad answer from Podman: {err!r}") from None
        finally:
            connection.close()
        if response.status >= 400:
            raise HTTPStatusError(response.status, body)
        return json.loads(body) if body.strip() else None
