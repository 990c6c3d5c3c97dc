"""A private `podman system service`: its own storage, run dir and socket, never the system's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "podman" / "containers.conf"


def wait_for(condition: object, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `condition()` until it is true or `timeout` seconds pass; then fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group `process` leads, then SIGKILL it if it outlives `timeout`."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class PodmanService:
    """`podman system service` on a socket in `base`, with storage in `base` too."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = base / "podman.sock"
        self.url = f"unix://{self.socket}"
        # Each service has its own containers.conf, so that its networks live in its own
        # directory: /etc/cni/net.d is shared with every other Podman user of this host.
        self.containers_conf = base / "containers.conf"
        self.network_dir = base / "networks"
        self.env = {**os.environ, "CONTAINERS_CONF": str(self.containers_conf)}
        self.flags = [
            "--root", str(base / "root"),
            "--runroot", str(base / "run"),
            "--tmpdir", str(base / "tmp"),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None
        self.keep: frozenset[str] = frozenset()  # IDs of the host's own containers (lived_in)

    def _write_conf(self) -> None:
        if self.containers_conf.exists():
            return
        self.network_dir.mkdir(parents=True, exist_ok=True)
        self.containers_conf.write_text(
            CONTAINERS_CONF.read_text() + f'\n[network]\nnetwork_config_dir = "{self.network_dir}"\n'
        )

    def podman(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI against this service's storage."""
        self._write_conf()
        return subprocess.run(
            ["podman", *self.flags, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def start(self) -> Self:
        self.base.mkdir(parents=True, exist_ok=True)
        self._write_conf()
        self.socket.unlink(missing_ok=True)
        log = (self.base / "service.log").open("ab")
        self._process = subprocess.Popen(
            ["podman", *self.flags, "system", "service", "--time=0", self.url],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self.answers, 30, f"Podman's API on {self.socket}")
        return self

    def answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"podman system service exited: see {self.base / 'service.log'}")
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket))
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.")
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the service (containers keep running, as when Podman's service restarts)."""
        if self._process is None:
            return
        stop_group(self._process, timeout=10)
        self._process = None

    def remove_all_containers(self) -> None:
        self.podman("rm", "--all", "--force", "--time", "0", check=False)

    def containers(self) -> list[dict[str, Any]]:
        """`podman ps -a` as JSON, without the host's own containers (`keep`)."""
        listed = json.loads(self.podman("ps", "-a", "--format", "json").stdout or "[]")
        return [c for c in listed if c["Id"] not in self.keep]

    def remove_test_containers(self) -> None:
        """Remove every container but the host's own (`keep`): what tests made, nothing else."""
        listed = self.podman("ps", "-a", "--no-trunc", "--format", "{{.ID}}", check=False).stdout.split()
        made = [cid for cid in listed if cid not in self.keep]
        if made:
            self.podman("rm", "--force", "--time", "0", *made, check=False)

    def destroy(self) -> None:
        """Stop the service, remove every container and all storage."""
        self.stop()
        self.remove_all_containers()
        self.podman("system", "reset", "--force", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
