"""Checks across resources (names, host ports, scrape targets) and the warnings of each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from monop.api.targets import HostPort, Target, TargetError, host_ports, targets
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import as_written, dotted
from monop.errors import Problem, Severity
from monop.written import WrittenPath, mounted_writes


def check_all(
    resources: Sequence[LoadedResource],
    *,
    default_address: str,
    exists_on_host: Callable[[str], bool],
) -> list[Problem]:
    """Every cross-resource error and every warning, in file order."""
    problems: list[Problem] = []
    problems += duplicate_names(resources)
    problems += _port_clashes(resources)
    problems += _target_clashes(resources, default_address)
    for res in resources:
        problems += _host_network_ports(res)
        problems += _port_names(res)
        problems += _reload_endpoint(res)
        problems += _warnings(res, exists_on_host)
    return problems


def _at(
    res: LoadedResource, field: tuple[str | int, ...], message: str, severity: Severity = Severity.ERROR
) -> Problem:
    field = as_written(res.lines, field)
    return Problem(res.file, res.line_of(*field), res.key, dotted(field), message, severity)


def _where(res: LoadedResource, field: tuple[str | int, ...]) -> str:
    return f"{res.key} at {res.file}:{res.line_of(*field)}"


def duplicate_names(resources: Sequence[LoadedResource]) -> list[Problem]:
    # The container name is the resource name, whatever the kind: two kinds cannot share one.
    seen: dict[str, LoadedResource] = {}
    problems = []
    for res in resources:
        first = seen.setdefault(res.name, res)
        if first is not res:
            field = ("metadata", "name")
            problems.append(_at(res, field, f"name {res.name!r} is also used by {_where(first, field)}"))
    return problems


def _port_clashes(resources: Sequence[LoadedResource]) -> list[Problem]:
    claimed: list[tuple[HostPort, LoadedResource]] = []
    problems = []
    for res in resources:
        for port in host_ports(res.resource):
            other = next(((p, r) for p, r in claimed if p.overlaps(port)), None)
            if other is not None:
                message = f"host port {port.port}/{port.protocol} is also published by {_where(other[1], other[0].field)}"
                problems.append(_at(res, port.field, message))
            claimed.append((port, res))
    return problems


def _target_clashes(resources: Sequence[LoadedResource], default_address: str) -> list[Problem]:
    claimed: dict[tuple[str, int, str], tuple[Target, LoadedResource]] = {}
    problems = []
    for res in resources:
        try:
            found = targets(res.resource, default_address)
        except TargetError as err:
            problems.append(_at(res, err.field, str(err)))
            continue
        for target in found:
            key = (target.address, target.port, target.path)
            first = claimed.setdefault(key, (target, res))
            if first[1] is not res:
                message = f"scrape target {target.url} is also claimed by {_where(first[1], first[0].field)}"
                problems.append(_at(res, target.field, message))
    return problems


def _host_network_ports(res: LoadedResource) -> list[Problem]:
    """On the host network Podman publishes nothing: a mapping to another port is a silent lie."""
    spec = res.resource.spec
    if spec.network != "host":
        return []
    problems = []
    for i, port in enumerate(spec.ports):
        if port.host_port is not None and port.host_port != port.container_port:
            message = (
                f"network is host, where ports are not published: the container listens on "
                f"{port.container_port}, not {port.host_port}; drop the mapping or use network bridge"
            )
            problems.append(_at(res, ("spec", "ports", i), message))
    return problems


def _reload_endpoint(res: LoadedResource) -> list[Problem]:
    """monop reaches `reload.http` from the host: through a published port, or on the host network."""
    spec = res.resource.spec
    http = spec.reload.http if spec.reload is not None else None
    if http is None:
        return []
    field = ("spec", "reload", "http", "port")
    if spec.network != "host" and not any(
        p.container_port == http.port and p.protocol.lower() == "tcp" for p in spec.ports
    ):
        message = (
            f"container port {http.port} is not published: monop reaches the reload endpoint from the "
            f'host, so publish it in spec.ports ("127.0.0.1:{http.port}:{http.port}") or use the host network'
        )
        return [_at(res, field, message)]
    image = spec.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if image == "prometheus" and "--web.enable-lifecycle" not in (spec.args or ()):
        message = (
            "Prometheus answers POST /-/reload only when started with --web.enable-lifecycle: "
            "add it to args (or reload with signal: SIGHUP)"
        )
        return [_at(res, ("spec", "reload", "http"), message, Severity.WARNING)]
    return []


def _port_names(res: LoadedResource) -> list[Problem]:
    """A port name is what scrape.port refers to: two ports cannot share one."""
    first: dict[str, int] = {}
    problems = []
    for i, port in enumerate(res.resource.spec.ports):
        if port.name is None:
            continue
        j = first.setdefault(port.name, i)
        if j != i:
            field = ("spec", "ports", i, "name")
            message = f"port name {port.name!r} is also the name of spec.ports[{j}]"
            problems.append(_at(res, field, message))
    return problems


def _warnings(res: LoadedResource, exists_on_host: Callable[[str], bool]) -> list[Problem]:
    spec = res.resource.spec
    problems = []
    if not is_pinned(spec.image):
        message = f"image {spec.image!r} is not pinned to a version or digest; it changes under you"
        problems.append(_at(res, ("spec", "image"), message, Severity.WARNING))
    if spec.command and spec.command[0].startswith("-"):
        # Only the flag's name: its value may be a secret (`--password=...`).
        flag = spec.command[0].split("=", 1)[0]
        message = (
            f"starts with the flag {flag!r}: did you mean args? monop's command is the "
            "entrypoint, as in Kubernetes (compose's command is monop's args)"
        )
        problems.append(_at(res, ("spec", "command"), message, Severity.WARNING))
    for i, device in enumerate(spec.devices):
        if not exists_on_host(device.host_path):
            message = f"device {device.host_path} does not exist on this host"
            problems.append(_at(res, ("spec", "devices", i), message, Severity.WARNING))
    problems += _mount_points(res, exists_on_host)
    return problems


def _mount_points(res: LoadedResource, exists_on_host: Callable[[str], bool]) -> list[Problem]:
    """A mount inside a read-only mount needs its mount point to exist already on the host.

    The seed's cAdvisor mounts /var/run read-only and the Podman socket at
    /var/run/docker.sock inside it: on a host without /var/run/docker.sock, runc cannot create
    the mount point in the read-only tree and the container never starts.
    """
    volumes = [(i, v) for i, v in enumerate(res.resource.spec.volumes) if v.host_path.startswith("/")]
    problems = []
    for i, inner in volumes:
        for _, outer in volumes:
            target, around = PurePosixPath(inner.container_path), PurePosixPath(outer.container_path)
            if not outer.read_only or target == around or not target.is_relative_to(around):
                continue
            point = PurePosixPath(outer.host_path) / target.relative_to(around)
            if not exists_on_host(str(point)):
                message = (
                    f"{inner.container_path} is inside the read-only mount of {outer.host_path} at "
                    f"{outer.container_path}, and {point} does not exist on this host: the runtime "
                    "cannot create the mount point there, so the container will not start"
                )
                problems.append(_at(res, ("spec", "volumes", i), message, Severity.WARNING))
    return problems


def missing_written(resources: Sequence[LoadedResource], written: Sequence[WrittenPath]) -> list[Problem]:
    """A warning at each volume that mounts a file monop writes (alertmanager.yml) that does not exist
    yet: the container starts without it (Alertmanager exits) until the daemon first writes it.
    A missing directory needs none: apply and the daemon create it before the containers.
    And one at each volume that mounts such a file by itself: monop replaces it by rename, so
    the container keeps the file it started with."""
    problems = []
    for res in resources:
        for i, volume in enumerate(res.resource.spec.volumes):
            if not volume.host_path.startswith("/"):
                continue
            for each in mounted_writes([(volume.host_path, volume.container_path)], written):
                if each.incidental:
                    continue
                if each.single_file:
                    message = (
                        f"{volume.host_path} is mounted as a file, and monop replaces it by rename: "
                        "the container keeps the file it started with and no reload shows it the new "
                        f"one; mount its directory ({each.watched.parent})"
                    )
                    problems.append(_at(res, ("spec", "volumes", i), message, Severity.WARNING))
                if each.written.a_file and not each.written.path.exists():
                    message = (
                        f"{each.written.path} ({each.written.name}) does not exist yet: monop writes it, "
                        "but the container may start before the daemon first does "
                        "(`monop apply` does not write it)"
                    )
                    problems.append(_at(res, ("spec", "volumes", i), message, Severity.WARNING))
    return problems


def is_pinned(image: str) -> bool:
    """True when the reference names a digest, or a tag other than `latest`."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return bool(tag) and tag != "latest"
