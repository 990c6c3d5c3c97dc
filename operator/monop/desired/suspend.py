"""Resources a person has suspended: monop reports them but does not repair them until resumed.

`monop suspend KIND/NAME` adds a key to `<state_dir>/suspended.json` (a JSON object, key ->
{"since": wall seconds, "by": who asked}); `monop resume KIND/NAME` takes it out. The daemon reads
the file before it plans, so a suspend takes effect at the resource's next reconcile, with no
restart. As Flux's `spec.suspend`, it is a person's hold on one resource, not part of the
desired state.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SUSPEND_FILE = "suspended.json"


@dataclass(frozen=True)
class Suspension:
    key: str  # KIND/NAME
    since: float  # wall-clock seconds
    by: str  # the user who suspended it, as `getpass.getuser()` says


def read_suspended(state_dir: Path) -> dict[str, Suspension]:
    """Suspended resources by key; a missing or unreadable file suspends nothing."""
    try:
        data = json.loads((state_dir / SUSPEND_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    found = {}
    for key, entry in data.items():
        entry = entry if isinstance(entry, dict) else {}
        since = entry.get("since")
        found[str(key)] = Suspension(
            str(key), float(since) if isinstance(since, int | float) else 0.0, str(entry.get("by", ""))
        )
    return found


def write_suspended(state_dir: Path, suspended: dict[str, Suspension]) -> None:
    """Replace the file whole (atomically); an empty mapping removes it.

    Raises OSError when the state directory cannot be written.
    """
    from monop.files import write_atomic

    path = state_dir / SUSPEND_FILE
    if not suspended:
        path.unlink(missing_ok=True)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    body = {k: {"since": s.since, "by": s.by} for k, s in sorted(suspended.items())}
    write_atomic(path, json.dumps(body, indent=2) + "\n", mode=0o600)


def suspend(state_dir: Path, key: str, now: float, by: str = "") -> bool:
    """Suspend `key`; False when it already was (the first suspension's time is kept)."""
    current = read_suspended(state_dir)
    if key in current:
        return False
    current[key] = Suspension(key, now, by or os.environ.get("USER", ""))
    write_suspended(state_dir, current)
    return True


def resume(state_dir: Path, key: str) -> bool:
    """Resume `key`; False when it was not suspended."""
    current = read_suspended(state_dir)
    if current.pop(key, None) is None:
        return False
    write_suspended(state_dir, current)
    return True
