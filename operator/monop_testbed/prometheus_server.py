"""A real Prometheus (Debian's) on loopback, with its own data directory, reading monop's files."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from monop_testbed.podman_service import stop_group, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """`prometheus` with `scrape_configs` given, `rule_files` from `rules_dir`, lifecycle API on."""

    def __init__(
        self,
        base: Path,
        scrape_configs: list[dict[str, Any]],
        rules_dir: Path | None = None,
        scrape_interval: str = "1s",
        port: int | None = None,
    ) -> None:
        self.base = base
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = base / "prometheus.yml"
        self.rules_dir = rules_dir
        self.scrape_configs = scrape_configs
        self.scrape_interval = scrape_interval
        self._process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "scrape_configs": self.scrape_configs,
        }
        if self.rules_dir is not None:
            config["rule_files"] = [str(self.rules_dir / "*.yml")]
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self) -> Self:
        self.base.mkdir(parents=True, exist_ok=True)
        self.write_config()
        log = (self.base / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.base / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self.ready, 60, f"Prometheus ready on {self.url}", interval=0.1)
        return self

    def ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"prometheus exited: see {self.base / 'prometheus.log'}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        stop_group(self._process, timeout=20)
        self._process = None

    def targets(self) -> list[dict[str, Any]]:
        data = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
        active: list[dict[str, Any]] = data["data"]["activeTargets"]
        return active

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
