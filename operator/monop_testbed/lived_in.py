"""A lived-in Podman: what a real host holds beside monop's containers, for tests to run among.

`furnish` gives a fresh PodmanService the leftovers of other users: a network from
`podman network create`, one a compose project left (`proj_default`, compose's labels), a
pod from `podman kube play` with its `podman-default-kube-network` (the pause image is
built locally by Podman from Debian's `catatonit`), running and stopped containers of
nobody in particular, containers whose labels look like monop's but are not, and one of
another monop instance. Tests
must leave all of it as they found it: `Residents.changes` says what they touched.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from monop_testbed import images
from monop_testbed.podman_service import PodmanService

KUBE_NETWORK = "podman-default-kube-network"
COMPOSE_NETWORK = "proj_default"
EXTRA_NETWORK = "extra"
SLEEP = ("/bin/sleep", "100000")  # kube play sets no PATH: spell the binary out

_KUBE = f"""apiVersion: v1
kind: Pod
metadata:
  name: hostapp
  labels:
    app: hostapp
spec:
  containers:
  - name: web
    image: {images.BUSYBOX}
    command: {json.dumps(list(SLEEP))}
  - name: sidecar
    image: {images.BUSYBOX}
    command: {json.dumps(list(SLEEP))}
"""

# name -> `podman run`/`create` arguments before the image; "create:" makes it and never starts it.
_CONTAINERS: dict[str, tuple[str, ...]] = {
    "host-sleeper": (),
    "extra-sleeper": ("--network", EXTRA_NETWORK),
    "proj-web-1": (
        "--network", COMPOSE_NETWORK,
        "--label", "com.docker.compose.project=proj",
        "--label", "com.docker.compose.service=web",
        "--label", "com.docker.compose.container-number=1",
        "--label", "com.docker.compose.oneoff=False",
    ),
    # Labels that look like monop's and are not: never monop's to change.
    "lookalike-other-manager": (
        "--label", "monop.dev/managed-by=someone-else",
        "--label", "monop.dev/kind=Exporter",
        "--label", "monop.dev/name=node-exporter",
    ),
    "lookalike-unmanaged": ("--label", "monop.dev/kind=Exporter", "--label", "monop.dev/name=node-exporter"),
    # Another monop instance's: monop's own labels, another instance's name.
    "other-instance-exporter": (
        "--label", "monop.dev/managed-by=monop",
        "--label", "monop.dev/instance=elsewhere",
        "--label", "monop.dev/kind=Exporter",
        "--label", "monop.dev/name=other-instance-exporter",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Residents:
    """What the host held before the tests: container ID -> (name, state), pods, networks."""

    containers: Mapping[str, tuple[str, str]]
    pods: frozenset[str]
    networks: frozenset[str]

    def changes(self, service: PodmanService) -> list[str]:
        """What differs now from then, one line per change; empty when the host is untouched."""
        now = snapshot(service)
        out = [
            f"container {name} ({cid[:12]}): {state} -> {now.containers.get(cid, (name, 'gone'))[1]}"
            for cid, (name, state) in sorted(self.containers.items())
            if now.containers.get(cid) != (name, state)
        ]
        out += [f"pod {pod}: gone" for pod in sorted(self.pods - now.pods)]
        out += [f"network {net}: gone" for net in sorted(self.networks - now.networks)]
        return out


def snapshot(service: PodmanService) -> Residents:
    listed = json.loads(service.podman("ps", "-a", "--format", "json").stdout or "[]")
    pods = json.loads(service.podman("pod", "ps", "--format", "json").stdout or "[]")
    networks = service.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    return Residents(
        {c["Id"]: (c["Names"][0], c["State"]) for c in listed},
        frozenset(p["Id"] for p in pods),
        frozenset(networks),
    )


def _free_subnets(count: int) -> list[str]:
    """`count` /24 subnets of 10.213.0.0/16 that no interface of this host is on."""
    shown = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    used = {
        ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
        for link in json.loads(shown or "[]")
        for a in link.get("addr_info", [])
    }
    free = (
        str(net)
        for net in ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=24)
        if net.network_address.packed[2] and not any(net.overlaps(u) for u in used)
    )
    return [next(free) for _ in range(count)]


def furnish(service: PodmanService) -> Residents:
    """Fill `service` as a lived-in host; its residents are kept by `remove_test_containers`."""
    # Subnets far from Podman's defaults and free on this host: a bridge another private Podman
    # (or a run that was killed) left behind keeps its subnet, and Podman refuses to reuse it.
    extra, compose = _free_subnets(2)
    service.podman("network", "create", "--subnet", extra, EXTRA_NETWORK)
    service.podman(
        "network", "create", "--subnet", compose,
        "--label", "com.docker.compose.project=proj",
        "--label", "com.docker.compose.network=default",
        "--label", "com.docker.compose.version=2.20.2",
        COMPOSE_NETWORK,
    )  # fmt: skip
    kube = service.base / "hostapp.yaml"
    kube.write_text(_KUBE)
    service.podman("kube", "play", str(kube))
    for name, args in _CONTAINERS.items():
        service.podman("run", "-d", "--name", name, *args, images.BUSYBOX, *SLEEP)
    # Stopped leftovers: one never started, one that ran and exited.
    service.podman("create", "--name", "leftover-created", images.BUSYBOX, *SLEEP)
    service.podman("run", "--name", "leftover-exited", images.BUSYBOX, "/bin/sh", "-c", "exit 3", check=False)
    residents = snapshot(service)
    service.keep = frozenset(residents.containers)
    return residents
