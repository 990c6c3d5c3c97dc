"""What a resource claims on the host and in Prometheus: its host ports and its scrape targets."""

from __future__ import annotations

from dataclasses import dataclass, field

from monop.api.resources import CAdvisor, ResourceBase, Scrape

# The job names the seed's Prometheus config and alert rules use.
DEFAULT_JOBS = {"CAdvisor": "cadvisor"}


@dataclass(frozen=True)
class HostPort:
    """A host port a resource listens on; `field` is the path of the field that claims it."""

    host_ip: str
    port: int
    protocol: str
    field: tuple[str | int, ...]

    def overlaps(self, other: HostPort) -> bool:
        same_ip = not self.host_ip or not other.host_ip or self.host_ip == other.host_ip
        return same_ip and self.port == other.port and self.protocol == other.protocol


@dataclass(frozen=True)
class Target:
    """One endpoint Prometheus scrapes, with every default applied."""

    resource: str
    job: str
    address: str
    port: int
    path: str
    scheme: str = "http"
    interval_s: float | None = None
    timeout_s: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    expect: tuple[str, ...] = ()
    restart_after_s: float | None = None
    field: tuple[str | int, ...] = field(default=(), compare=False)

    @property
    def instance(self) -> str:
        """`host:port` as Prometheus shows it."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.instance}{self.path}"


class TargetError(ValueError):
    """A scrape endpoint whose port cannot be derived."""

    def __init__(self, field: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


def host_ports(resource: ResourceBase) -> list[HostPort]:
    """The host ports the resource's container listens on: published ones, or its own on the host network."""
    spec = resource.spec
    if isinstance(spec, CAdvisor) and spec.network == "host":
        return [HostPort("", spec.port, "tcp", ("spec", "port"))]
    out = []
    for i, port in enumerate(spec.ports):
        number = port.container_port if spec.network == "host" else port.published
        out.append(HostPort(port.host_ip, number, port.protocol, ("spec", "ports", i)))
    return out


def targets(resource: ResourceBase, default_address: str) -> list[Target]:
    """The resource's scrape targets; raises TargetError when a port cannot be derived."""
    spec = resource.spec
    enabled = spec.scrape_endpoints()
    written = getattr(spec, "scrape", ())
    blocks = written if isinstance(written, tuple) else (written,)
    out = []
    # Numbered among every block written, disabled ones too: `field` points at the block itself.
    for i, scrape in enumerate(blocks):
        if not any(scrape is e for e in enabled):
            continue
        field: tuple[str | int, ...] = ("spec", "scrape", i) if _is_list(resource) else ("spec", "scrape")
        port = _named_port(resource, scrape.port, (*field, "port")) or _default_port(resource)
        if port is None:
            raise TargetError((*field, "port"), "required: the container publishes no port to scrape")
        out.append(
            Target(
                resource=resource.key,
                job=scrape.job or DEFAULT_JOBS.get(resource.kind, resource.metadata.name),
                address=scrape.address or default_address,
                port=port,
                path=scrape.path,
                scheme=scrape.scheme,
                interval_s=scrape.interval,
                timeout_s=scrape.timeout,
                labels=tuple(sorted(scrape.labels.items())),
                expect=scrape.expect,
                restart_after_s=scrape.restart_after,
                field=field,
            )
        )
    return out


def _is_list(resource: ResourceBase) -> bool:
    return resource.kind == "BusinessService"


def _named_port(resource: ResourceBase, port: int | str | None, field: tuple[str | int, ...]) -> int | None:
    """The port Prometheus connects to for `scrape.port`: a number as is, a name looked up in `ports`."""
    if not isinstance(port, str):
        return port
    spec = resource.spec
    named = next((p for p in spec.ports if p.name == port), None)
    if named is None:
        names = ", ".join(sorted(p.name for p in spec.ports if p.name)) or "none"
        raise TargetError(field, f"no port of spec.ports is named {port!r} (names: {names})")
    return named.container_port if spec.network == "host" else named.published


def _default_port(resource: ResourceBase) -> int | None:
    spec = resource.spec
    if isinstance(spec, CAdvisor):
        return spec.port
    if not spec.ports:
        return None
    first = spec.ports[0]
    return first.container_port if spec.network == "host" else first.published


__all__ = ["HostPort", "Scrape", "Target", "TargetError", "host_ports", "targets"]
