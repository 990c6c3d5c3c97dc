"""The labels that make a container monop's, and the record of the spec it was made from.

Only containers labelled `monop.dev/managed-by=monop` are ever changed or removed, and only
by the monop instance named in `monop.dev/instance` (the `instance` setting): two monops on
one Podman each keep their own. A container made before instances existed has no instance
label and belongs to the `default` instance. The spec is stored whole (secrets as digests)
so a drift reason can name each field without an inspect call per container.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from monop.model.runtime import ContainerConfig

PREFIX = "monop.dev/"
MANAGED_BY = PREFIX + "managed-by"
KIND = PREFIX + "kind"
NAME = PREFIX + "name"
SPEC_HASH = PREFIX + "spec-hash"
SPEC = PREFIX + "spec"
REVISION = PREFIX + "revision"
INSTANCE = PREFIX + "instance"
MANAGER = "monop"
DEFAULT_INSTANCE = "default"

_SECRET = re.compile(r"pass|secret|token|key|credential|auth|private|cookie|session", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """Environment variables whose values never leave monop in clear: in labels, logs or reasons."""
    return bool(_SECRET.search(name))


def mask(name: str, value: str) -> str:
    """The value as recorded and shown: secret-looking ones as a digest that still tells change."""
    if not is_secret(name):
        return value
    return "<secret sha256:" + hashlib.sha256(value.encode()).hexdigest()[:8] + ">"


def is_managed(labels: Mapping[str, str]) -> bool:
    """Made by some monop instance (this one or another)."""
    return labels.get(MANAGED_BY) == MANAGER


def instance_of(labels: Mapping[str, str]) -> str | None:
    """The monop instance a container belongs to; None if no monop made it."""
    if not is_managed(labels):
        return None
    return labels.get(INSTANCE) or DEFAULT_INSTANCE


def is_owned(labels: Mapping[str, str], instance: str) -> bool:
    """Made by this monop `instance`: the only containers it may change, prune or report."""
    return instance_of(labels) == instance


def record(config: ContainerConfig, mounted: Mapping[str, str]) -> dict[str, Any]:
    """The spec as stored on the container: plain JSON, secrets masked, mounted files by digest."""
    data = dataclasses.asdict(config)
    data["env"] = [[k, mask(k, v)] for k, v in config.env]
    data["mounted"] = dict(sorted(mounted.items()))
    return data


def labels(
    kind: str,
    config: ContainerConfig,
    spec_hash: str,
    mounted: Mapping[str, str],
    revision: str | None = None,
    instance: str = DEFAULT_INSTANCE,
) -> dict[str, str]:
    out = {
        MANAGED_BY: MANAGER,
        INSTANCE: instance,
        KIND: kind,
        NAME: config.name,
        SPEC_HASH: spec_hash,
        SPEC: json.dumps(record(config, mounted), sort_keys=True, separators=(",", ":")),
    }
    if revision:
        out[REVISION] = revision
    return out


def stored_record(labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The spec record a container carries, or None if it has none monop can read."""
    try:
        data = json.loads(labels.get(SPEC, ""))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
