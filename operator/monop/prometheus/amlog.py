"""Alertmanager's own log, read for what it says about each receiver's notifications.

Alertmanager 0.25 counts notification attempts per integration type only
(`alertmanager_notification_requests_failed_total{integration="webhook"}`): two webhook
receivers share one counter. Its log names the receiver (its format, `notify/notify.go` and
`dispatch/dispatch.go` of Alertmanager 0.25, logfmt or `--log.format=json`):

    level=warn component=dispatcher receiver=ops integration=webhook[0]
        msg="Notify attempt failed, will retry later" attempts=1 err="Post ...: connection refused"
    level=error component=dispatcher msg="Notify for alerts failed" num_alerts=1
        err="ops/webhook[0]: notify retry canceled after 7 attempts: Post ..."
    level=debug component=dispatcher receiver=ops integration=webhook[0] msg="Notify success" attempts=1

The first failed attempt of a notification is always logged at warn (a repeat of the same
error is not), an unrecoverable one as "Notify for alerts failed"; a success only at debug
(or info after a retry). `AlertmanagerLog` reads the lines a file gained since `mark()`:
the file Alertmanager's output goes to (systemd's `StandardOutput=append:`, a container's
k8s-file log, a `2>>` redirect); each line's text after any prefix is parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_GAVE_UP = re.compile(r"^(?P<receiver>.+?)/(?P<integration>\w+\[\d+\]): ")


class Said(StrEnum):
    FAILED = "failed"  # an attempt failed; Alertmanager retries
    GAVE_UP = "gave up"  # the notification failed for good (retries ran out, or unrecoverable)
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class NotifyLine:
    """One notification fact from the log: whose (receiver, `webhook[0]`), what, and Alertmanager's error."""

    receiver: str
    integration: str
    said: Said
    error: str = ""


def parse_line(line: str) -> NotifyLine | None:
    """The notification fact a log line states, or None for any other line (logfmt or JSON)."""
    fields = _json(line) if "{" in line and '"msg"' in line else _logfmt(line)
    msg = fields.get("msg", "")
    if msg.startswith("Notify attempt failed"):
        said = Said.FAILED
    elif msg == "Notify success":
        said = Said.SUCCEEDED
    elif msg == "Notify for alerts failed":
        found = _GAVE_UP.match(fields.get("err", ""))
        if found is None:
            return None
        return NotifyLine(found["receiver"], found["integration"], Said.GAVE_UP, fields["err"])
    else:
        return None
    if "receiver" not in fields:
        return None
    return NotifyLine(fields["receiver"], fields.get("integration", ""), said, fields.get("err", ""))


def _logfmt(line: str) -> dict[str, str]:
    out = {}
    for key, value in _PAIR.findall(line):
        if value.startswith('"'):
            try:
                value = json.loads(value)  # Go's logfmt quotes as JSON strings do
            except ValueError:
                value = value[1:-1]
        out[key] = value
    return out


def _json(line: str) -> dict[str, str]:
    try:
        found = json.loads(line[line.index("{") :])
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


class AlertmanagerLog:
    """A file Alertmanager's log goes to; `since(mark)` parses what was appended after `mark()`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The file's size now (bytes); raises OSError when it cannot be read."""
        return self.path.stat().st_size

    def since(self, mark: int) -> list[NotifyLine]:
        """The notification facts of the lines written after `mark` (from the start if the file was rotated)."""
        with self.path.open("rb") as f:
            if f.seek(0, 2) < mark:
                mark = 0
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return [found for line in text.splitlines() if (found := parse_line(line)) is not None]
