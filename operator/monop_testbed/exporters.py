"""Debian's real node exporter as a process on loopback, and a GPU stand-in made from it.

No GPU is here, so the NVIDIA exporter cannot run: `GpuStandIn` is the node exporter with
only its textfile collector, serving `nvidia_smi_*` samples written to a `.prom` file, the
names and labels nvidia_gpu_exporter serves. Rewriting the file changes what the next
scrape finds, as a GPU exporter's would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Self

import httpx

from monop_testbed.podman_service import stop_group, wait_for

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

# What nvidia_gpu_exporter (utkuozdemir/nvidia_gpu_exporter) serves for one GPU, in part.
GPU_METRICS = """\
# HELP nvidia_smi_temperature_gpu temperature.gpu
# TYPE nvidia_smi_temperature_gpu gauge
nvidia_smi_temperature_gpu{uuid="GPU-0a1b2c3d"} 64
# HELP nvidia_smi_memory_used_bytes memory.used [MiB]
# TYPE nvidia_smi_memory_used_bytes gauge
nvidia_smi_memory_used_bytes{uuid="GPU-0a1b2c3d"} 2.147483648e+09
# HELP nvidia_smi_memory_total_bytes memory.total [MiB]
# TYPE nvidia_smi_memory_total_bytes gauge
nvidia_smi_memory_total_bytes{uuid="GPU-0a1b2c3d"} 2.5769803776e+10
# HELP nvidia_smi_utilization_gpu_ratio utilization.gpu [%]
# TYPE nvidia_smi_utilization_gpu_ratio gauge
nvidia_smi_utilization_gpu_ratio{uuid="GPU-0a1b2c3d"} 0.31
"""


class NodeExporter:
    """`prometheus-node-exporter` on 127.0.0.1:`port`; `args` replace or add collectors."""

    def __init__(self, base: Path, port: int, args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.port = port
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.args = args
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.base.mkdir(parents=True, exist_ok=True)
        log = (self.base / "exporter.log").open("ab")
        self._process = subprocess.Popen(
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self.ready, 30, f"node exporter on {self.url}", interval=0.1)
        return self

    def ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"node exporter exited: see {self.base / 'exporter.log'}")
        try:
            return httpx.get(self.url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process, timeout=10)
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GpuStandIn(NodeExporter):
    """A node exporter serving only `metrics` (default GPU_METRICS) from its textfile directory."""

    def __init__(self, base: Path, port: int, metrics: str = GPU_METRICS) -> None:
        self.textfiles = base / "textfiles"
        super().__init__(
            base,
            port,
            (
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={self.textfiles}",
            ),
        )
        self.textfiles.mkdir(parents=True, exist_ok=True)
        self.serve(metrics)

    def serve(self, metrics: str) -> None:
        """What the next scrape finds (written whole, then renamed: a scrape never reads half)."""
        part = self.textfiles / "gpu.prom.tmp"
        part.write_text(metrics)
        part.rename(self.textfiles / "gpu.prom")
