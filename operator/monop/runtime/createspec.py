"""The body of libpod's `POST /containers/create`, built from a ContainerConfig by monop itself.

The shape is libpod's SpecGenerator (Podman's API reference, "ContainerCreateLibpod",
`pkg/specgen/specgen.go`). Only fields monop means are sent: a field Podman reads
differently than intended is a fault on some host, as podman-py's `"cni_networks": [null]`
was ("more than one result for network ID" wherever a second network exists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monop.runtime.container import ContainerConfig

_NS = 1_000_000_000
# What `podman run --cpus` does: a quota over the default 100 ms period (microseconds).
_CPU_PERIOD_US = 100_000
# Network modes that are a network namespace of their own, not a network to join.
NAMESPACE_MODES = frozenset({"host", "none", "bridge", "private"})

Spec = dict[str, Any]


def create_spec(config: ContainerConfig, labels: Mapping[str, str]) -> Spec:
    """The SpecGenerator JSON object for `config`, with `labels` (monop's) over the user's.

    Each part below adds the fields of one concern and nothing for a value left unset, so
    Podman applies its own default exactly where the desired state says nothing.
    """
    spec: Spec = {
        "image": config.image,
        "name": config.name,
        "labels": {**dict(config.labels), **labels},
        "restart_policy": config.restart_policy,
    }
    for part in _PARTS:
        spec.update(part(config))
    return spec


def _process(config: ContainerConfig) -> Spec:
    out: Spec = {}
    if config.command is not None:
        out["entrypoint"] = list(config.command)
    if config.args is not None:
        out["command"] = list(config.args)
    if config.env:
        out["env"] = dict(config.env)
    if config.user is not None:
        out["user"] = config.user
    return out


def _network(config: ContainerConfig) -> Spec:
    if config.network in NAMESPACE_MODES:
        out: Spec = {"netns": {"nsmode": config.network}}
    else:
        out = {"netns": {"nsmode": "bridge"}, "networks": {config.network: {}}}
    if config.ports:
        out["portmappings"] = [
            {
                "container_port": p.container_port,
                "host_port": p.host_port,
                "protocol": p.protocol,
                **({"host_ip": p.host_ip} if p.host_ip else {}),
            }
            for p in config.ports
        ]
    if config.extra_hosts:
        out["hostadd"] = list(config.extra_hosts)  # "name:address", as `podman run --add-host`
    return out


def _storage(config: ContainerConfig) -> Spec:
    out: Spec = {}
    if config.mounts:
        out["mounts"] = [
            {
                "type": "bind",
                "source": m.source,
                "destination": m.target,
                "options": ["ro"] if m.read_only else [],
            }
            for m in config.mounts
        ]
    if config.devices:
        out["devices"] = [{"path": str(d)} for d in config.devices]
    return out


def _security(config: ContainerConfig) -> Spec:
    out: Spec = {}
    if config.privileged:
        out["privileged"] = True
    if config.cap_add:
        out["cap_add"] = list(config.cap_add)
    if config.cap_drop:
        out["cap_drop"] = list(config.cap_drop)
    return out


def _health(config: ContainerConfig) -> Spec:
    hc = config.healthcheck
    if hc is None:
        return {}
    return {
        "healthconfig": {
            "Test": list(hc.test),
            "Interval": int(hc.interval_s * _NS),
            "Timeout": int(hc.timeout_s * _NS),
            "Retries": hc.retries,
            "StartPeriod": int(hc.start_period_s * _NS),
        }
    }


def _resources(config: ContainerConfig) -> Spec:
    limits: Spec = {}
    if config.memory_bytes is not None:
        limits["memory"] = {"limit": config.memory_bytes}
    if config.cpus is not None:
        limits["cpu"] = {"period": _CPU_PERIOD_US, "quota": int(config.cpus * _CPU_PERIOD_US)}
    return {"resource_limits": limits} if limits else {}


def _stopping(config: ContainerConfig) -> Spec:
    # `stop_timeout` whole seconds, `stop_signal` a number; unset, Podman keeps its defaults.
    out: Spec = {}
    if config.stop_timeout_s is not None:
        out["stop_timeout"] = config.stop_timeout_s
    if config.stop_signal is not None:
        out["stop_signal"] = config.stop_signal
    if config.init:
        out["init"] = True
    return out


# One function per concern; a new ContainerConfig field gets its line in one of them.
_PARTS: tuple[Callable[[ContainerConfig], Spec], ...] = (
    _process,
    _network,
    _storage,
    _security,
    _health,
    _resources,
    _stopping,
)
