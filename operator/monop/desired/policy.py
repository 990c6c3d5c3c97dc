"""The `policy` setting: what a desired state may ask of the host, for teams that let others commit.

Whoever writes the desired state can otherwise run a container privileged, mount `/` or the
Podman socket, add capabilities and devices: root on the host. With a policy set, each of
those is refused unless the policy allows it, as a located error (file, line, resource,
field) at `validate`, `plan`, `apply` and every daemon load, so such a state is never applied.
Files of the desired tree itself (a relative `hostPath`) are always allowed.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monop.errors import Problem

if TYPE_CHECKING:  # settings.py imports Policy: keep the resource models out of its import
    from monop.desired.state import LoadedResource


class Policy(BaseModel):
    """Opt-in limits; once a policy is set, anything it does not allow is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_privileged: bool = Field(False, description="Whether a container may run privileged.")
    allowed_host_paths: tuple[str, ...] = Field(
        (), description="Absolute host paths a volume may mount, each with everything below it."
    )
    allowed_capabilities: tuple[str, ...] = Field(
        (), description="Capabilities `capabilities.add` may name (NET_RAW or CAP_NET_RAW; ALL: any)."
    )
    allowed_devices: tuple[str, ...] = Field(
        (), description="Host devices a container may have, as paths or globs (/dev/nvidia*)."
    )
    allowed_secret_files: tuple[str, ...] = Field(
        (),
        description="Absolute paths `secretEnvFrom` may read, each with everything below it: a file "
        "of root-only secrets is handed to the container that names it.",
    )

    @field_validator("allowed_host_paths", "allowed_secret_files")
    @classmethod
    def _absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} is not an absolute path")
        return tuple(os.path.normpath(path) for path in paths)

    @field_validator("allowed_capabilities")
    @classmethod
    def _capabilities(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_capability(name) for name in names)


def check(resources: Sequence[LoadedResource], policy: Policy | None) -> list[Problem]:
    """Every field of `resources` the policy refuses, in file order; none without a policy."""
    if policy is None:
        return []
    problems: list[Problem] = []
    for res in resources:
        problems += _check(res, policy)
    return problems


def _check(res: LoadedResource, policy: Policy) -> list[Problem]:
    from monop.desired.yamldoc import dotted  # here, not at the top: settings.py imports Policy

    spec = res.resource.spec
    problems = []

    def refuse(field: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(res.file, res.line_of(*field), res.key, dotted(field), message))

    if spec.privileged and not policy.allow_privileged:
        refuse(
            ("spec", "privileged"),
            f"runs privileged{_default(res, 'privileged')}, which is root on the host; the policy "
            "setting refuses it (policy.allow_privileged is false): set privileged: false",
        )
    mounted = {m.path for m in res.mounted}
    for i, volume in enumerate(spec.volumes):
        path = volume.host_path
        if not path.startswith("/") or Path(path).resolve() in mounted:
            continue  # a file of the desired tree: its writers own it already
        if not _allowed_path(path, policy.allowed_host_paths):
            refuse(
                ("spec", "volumes", i, "hostPath"),
                f"host path {path}{_default(res, 'volumes')} is not in policy.allowed_host_paths "
                f"({_listed(policy.allowed_host_paths)}); mounting it is refused",
            )
    for i, path in enumerate(spec.secret_env_from or ()):
        if not _allowed_path(str(path), policy.allowed_secret_files):
            refuse(
                ("spec", "secretEnvFrom", i),
                f"secret file {path} is not in policy.allowed_secret_files "
                f"({_listed(policy.allowed_secret_files)}); handing it to the container is refused",
            )
    allowed_caps = set(policy.allowed_capabilities)
    for i, name in enumerate(spec.capabilities.add):
        if "ALL" not in allowed_caps and _capability(name) not in allowed_caps:
            refuse(
                ("spec", "capabilities", "add", i),
                f"capability {name} is not in policy.allowed_capabilities "
                f"({_listed(policy.allowed_capabilities)}); adding it is refused",
            )
    for i, device in enumerate(spec.devices):
        if not any(fnmatch.fnmatchcase(device.host_path, allowed) for allowed in policy.allowed_devices):
            refuse(
                ("spec", "devices", i),
                f"device {device.host_path} is not in policy.allowed_devices "
                f"({_listed(policy.allowed_devices)}); it is refused",
            )
    return problems


def _allowed_path(path: str, allowed: Sequence[str]) -> bool:
    """Under an allowed path both as written (`..` folded) and as the host resolves its symlinks."""
    written = PurePosixPath(os.path.normpath(path))
    resolved = PurePosixPath(os.path.realpath(written))

    def under(candidate: PurePosixPath) -> bool:
        return any(
            candidate.is_relative_to(root) or candidate.is_relative_to(os.path.realpath(root))
            for root in allowed
        )

    return under(written) and under(resolved)


def _capability(name: str) -> str:
    upper = name.upper()
    return upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}"


def _default(res: LoadedResource, field: str) -> str:
    """Where the user did not write `spec.<field>`, the value is the kind's default: say so."""
    return "" if ("spec", field) in res.lines else f" (the {res.resource.kind} default)"


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "empty"
