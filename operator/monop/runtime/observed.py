"""What runs, as typed values: the snapshot the planner reads. Built by `monop.runtime.podman` only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class LiveContainer:
    """One container as Podman lists it."""

    id: str
    name: str
    state: str  # running, exited, created, paused, stopped, dead, ...
    image: str = ""
    image_id: str = ""
    exit_code: int | None = None
    health: str | None = None  # healthy, unhealthy, starting, or None without a healthcheck
    health_output: str | None = None  # an unhealthy one's last check: `exit code N: output`
    labels: Mapping[str, str] = field(default_factory=_empty, compare=False)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ObservedState:
    """Every container and the local image each reference resolves to, taken at one moment."""

    containers: tuple[LiveContainer, ...] = ()
    images: Mapping[str, str] = field(default_factory=_empty, compare=False)

    def by_name(self) -> dict[str, LiveContainer]:
        return {c.name: c for c in self.containers}


def image_names(reference: str) -> list[str]:
    """The names Podman may list a reference under: short names resolve to docker.io or localhost."""
    ref = reference
    last = ref.rsplit("/", 1)[-1]
    if "@" not in ref and ":" not in last:
        ref += ":latest"
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return [ref]
    names = [f"docker.io/{ref}", f"localhost/{ref}", ref]
    if "/" not in ref:
        names.insert(0, f"docker.io/library/{ref}")
    return names


def resolve_image(reference: str, images: Mapping[str, str]) -> str | None:
    """The ID of the local image a reference names, or None if none is present."""
    for name in image_names(reference):
        if name in images:
            return images[name]
    return None
