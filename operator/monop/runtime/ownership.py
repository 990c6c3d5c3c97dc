"""The labels that make a container monop's, and the record of the spec it was made from.

Only containers labelled `monop.dev/managed-by=monop` are ever changed or removed, and only
by the monop instance named in `monop.dev/instance` (the `instance` setting) on the host named in
`monop.dev/host` (a fleet's daemons sharing one Podman each keep their own): two monops on
one Podman each keep their own. A container made before instances existed has no instance
label and belongs to the `default` instance. The spec is stored whole (every secret value as a digest, wherever it stands: see
monop.secrets)
so a drift reason can name each field without an inspect call per container.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from monop import secrets as secret

# Re-exported: ownership is where the rest of monop reads the label names.
from monop.api.labels import (
    DEFAULT_INSTANCE as DEFAULT_INSTANCE,
)
from monop.api.labels import (
    HOST as HOST,
)
from monop.api.labels import (
    INSTANCE as INSTANCE,
)
from monop.api.labels import (
    KIND as KIND,
)
from monop.api.labels import (
    MANAGED_BY as MANAGED_BY,
)
from monop.api.labels import (
    MANAGER as MANAGER,
)
from monop.api.labels import (
    NAME as NAME,
)
from monop.api.labels import (
    PREFIX as PREFIX,
)
from monop.api.labels import (
    REPLACES as REPLACES,
)
from monop.api.labels import (
    REVISION as REVISION,
)
from monop.api.labels import (
    SPEC as SPEC,
)
from monop.api.labels import (
    SPEC_HASH as SPEC_HASH,
)
from monop.runtime.container import ContainerConfig, without_later_defaults

# A recreate makes the new container as `<name>_monop-new`; `_` is in no resource name, so
# this name never clashes with another resource's.
SWAP_SUFFIX = "_monop-new"


def is_managed(labels: Mapping[str, str]) -> bool:
    """Made by some monop instance (this one or another)."""
    return labels.get(MANAGED_BY) == MANAGER


def instance_of(labels: Mapping[str, str]) -> str | None:
    """The monop instance a container belongs to; None if no monop made it."""
    if not is_managed(labels):
        return None
    return labels.get(INSTANCE) or DEFAULT_INSTANCE


def host_of(labels: Mapping[str, str]) -> str | None:
    """The fleet host whose selection a container is (`monop.dev/host`); None if it has no such label."""
    return labels.get(HOST) or None


def is_owned(labels: Mapping[str, str], instance: str, host: str | None = None) -> bool:
    """Made by this monop `instance` on this `host`: the only containers it may change, prune or report.

    A container labelled for another host belongs to that host's daemon, even on a Podman both
    share. One with no host label (made before hosts were labelled) is this host's, so an
    upgrade keeps what runs. With `host` None the host label is not looked at.
    """
    if instance_of(labels) != instance:
        return False
    other = host_of(labels)
    return host is None or other is None or other == host


def swap_name(name: str) -> str:
    """The name a replacement of container `name` is created under until the swap completes."""
    return name + SWAP_SUFFIX


def swapping_for(
    name: str, labels: Mapping[str, str], instance: str = DEFAULT_INSTANCE, host: str | None = None
) -> str | None:
    """The resource's container name if this is `instance`'s (on `host`) replacement left under its swap name."""
    owner = labels.get(NAME)
    if is_owned(labels, instance, host) and owner and name == swap_name(owner):
        return owner
    return None


def record(
    config: ContainerConfig, mounted: Mapping[str, str], secrets: secret.Secrets | None = None
) -> dict[str, Any]:
    """The spec as stored on the container: plain JSON, secrets as digests, mounted files by digest."""
    secrets = secrets or secret.Secrets()
    data: dict[str, Any] = secret.scrub(without_later_defaults(dataclasses.asdict(config)), secrets.record)
    data["env"] = [
        [k, secret.digest(v) if secrets.is_secret(k) else secrets.record(v)] for k, v in config.env
    ]
    data["mounted"] = dict(sorted(mounted.items()))
    return data


def labels(
    kind: str,
    config: ContainerConfig,
    spec_hash: str,
    mounted: Mapping[str, str],
    revision: str | None = None,
    secrets: secret.Secrets | None = None,
    instance: str = DEFAULT_INSTANCE,
    host: str | None = None,
) -> dict[str, str]:
    out = {
        MANAGED_BY: MANAGER,
        INSTANCE: instance,
        KIND: kind,
        NAME: config.name,
        SPEC_HASH: spec_hash,
        SPEC: json.dumps(record(config, mounted, secrets), sort_keys=True, separators=(",", ":")),
    }
    if revision:
        out[REVISION] = revision
    if host:
        out[HOST] = host
    return out


def stored_record(labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The spec record a container carries, or None if it has none monop can read."""
    try:
        data = json.loads(labels.get(SPEC, ""))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
