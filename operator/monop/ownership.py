"""The labels that make a container monop's, and the record of the spec it was made from.

Only containers labelled `monop.dev/managed-by=monop` are ever changed or removed. The spec
is stored whole (secrets as digests) so a drift reason can name each field without an
inspect call per container.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from monop.model.runtime import ContainerConfig, without_later_defaults

PREFIX = "monop.dev/"
MANAGED_BY = PREFIX + "managed-by"
KIND = PREFIX + "kind"
NAME = PREFIX + "name"
SPEC_HASH = PREFIX + "spec-hash"
SPEC = PREFIX + "spec"
REVISION = PREFIX + "revision"
REPLACES = PREFIX + "replaces"  # on a replacement made under its swap name: the ID it replaces
MANAGER = "monop"
# A recreate makes the new container as `<name>_monop-new`; `_` is in no resource name, so
# this name never clashes with another resource's.
SWAP_SUFFIX = "_monop-new"

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
    return labels.get(MANAGED_BY) == MANAGER


def swap_name(name: str) -> str:
    """The name a replacement of container `name` is created under until the swap completes."""
    return name + SWAP_SUFFIX


def swapping_for(name: str, labels: Mapping[str, str]) -> str | None:
    """The resource's container name if this is a replacement left under its swap name, else None."""
    owner = labels.get(NAME)
    if is_managed(labels) and owner and name == swap_name(owner):
        return owner
    return None


def record(config: ContainerConfig, mounted: Mapping[str, str]) -> dict[str, Any]:
    """The spec as stored on the container: plain JSON, secrets masked, mounted files by digest."""
    data = without_later_defaults(dataclasses.asdict(config))
    data["env"] = [[k, mask(k, v)] for k, v in config.env]
    data["mounted"] = dict(sorted(mounted.items()))
    return data


def labels(
    kind: str,
    config: ContainerConfig,
    spec_hash: str,
    mounted: Mapping[str, str],
    revision: str | None = None,
) -> dict[str, str]:
    out = {
        MANAGED_BY: MANAGER,
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
