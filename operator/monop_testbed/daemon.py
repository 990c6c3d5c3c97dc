"""`monop run` as a real process, watched the way systemd and an operator would watch it.

It gets its own NOTIFY_SOCKET (a datagram socket we read, as systemd does), its own state
directory, and a metrics port the kernel picks; its JSON log lines are collected as they come.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self

import httpx

from monop_testbed.podman_service import wait_for


class DaemonProcess:
    def __init__(
        self,
        podman_url: str,
        desired: Path,
        state_dir: Path,
        *,
        resync_interval: str = "30s",
        debounce: str = "0.3s",
        extra_env: dict[str, str] | None = None,
        nofile: int | None = None,
    ) -> None:
        self.desired = desired
        self.nofile = nofile  # RLIMIT_NOFILE of the daemon (systemd's default soft limit is 1024)
        self.state_dir = state_dir
        self.env = {
            **os.environ,
            "MONOP_PODMAN_URL": podman_url,
            "MONOP_RESYNC_INTERVAL": resync_interval,
            "MONOP_DEBOUNCE": debounce,
            "MONOP_SD_DIR": str(state_dir / "file_sd"),
            "MONOP_RULES_DIR": str(state_dir / "rules"),
            "MONOP_GRAFANA_DIR": str(state_dir / "grafana"),
            **(extra_env or {}),
        }
        self.notifications: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self.process: subprocess.Popen[str] | None = None
        self._notify: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        address = "\0" + f"monop-notify-{os.getpid()}-{id(self)}"
        self._notify.bind(address)
        self._notify.settimeout(0.1)  # the reader checks for stop() this often
        env = {**self.env, "NOTIFY_SOCKET": "@" + address[1:]}
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "monop", "run",
                "--desired", str(self.desired),
                "--state-dir", str(self.state_dir),
                "--metrics-address", "127.0.0.1:0",
                "--log-format", "json",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=None if self.nofile is None else self._limit_files,
        )  # fmt: skip
        self._threads = [
            threading.Thread(target=self._read_notifications, daemon=True),
            threading.Thread(target=self._read_logs, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _limit_files(self) -> None:
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def wait_ready(self, timeout: float = 30) -> Self:
        wait_for(lambda: self.notified("READY=1") or not self.alive, timeout, "READY=1 from monop run")
        if not self.alive:
            raise RuntimeError(f"monop run exited with {self.returncode}: {self.stderr_tail()}")
        return self

    def send(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the daemon and wait for it; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise
        finally:
            self._closing.set()
            for thread in self._threads:
                thread.join(5)
            if self._notify is not None:
                self._notify.close()
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    # -- what it tells us --------------------------------------------------------------------

    def notified(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for n in list(self.notifications) for line in n.split("\n"))

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """Log lines whose `event` is `name` and whose fields include `fields`."""
        return [
            line
            for line in list(self.logs)
            if line.get("event") == name and all(line.get(k) == v for k, v in fields.items())
        ]

    def wait_event(self, name: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        """The first log line `name` with `fields`, once it comes; on timeout, fail showing the log."""
        try:
            wait_for(
                lambda: self.events(name, **fields), timeout, f"log event {name} {fields}", interval=0.05
            )
        except TimeoutError as err:
            raise TimeoutError(f"{err}; the daemon's last log lines:\n{self.stderr_tail(30)}") from None
        return self.events(name, **fields)[0]

    @property
    def base_url(self) -> str:
        wait_for(lambda: self.events("daemon_started"), 30, "monop run to log daemon_started")
        url: str = self.events("daemon_started")[0]["metrics"]
        return url.removesuffix("/metrics")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10)

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one sample on /metrics, or None if there is no such sample."""
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.get("/metrics").text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return None

    def monop(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `monop` command run beside this daemon: its settings, its state directory."""
        return subprocess.run(
            [sys.executable, "-m", "monop", *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def status(self) -> tuple[int, dict[str, Any]]:
        """`monop status --json` of this daemon's desired state and state directory: exit code, output."""
        done = self.monop("status", "--json", "-d", str(self.desired))
        return done.returncode, json.loads(done.stdout) if done.stdout else {"stderr": done.stderr}

    def tracebacks(self) -> int:
        """Log lines carrying a Python traceback (structlog's `exception` field, or raw text)."""
        return sum(
            1
            for line in list(self.logs)
            if "exception" in line or "Traceback (most recent call last)" in str(line.get("text", ""))
        )

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(json.dumps(line) for line in self.logs[-lines:])

    def _read_notifications(self) -> None:
        assert self._notify is not None
        while not self._closing.is_set():
            try:
                data = self._notify.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.notifications.append(data.decode())

    def _read_logs(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "unparsed", "text": raw.rstrip("\n")}
            self.logs.append(line if isinstance(line, dict) else {"event": "unparsed", "text": raw})
