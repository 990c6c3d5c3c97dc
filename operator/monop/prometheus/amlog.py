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
k8s-file log, a `2>>` redirect); `ContainerLog`, the lines a container wrote since then
(Podman's logs API). Each line's text after any prefix is parsed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

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


class NotifyLog(Protocol):
    """Where Alertmanager's log is read from: `mark()` now, `since(mark)` the facts written after it."""

    async def mark(self) -> float: ...

    async def since(self, mark: float) -> list[NotifyLine]: ...


class AlertmanagerLog:
    """A file Alertmanager's log goes to; `since(mark)` parses what was appended after `mark()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._marks: list[tuple[int, int, bytes]] = []  # (size in bytes, inode, its first bytes)

    async def mark(self) -> float:
        """A mark of the file as it is now; raises OSError when it cannot be read."""
        with self.path.open("rb") as f:
            info = os.fstat(f.fileno())
            self._marks.append((info.st_size, info.st_ino, f.read(_HEAD)))
        return float(len(self._marks) - 1)

    async def since(self, mark: float) -> list[NotifyLine]:
        """The notification facts of the lines written after `mark`; all of the file's when it was
        rotated since (another file, a shorter one, or one whose first bytes changed: copytruncate)."""
        size, inode, head = self._marks[int(mark)]
        with self.path.open("rb") as f:
            same = os.fstat(f.fileno()).st_ino == inode and f.seek(0, 2) >= size
            f.seek(0)
            same = same and f.read(len(head)) == head
            f.seek(size if same else 0)
            text = f.read().decode(errors="replace")
        return _facts(text.splitlines())


class ContainerLog:
    """The log of a container Alertmanager runs in, through `read(second)`: the lines it wrote in or
    after that whole second (monop.runtime.podman.Podman.logs). Podman's log times are whole
    seconds, so a mark is the second and how many lines of it were already there."""

    def __init__(
        self, read: Callable[[int], Awaitable[list[str]]], clock: Callable[[], float] = time.time
    ) -> None:
        self._read = read
        self._clock = clock
        self._marks: list[tuple[int, int]] = []  # (second, lines of it already written)

    async def mark(self) -> float:
        second = int(self._clock())
        self._marks.append((second, len(await self._read(second))))
        return float(len(self._marks) - 1)

    async def since(self, mark: float) -> list[NotifyLine]:
        second, seen = self._marks[int(mark)]
        return _facts((await self._read(second))[seen:])


def _facts(lines: list[str]) -> list[NotifyLine]:
    return [found for line in _whole(lines) if (found := parse_line(line)) is not None]


_K8S_FILE = re.compile(r"^(\S+ (?:stdout|stderr)) ([PF]) (.*)$")
_HEAD = 256  # bytes of the file's start kept with a mark, to notice a copytruncate rotation


def _whole(lines: list[str]) -> list[str]:
    """`lines` with a k8s-file log's partial lines (`<time> stderr P <text>`) joined to the rest of theirs."""
    out: list[str] = []
    partial: str | None = None
    for line in lines:
        found = _K8S_FILE.match(line)
        if found is None:
            out.append(line)
            continue
        text = (partial or "") + found[3]
        if found[2] == "P":
            partial = text
            continue
        out.append(f"{found[1]} F {text}")
        partial = None
    return out
