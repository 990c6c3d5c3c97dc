"""A real Alertmanager (Debian's 0.25) on loopback with its own data directory, and a webhook that records.

`AlertmanagerServer` runs `prometheus-alertmanager` on a free port, clustering off, reading
the config file monop writes. `WebhookRecorder` is a small HTTP server that keeps every
notification POSTed to it (path and JSON body), for tests that need a real receiver.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx

from monop_testbed.podman_service import stop_group, wait_for
from monop_testbed.prometheus_server import free_port

BINARY = "prometheus-alertmanager"  # Debian's name; upstream's is `alertmanager`
MINIMAL = "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n"


def binary() -> str | None:
    return shutil.which(BINARY) or shutil.which("alertmanager")


class AlertmanagerServer:
    """Alertmanager reading `config` (written with a minimal config first when missing)."""

    def __init__(self, base: Path, config: Path | None = None, port: int | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config or base / "alertmanager.yml"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.config.exists():
            self.config.write_text(MINIMAL)
        program = binary()
        if program is None:
            raise RuntimeError(f"{BINARY} is not installed (Debian: prometheus-alertmanager)")
        log = (self.base / "alertmanager.log").open("ab")
        self._process = subprocess.Popen(
            [
                program,
                f"--config.file={self.config}",
                f"--storage.path={self.base / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port: tests run side by side
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self.ready, 60, f"Alertmanager ready on {self.url}", interval=0.1)
        return self

    def ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: see {self.base / 'alertmanager.log'}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.base / "alertmanager.log").read_text(errors="replace")

    def running_config(self) -> str:
        status = httpx.get(f"{self.url}/api/v2/status", timeout=5).json()
        original: str = status["config"]["original"]
        return original

    def stop(self) -> None:
        if self._process is None:
            return
        stop_group(self._process, timeout=20)
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookRecorder:
    """An HTTP server on 127.0.0.1 keeping each POST it gets: `(path, JSON body)`, in order."""

    def __init__(self, status: int = 200, port: int = 0) -> None:
        self.status = status
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body or b"{}")
                except ValueError:
                    parsed = {"raw": body.decode(errors="replace")}
                with recorder._lock:
                    recorder.received.append((self.path, parsed))
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: pytest shows what the test asserts

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def alerts(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every notification received (at `path` only, if given)."""
        with self._lock:
            got = list(self.received)
        return [a for p, body in got if path in (None, p) for a in body.get("alerts", [])]

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
