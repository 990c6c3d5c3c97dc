"""The create request monop builds: each field reaches the container, and nothing else is sent.

Every real-Podman test here runs with extra networks present (as on any host where
`podman network create` or compose ran): Podman must not read any field of the request as
"some network", which podman-py's `"cni_networks": [null]` made it do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monop.runtime.container import ContainerConfig, Device, Healthcheck, Mount, PortMapping
from monop.runtime.createspec import create_spec
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman

NAMED = "monop-test-named"
EXTRA = ("monop-test-extra", NAMED)


def config(**fields: Any) -> ContainerConfig:
    fields.setdefault("name", "spec")
    fields.setdefault("image", images.BUSYBOX)
    fields.setdefault("args", ("sleep", "600"))
    return ContainerConfig(**fields)


@pytest.fixture
def extra_networks(podman_service: PodmanService) -> Iterator[None]:
    """Two more networks than the default one; removed after the test if this test made them."""
    have = set(podman_service.podman("network", "ls", "--format", "{{.Name}}").stdout.split())
    made = [name for name in EXTRA if name not in have]
    for name in made:
        podman_service.podman("network", "create", name)
    yield
    for name in made:
        podman_service.podman("network", "rm", "--force", name, check=False)


def create_and_inspect(podman: Podman, cfg: ContainerConfig, start: bool = True) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        await podman.create(cfg, {"monop.dev/managed-by": "monop"})
        if start:
            await podman.start(cfg.name)
        return await podman.inspect(cfg.name)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("network", "mode", "networks"),
    [
        (None, "bridge", {"podman"}),
        ("bridge", "bridge", {"podman"}),
        (NAMED, "bridge", {NAMED}),
        ("host", "host", set()),
        ("none", "none", set()),
    ],
    ids=["unset", "bridge", "named", "host", "none"],
)
def test_every_network_mode_creates_and_runs_beside_other_networks(
    podman: Podman, extra_networks: None, network: str | None, mode: str, networks: set[str]
) -> None:
    cfg = config() if network is None else config(network=network)
    info = create_and_inspect(podman, cfg)
    assert info["State"]["Status"] == "running"
    assert info["HostConfig"]["NetworkMode"] == mode
    assert set(info["NetworkSettings"].get("Networks") or {}) == networks


def _ports(info: dict[str, Any]) -> object:
    return info["HostConfig"]["PortBindings"]


# Each field alone, its value, and what inspect shows for it.
FIELDS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], object], object]] = {
    "command": (
        {"command": ("/bin/sh", "-c"), "args": ("sleep 600",)},
        # Podman 4.3's inspect joins the entrypoint with spaces.
        lambda i: (i["Config"]["Entrypoint"] in ("/bin/sh -c", ["/bin/sh", "-c"]), i["Config"]["Cmd"]),
        (True, ["sleep 600"]),
    ),
    "args": ({"args": ("sleep", "601")}, lambda i: i["Config"]["Cmd"], ["sleep", "601"]),
    "env": (
        {"env": (("A", "1"), ("B", "two words"))},
        lambda i: {"A=1", "B=two words"} <= set(i["Config"]["Env"]),
        True,
    ),
    "ports": (
        {"ports": (PortMapping(80, 19981, "tcp", "127.0.0.1"), PortMapping(53, 19953, "udp"))},
        _ports,
        {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "19981"}],
            "53/udp": [{"HostIp": "", "HostPort": "19953"}],
        },
    ),
    "mounts": (
        {"mounts": (Mount("/etc/hostname", "/h", True), Mount("/tmp", "/t", False))},
        lambda i: sorted((m["Source"], m["Destination"], m["RW"]) for m in i["Mounts"]),
        [("/etc/hostname", "/h", False), ("/tmp", "/t", True)],
    ),
    "devices": (
        {"devices": (Device("/dev/null", "/dev/gpu0", "rwm"),)},
        lambda i: [(d["PathOnHost"], d["PathInContainer"]) for d in i["HostConfig"]["Devices"]],
        [("/dev/null", "/dev/gpu0")],
    ),
    "privileged": ({"privileged": True}, lambda i: i["HostConfig"]["Privileged"], True),
    "cap_add": (
        {"cap_add": ("CAP_NET_ADMIN",)},
        lambda i: "CAP_NET_ADMIN" in i["HostConfig"]["CapAdd"],
        True,
    ),
    "cap_drop": ({"cap_drop": ("CAP_MKNOD",)}, lambda i: "CAP_MKNOD" in i["HostConfig"]["CapDrop"], True),
    "user": ({"user": "65534:65534"}, lambda i: i["Config"]["User"], "65534:65534"),
    "restart_policy": (
        {"restart_policy": "unless-stopped"},
        lambda i: i["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped",
    ),
    "healthcheck": (
        {"healthcheck": Healthcheck(("CMD", "true"), 7, 2, 4, 1.5)},
        lambda i: i["Config"]["Healthcheck"],
        {
            "Test": ["CMD", "true"],
            "Interval": 7 * 10**9,
            "Timeout": 2 * 10**9,
            "Retries": 4,
            "StartPeriod": 1_500_000_000,
        },
    ),
    "labels": ({"labels": (("team", "obs"),)}, lambda i: i["Config"]["Labels"]["team"], "obs"),
    "memory_bytes": ({"memory_bytes": 32 * 2**20}, lambda i: i["HostConfig"]["Memory"], 32 * 2**20),
    "cpus": (
        {"cpus": 0.25},
        lambda i: (i["HostConfig"]["CpuPeriod"], i["HostConfig"]["CpuQuota"]),
        (100_000, 25_000),
    ),
    "extra_hosts": (
        {"extra_hosts": ("metrics.local:10.1.2.3", "v6.local:::1")},
        lambda i: i["HostConfig"]["ExtraHosts"],
        ["metrics.local:10.1.2.3", "v6.local:::1"],
    ),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_field_reaches_the_container(podman: Podman, extra_networks: None, field: str) -> None:
    fields, read, expected = FIELDS[field]
    info = create_and_inspect(podman, config(**fields), start=False)
    assert read(info) == expected


def test_fields_left_unset_get_podmans_defaults(podman: Podman, extra_networks: None) -> None:
    info = create_and_inspect(podman, config())
    host = info["HostConfig"]
    assert (host["Privileged"], host["Memory"], host["CpuQuota"], host["Devices"]) == (False, 0, 0, [])
    assert host["RestartPolicy"]["Name"] in ("", "no")
    assert "Healthcheck" not in info["Config"] or not info["Config"]["Healthcheck"]
    image_labels = {"monop.test/digest"}  # the stand-in images carry this one
    assert set(info["Config"]["Labels"]) - image_labels == {"monop.dev/managed-by"}


def test_a_config_with_nothing_set_sends_only_what_names_the_container() -> None:
    assert create_spec(config(args=None), {"monop.dev/managed-by": "monop"}) == {
        "image": images.BUSYBOX,
        "name": "spec",
        "labels": {"monop.dev/managed-by": "monop"},
        "restart_policy": "no",
        "netns": {"nsmode": "bridge"},
    }


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_field_adds_only_its_own_keys(field: str) -> None:
    base = set(create_spec(config(), {}))
    fields = FIELDS[field][0]
    added = set(create_spec(config(**fields), {})) - base
    expected = {
        "command": {"entrypoint"},
        "args": set(),  # `config()` already sets args
        "env": {"env"},
        "ports": {"portmappings"},
        "mounts": {"mounts"},
        "devices": {"devices"},
        "privileged": {"privileged"},
        "cap_add": {"cap_add"},
        "cap_drop": {"cap_drop"},
        "user": {"user"},
        "restart_policy": set(),
        "healthcheck": {"healthconfig"},
        "labels": set(),
        "memory_bytes": {"resource_limits"},
        "cpus": {"resource_limits"},
        "extra_hosts": {"hostadd"},
    }[field]
    assert added == expected
    assert "cni_networks" not in create_spec(config(**fields), {})


def test_a_mount_source_is_taken_as_written(podman: Podman, tmp_path: Path, extra_networks: None) -> None:
    odd = tmp_path / "with space,comma"
    odd.mkdir()
    info = create_and_inspect(podman, config(mounts=(Mount(str(odd), "/data", True),)), start=False)
    assert [(m["Source"], m["RW"]) for m in info["Mounts"]] == [(str(odd), False)]
