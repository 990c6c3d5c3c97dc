"""Times as monop writes them for people and programs: RFC 3339, in UTC, to the second.

Internally times are wall-clock seconds since the epoch (floats); every JSON document and
state-file field meant to be read outside monop carries them in this form instead
(`2026-11-30T22:41:07Z`), as Kubernetes' `metav1.Time` does.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(epoch: float | None) -> str | None:
    """`2026-11-30T22:41:07Z` for wall seconds; None stays None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: object) -> float | None:
    """Wall seconds of an RFC 3339 time (any offset); None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()
