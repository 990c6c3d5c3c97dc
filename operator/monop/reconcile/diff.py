"""Why a container differs from its spec: one Reason per field, old and new value as data.

The records compared hold secrets as digests (monop.secrets); a reason shows each as
`<secret>`, and a change only in secrets as `<secret changed>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monop import secrets

# Field names of the stored record -> the name a user knows from the resource.
_FIELD_NAMES = {
    "cap_add": "capabilities.add",
    "cap_drop": "capabilities.drop",
    "restart_policy": "restartPolicy",
    "memory_bytes": "limits.memory",
    "cpus": "limits.cpus",
    "mounts": "volumes",
    "extra_hosts": "extraHosts",
    "stop_timeout_s": "stopTimeout",
    "stop_signal": "stopSignal",
}
_NOT_COMPARED = {"pull_policy", "name"}


@dataclass(frozen=True)
class Reason:
    """One difference or condition: `env METRICS_PORT: "9999" -> "9998"`, or `state: exited (code 137)`."""

    field: str
    old: str | None = None
    new: str | None = None

    def __str__(self) -> str:
        if self.old is None and self.new is None:
            return self.field
        if self.old is None:
            return f"{self.field}: {self.new}"
        return f"{self.field}: {self.old} -> {self.new}"

    def to_json(self) -> dict[str, str | None]:
        return {"field": self.field, "old": self.old, "new": self.new}


def spec_reasons(stored: Mapping[str, Any], desired: Mapping[str, Any]) -> list[Reason]:
    """Every field in which the stored spec record differs from the desired one, in field order."""
    reasons: list[Reason] = []
    for key in desired:
        if key in _NOT_COMPARED:
            continue
        old, new = stored.get(key), desired[key]
        if _canon(old) == _canon(new):
            continue
        if key in ("env", "labels"):
            reasons += _pairs(key, old or [], new or [])
        elif key == "mounted":
            reasons += _mounted(old or {}, new or {})
        else:
            reasons.append(_reason(_FIELD_NAMES.get(key, key), _show(old), _show(new)))
    return reasons


def _reason(field: str, old: str, new: str) -> Reason:
    shown_old, shown_new = secrets.hide_digests(old), secrets.hide_digests(new)
    if shown_old == shown_new and old != new:
        return Reason(field, None, secrets.CHANGED)
    return Reason(field, shown_old, shown_new)


def _canon(value: Any) -> str:
    # JSON turns tuples into lists; compare both sides in that one form.
    return json.dumps(value, sort_keys=True)


def _pairs(key: str, old: list[list[str]], new: list[list[str]]) -> list[Reason]:
    before: dict[str, str] = {k: v for k, v in old}
    after: dict[str, str] = {k: v for k, v in new}
    out = []
    for name in sorted(before.keys() | after.keys()):
        if before.get(name) != after.get(name):
            out.append(_reason(f"{key} {name}", _quote(before.get(name)), _quote(after.get(name))))
    return out


def _mounted(old: Mapping[str, str], new: Mapping[str, str]) -> list[Reason]:
    return [
        Reason(
            f"file {path}",
            "content " + old[path][:8] if path in old else "(none)",
            "content " + new[path][:8],
        )
        for path in sorted(new)
        if old.get(path) != new[path]
    ]


def _quote(value: str | None) -> str:
    if value is None:
        return "(unset)"
    return value if value.startswith("<secret") else json.dumps(value)


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return _compact(value)
    return json.dumps(value)


def _compact(value: Mapping[str, Any]) -> str:
    # Ports, mounts and devices print as the short form a user wrote.
    keys = set(value)
    if {"container_port", "host_port"} <= keys:
        ip = f"{value['host_ip']}:" if value.get("host_ip") else ""
        return f"{ip}{value['host_port']}:{value['container_port']}/{value['protocol']}"
    if {"source", "target"} <= keys:
        return f"{value['source']}:{value['target']}:{'ro' if value['read_only'] else 'rw'}"
    if {"host_path", "container_path"} <= keys:
        return f"{value['host_path']}:{value['container_path']}:{value['permissions']}"
    return json.dumps(value, sort_keys=True)
