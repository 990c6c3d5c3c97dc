"""A resource expanded to the container Podman runs, and the hash that says when to recreate it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os.path
from collections.abc import Iterable, Mapping
from pathlib import Path

from monop.api.resources import CAdvisor, ResourceBase
from monop.runtime import container as runtime


def expand(
    resource: ResourceBase, base_dir: Path, secret_env: Mapping[str, str] | None = None
) -> runtime.ContainerConfig:
    """Every default applied; relative volume paths resolved against the resource's file.

    `secret_env` is what the resource's `secretEnvFrom` files hold; `env` wins over it.
    """
    spec = resource.spec
    args = spec.effective_args() if isinstance(spec, CAdvisor) else spec.args
    hc = spec.healthcheck
    return runtime.ContainerConfig(
        name=resource.metadata.name,
        image=spec.image,
        command=spec.command,
        args=args,
        env=tuple(sorted({**(secret_env or {}), **spec.env}.items())),
        # Podman publishes nothing on the host network; keeping the mapping would only lie in inspect.
        ports=()
        if spec.network == "host"
        else tuple(
            runtime.PortMapping(p.container_port, p.published, p.protocol, p.host_ip) for p in spec.ports
        ),
        mounts=tuple(
            runtime.Mount(_resolve(v.host_path, base_dir), v.container_path, v.read_only)
            for v in spec.volumes
        ),
        devices=tuple(
            runtime.Device(d.host_path, d.container_path or d.host_path, d.permissions) for d in spec.devices
        ),
        network=spec.network,
        privileged=spec.privileged,
        cap_add=spec.capabilities.add,
        cap_drop=spec.capabilities.drop,
        user=spec.user,
        restart_policy=spec.restart_policy,
        healthcheck=None
        if hc is None
        else runtime.Healthcheck(hc.test, hc.interval, hc.timeout, hc.retries, hc.start_period),
        labels=tuple(sorted(spec.labels.items())),
        memory_bytes=spec.limits.memory,
        cpus=spec.limits.cpus,
        pull_policy=spec.pull_policy,
        extra_hosts=spec.extra_hosts,
        stop_timeout_s=None if spec.stop_timeout is None else int(spec.stop_timeout),
        stop_signal=spec.stop_signal,
        init=spec.init,
    )


def _resolve(host_path: str, base_dir: Path) -> str:
    path = Path(host_path)
    if path.is_absolute():
        return host_path
    # normpath, not resolve(): the path is the user's, symlinks and all.
    return os.path.normpath(base_dir.absolute() / path)


# Fields that do not change the container: editing them must not recreate it.
_NOT_IN_HASH = {"pull_policy"}


def spec_hash(config: runtime.ContainerConfig, mounted_digests: Iterable[str] = ()) -> str:
    """A short, stable digest of what the container is made from, mounted files' content included."""
    data = {
        k: v
        for k, v in runtime.without_later_defaults(dataclasses.asdict(config)).items()
        if k not in _NOT_IN_HASH
    }
    data["mounted"] = sorted(mounted_digests)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
