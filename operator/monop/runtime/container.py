"""The fully resolved container a resource expands to: what monop asks Podman to run.

Every default is already applied here, so the planner, the hash and the Podman
adapter all see the same values and never re-derive them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Protocol = Literal["tcp", "udp", "sctp"]
RestartPolicy = Literal["no", "always", "on-failure", "unless-stopped"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


@dataclass(frozen=True, order=True)
class PortMapping:
    """One published port: `hostIP:hostPort:containerPort/protocol`."""

    container_port: int
    host_port: int
    protocol: Protocol = "tcp"
    host_ip: str = ""

    def __str__(self) -> str:
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{self.host_port}:{self.container_port}/{self.protocol}"


@dataclass(frozen=True, order=True)
class Mount:
    """A bind mount of a host path into the container."""

    source: str
    target: str
    read_only: bool = False

    def __str__(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True, order=True)
class Device:
    """A host device made visible in the container, with cgroup permissions."""

    host_path: str
    container_path: str
    permissions: str = "rwm"

    def __str__(self) -> str:
        return f"{self.host_path}:{self.container_path}:{self.permissions}"


@dataclass(frozen=True)
class Healthcheck:
    """Podman's healthcheck; `test` is the argv (CMD form) or a shell string (CMD-SHELL)."""

    test: tuple[str, ...]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0


@dataclass(frozen=True)
class ContainerConfig:
    """Everything Podman needs to create the container of one resource.

    `command` overrides the image's entrypoint and `args` its cmd, as in Kubernetes.
    `None` for either means "the image's own". `labels` are the user's labels;
    monop's ownership labels are added by the Podman adapter, not here.
    """

    name: str
    image: str
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortMapping, ...] = ()
    mounts: tuple[Mount, ...] = ()
    devices: tuple[Device, ...] = ()
    network: str = "bridge"
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    user: str | None = None
    restart_policy: RestartPolicy = "no"
    healthcheck: Healthcheck | None = None
    labels: tuple[tuple[str, str], ...] = ()
    memory_bytes: int | None = None
    cpus: float | None = None
    pull_policy: PullPolicy = "IfNotPresent"
    extra_hosts: tuple[str, ...] = field(default=())
    # How a stop asks: seconds before SIGKILL, the signal as a number, an init as PID 1.
    # None and False mean Podman's own (10 s, the image's STOPSIGNAL, no init).
    stop_timeout_s: int | None = None
    stop_signal: int | None = None
    init: bool = False


# Fields added after containers were made without them: left out of the spec hash and the
# stored record while at these defaults, so an upgrade of monop recreates nothing.
LATER_DEFAULTS: dict[str, object] = {"stop_timeout_s": None, "stop_signal": None, "init": False}


def without_later_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """`dataclasses.asdict(config)` minus the later fields still at their defaults."""
    return {k: v for k, v in data.items() if not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}
