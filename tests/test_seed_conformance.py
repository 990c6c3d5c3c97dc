"""Containers monop makes from the seed's resources equal what the seed's own `podman run` flags make.

Stand-ins, said plainly: the images are the local metrics server tagged with the public
names (no registry here); there is no GPU, so the NVIDIA device paths on the host are
replaced by /dev/null and friends on both sides; this machine has no /dev/disk, so a
directory stands in for it on both sides; and the Podman socket mounted into cAdvisor is
the test's private one. Everything else is the seed's text. That a minimal CAdvisor
resource expands to exactly these defaults is checked without Podman, in the last test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monop.api.resources import CAdvisorResource, cadvisor_volumes
from monop.desired.loader import load
from monop.reconcile.plan import units
from monop.runtime.expand import expand
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman

CADVISOR_IMAGE = "gcr.io/cadvisor/cadvisor:v0.49.1"
NVIDIA_IMAGE = "docker.io/utkuozdemir/nvidia_gpu_exporter:1.2.1"
NO_GPU = {  # host device paths that exist here, in place of the GPU's
    "/dev/nvidia0:": "/dev/null:",
    "/dev/nvidiactl:": "/dev/zero:",
    "/dev/nvidia-modeset:": "/dev/full:",
    "/dev/nvidia-uvm:": "/dev/random:",
    "/dev/nvidia-uvm-tools:": "/dev/urandom:",
}


def seed_cadvisor(socket: str, disk: str) -> list[str]:
    """The seed's cadvisor: extraOptions, ports and cmd exactly as monitoring.nix has them."""
    return [
        "--privileged",
        "--volume=/:/rootfs:ro",
        "--volume=/var/run:/var/run:ro",
        "--volume=/sys:/sys:ro",
        f"--volume={socket}:/var/run/docker.sock:ro",
        f"--volume={disk}:/dev/disk:ro",
        "--network=host",
        "-p", "8083:8080",
        CADVISOR_IMAGE,
        "--port=8080",
        "--housekeeping_interval=30s",
        "--max_housekeeping_interval=35s",
        "--machine_id_file=/rootfs/etc/machine-id",
        "--allow_dynamic_housekeeping=true",
        "--global_housekeeping_interval=1m0s",
    ]  # fmt: skip


def seed_nvidia() -> list[str]:
    devices = [
        "--device=/dev/nvidia0:/dev/nvidia0:rwm",
        "--device=/dev/nvidiactl:/dev/nvidiactl:rwm",
        "--device=/dev/nvidia-modeset:/dev/nvidia-modeset:rwm",
        "--device=/dev/nvidia-uvm:/dev/nvidia-uvm:rwm",
        "--device=/dev/nvidia-uvm-tools:/dev/nvidia-uvm-tools:rwm",
    ]
    return [
        "--network=host",
        *(no_gpu(d) for d in devices),
        "-e", "NVIDIA_VISIBLE_DEVICES=all",
        "-e", "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
        "-p", "9445:9445",
        NVIDIA_IMAGE,
    ]  # fmt: skip


def no_gpu(text: str) -> str:
    for gpu, here in NO_GPU.items():
        text = text.replace("=" + gpu, "=" + here).replace("- " + gpu, "- " + here)
    return text


def effective(info: dict[str, Any]) -> dict[str, Any]:
    """The settings the issue names, as `podman inspect` shows them."""
    config, host = info["Config"], info["HostConfig"]
    return {
        "privileged": host["Privileged"],
        "mounts": sorted((m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"]),
        "network": host["NetworkMode"],
        "devices": sorted((d["PathOnHost"], d["PathInContainer"]) for d in host["Devices"]),
        "environment": sorted(e for e in config["Env"] if not e.startswith("HOSTNAME=")),
        "ports": host["PortBindings"],
        "command": (config["Entrypoint"], config["Cmd"]),
        "image": config["Image"],
    }


def inspect(service: PodmanService, name: str) -> dict[str, Any]:
    import json

    return effective(json.loads(service.podman("inspect", name).stdout)[0])


@pytest.fixture
def stand_ins(podman_service: PodmanService, podman: object) -> PodmanService:
    images.tag(podman_service, images.METRICS, CADVISOR_IMAGE, NVIDIA_IMAGE)
    return podman_service


def apply(service: PodmanService, desired: Path) -> None:
    env = {**os.environ, "MONOP_PODMAN_URL": service.url}
    result = subprocess.run(
        [sys.executable, "-m", "monop", "apply", "-d", str(desired)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cadvisor_defaults_equal_the_seeds_flags(
    stand_ins: PodmanService, podman: Podman, tmp_path: Path
) -> None:
    socket, disk = str(stand_ins.socket), tmp_path / "dev-disk"
    disk.mkdir()
    volumes = [v.replace("/dev/disk/:", f"{disk}:") for v in cadvisor_volumes(socket)]
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "cadvisor.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: CAdvisor\nmetadata: {name: cadvisor}\n"
        f"spec: {{image: {CADVISOR_IMAGE}, port: 8080, volumes: {volumes}}}\n"
    )
    [cadvisor] = units(load(desired))
    # Created, not started, on both sides: with /var/run mounted read-only, the socket can only be
    # mounted at /var/run/docker.sock where the host has that file, and this machine does not.
    asyncio.run(podman.create(cadvisor.config, cadvisor.labels))
    stand_ins.podman("create", "--name", "seed-cadvisor", *seed_cadvisor(socket, str(disk)))
    monop = inspect(stand_ins, "cadvisor")
    assert monop == inspect(stand_ins, "seed-cadvisor")
    assert monop["ports"] == {}  # the seed's 8083:8080 was discarded: host network


def test_nvidia_exporter_from_desired_equals_the_seeds_flags(
    stand_ins: PodmanService, tmp_path: Path, repo: Path
) -> None:
    text = (repo / "desired" / "nvidia-gpu-exporter.yaml").read_text()
    (tmp_path / "nvidia.yaml").write_text(no_gpu(text))
    assert text != no_gpu(text)
    apply(stand_ins, tmp_path)
    stand_ins.podman("run", "-d", "--name", "seed-nvidia", *seed_nvidia())
    monop, seed = inspect(stand_ins, "nvidia-gpu-exporter"), inspect(stand_ins, "seed-nvidia")
    assert monop == seed
    assert monop["devices"] == [
        ("/dev/full", "/dev/nvidia-modeset"),
        ("/dev/null", "/dev/nvidia0"),
        ("/dev/random", "/dev/nvidia-uvm"),
        ("/dev/urandom", "/dev/nvidia-uvm-tools"),
        ("/dev/zero", "/dev/nvidiactl"),
    ]


def test_a_minimal_cadvisor_resource_expands_to_the_seeds_options() -> None:
    resource = CAdvisorResource.model_validate(
        {
            "apiVersion": "monop.dev/v1alpha1",
            "kind": "CAdvisor",
            "metadata": {"name": "cadvisor"},
            "spec": {"image": CADVISOR_IMAGE, "port": 8080},
        }
    )
    config = expand(resource, Path("/desired"))
    assert (config.network, config.privileged, config.ports) == ("host", True, ())
    assert [str(m) for m in config.mounts] == [
        "/:/rootfs:ro",
        "/var/run:/var/run:ro",
        "/sys:/sys:ro",
        "/run/podman/podman.sock:/var/run/docker.sock:ro",
        "/dev/disk/:/dev/disk:ro",
    ]
    assert config.args == tuple(seed_cadvisor("/s", "/d")[-6:])
