"""A delivery test per receiver: a synthetic alert through the live Alertmanager, and what became of it.

For each receiver: labels its matchers take, plus `alertname="MonopReceiverTest"` and a unique
`monop_test` label, are POSTed to `/api/v2/alerts` with a short `endsAt`. Alertmanager's
`/api/v2/alerts` then says which receivers the alert was routed to; its
`alertmanager_notification_requests_total` and `_failed_total{integration}` counters, which
count each attempt once it has ended, say whether the notification went out. Those counters are Alertmanager's, not the receiver's: receivers are
tested one after another, test alerts resolved only at the end (`endsAt` now, before the
function returns), and a failed one's retries are let run out before the next test, so each
count is the test's as long as nothing else notifies meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from monop.api.alerting import Matcher
from monop.desired.alerting import receiver_of, receivers, routing, routing_of
from monop.desired.routing import values_of
from monop.desired.state import LoadedResource
from monop.prometheus.alertmanager import AlertmanagerAPI, AlertmanagerUnreachable

TEST_LABEL = "monop_test"
ALERTNAME = "MonopReceiverTest"
DEFAULT_GROUP_WAIT = 30.0  # Alertmanager's defaults
DEFAULT_GROUP_INTERVAL = 300.0
MAX_SETTLE = 30.0  # seconds a failed test's retries may hold up the next test
_KEYS = {"webhook": "webhook_configs", "email": "email_configs", "slack": "slack_configs"}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_ROUTED = "not routed"  # another route catches the alert first
    NO_INTEGRATIONS = "no integrations"  # a receiver that drops alerts on purpose
    UNTESTABLE = "untestable"  # no label set its matchers take could be built, or Alertmanager unreachable


@dataclass(frozen=True)
class ReceiverTest:
    receiver: str
    outcome: Outcome
    detail: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    attempted: bool = False  # Alertmanager tried to notify (and, if FAILED, may still be retrying)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    def to_json(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "labels": dict(self.labels),
        }

    def __str__(self) -> str:
        return f"{self.receiver}: {self.outcome}" + (f": {self.detail}" if self.detail else "")


def labels_for(matchers: Sequence[Matcher]) -> dict[str, str] | None:
    """A label set all `matchers` take, or None when none can be built from them (a regex too open)."""
    labels: dict[str, str] = {}
    for m in matchers:
        if m.match_type in ("=", "=~"):
            values = values_of(m)
            if values is None:
                values = [v for v in _examples(m.value) if m.matches({m.name: v})]
            if not values:
                return None
            labels[m.name] = values[0]
    for m in matchers:
        if m.name not in labels and not m.matches({}):
            labels[m.name] = "monop-test"
    return labels if all(m.matches(labels) for m in matchers) else None


def _examples(regex: str) -> list[str]:
    """Strings a simple regex may match (`crit.*` -> `crit`), to be checked against it."""
    simple = regex.removeprefix("^").removesuffix("$")
    simple = re.sub(r"\([^()]*\)\?", "", simple)  # an optional group: left out
    simple = re.sub(r"\.\*\??", "", simple)
    simple = re.sub(r"\.\+\??", "x", simple)
    simple = re.sub(r"\\(.)", r"\1", simple)
    first = simple.split("|")[0].strip("()")
    return [first, simple, "", "x", "test", "monop-test"]


def routed_to(alerting: Sequence[LoadedResource], labels: dict[str, str]) -> list[str]:
    """The receivers monop's config sends an alert with `labels` to, in route order."""
    root = routing(alerting)
    default = routing_of(root).spec.receiver if root is not None else None
    out = []
    for loaded in receivers(alerting):
        spec = receiver_of(loaded).spec
        if loaded.name == default and not spec.matchers:
            continue
        if all(m.matches(labels) for m in spec.matchers):
            out.append(loaded.name)
            if not spec.continue_:
                return out
    return out or ([default] if default else [])


async def run_receiver_tests(
    alerting: Sequence[LoadedResource],
    api: AlertmanagerAPI,
    names: Sequence[str] = (),
    *,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    interval: float = 0.2,
) -> list[ReceiverTest]:
    """Test each receiver named (all when `names` is empty), one after another; one result each.

    `timeout` bounds the wait per receiver (default: its group_wait + 15 s). Raises nothing:
    Alertmanager unreachable is each receiver's UNTESTABLE with the reason.
    """
    wanted = [r for r in receivers(alerting) if not names or r.name in names]
    posted: list[dict[str, Any]] = []
    try:
        return [await _test_one(alerting, loaded, api, timeout, clock, interval, posted) for loaded in wanted]
    finally:
        # Resolved only now: a resolved notification sent during a later test would count as its own.
        end = datetime.now(UTC).isoformat()
        if posted:
            with contextlib.suppress(AlertmanagerUnreachable):
                await api.post_alerts([{**alert, "endsAt": end} for alert in posted])


async def _test_one(
    alerting: Sequence[LoadedResource],
    loaded: LoadedResource,
    api: AlertmanagerAPI,
    timeout: float | None,
    clock: Callable[[], float],
    interval: float,
    posted: list[dict[str, Any]],
) -> ReceiverTest:
    spec = receiver_of(loaded).spec
    built = labels_for(spec.matchers)
    if built is None:
        matchers = ", ".join(map(str, spec.matchers))
        return ReceiverTest(loaded.name, Outcome.UNTESTABLE, f"no test label set found that {matchers} take")
    test_id = uuid.uuid4().hex[:12]
    labels = {"alertname": ALERTNAME, **built, TEST_LABEL: test_id}
    # A group of its own, so the test is sent after group_wait rather than at the next
    # group_interval of a group that already exists: the grouping labels get unique values.
    group_by = _timing(alerting, loaded, "group_by") or ()
    own_group = "..." in group_by
    for name in group_by:
        if name not in built and name != "...":
            labels[name] = f"{ALERTNAME}-{test_id}" if name == "alertname" else f"monop-test-{test_id}"
            own_group = True
    shown = tuple(sorted(labels.items()))

    def result(outcome: Outcome, detail: str = "") -> ReceiverTest:
        return ReceiverTest(loaded.name, outcome, detail, shown)

    reached = routed_to(alerting, labels)
    if loaded.name not in reached:
        first = reached[0] if reached else "no receiver"
        return result(Outcome.NOT_ROUTED, f"the route of {first} catches it first (routes go by name)")
    kinds = [kind for kind, key in _KEYS.items() if getattr(spec, key)]
    if not kinds:
        return result(Outcome.NO_INTEGRATIONS, "it has no webhook, email or slack config: alerts stop here")
    wait = _timing(alerting, loaded, "group_wait", DEFAULT_GROUP_WAIT) + 15.0
    if not own_group:  # it joins a group that may exist: sent at its next group_interval
        wait += _timing(alerting, loaded, "group_interval", DEFAULT_GROUP_INTERVAL)
    wait = timeout if timeout is not None else wait
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "annotations": {"summary": f"monop test of receiver {loaded.name}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=wait + 60)).isoformat(),
    }
    try:
        before = await api.notification_counts()
        await api.post_alerts([alert])
        posted.append(alert)
        found = await _outcome(api, loaded.name, test_id, kinds, before, wait, clock, interval, result)
        if found.outcome is Outcome.FAILED and found.attempted:
            # Alertmanager retries until the notification's deadline, max(group_interval, 10 s):
            # let that end first (30 s at most), or its retries would count as the next test's.
            retrying = max(_timing(alerting, loaded, "group_interval", DEFAULT_GROUP_INTERVAL), 10.0) + 5.0
            await _given_up(api, kinds, before, clock() + min(retrying, MAX_SETTLE), clock, interval)
        return found
    except AlertmanagerUnreachable as err:
        return result(Outcome.UNTESTABLE, str(err))


async def _given_up(
    api: AlertmanagerAPI,
    kinds: Sequence[str],
    before: dict[tuple[str, str], float],
    deadline: float,
    clock: Callable[[], float],
    interval: float,
) -> None:
    """Wait (until `deadline`) for alertmanager_notifications_failed_total to say the retries ended."""
    while clock() < deadline:
        counts = await api.notification_counts()
        if any(counts.get(_gave_up(k), 0) > before.get(_gave_up(k), 0) for k in kinds):
            return
        await asyncio.sleep(interval)


async def _outcome(
    api: AlertmanagerAPI,
    name: str,
    test_id: str,
    kinds: Sequence[str],
    before: dict[tuple[str, str], float],
    wait: float,
    clock: Callable[[], float],
    interval: float,
    result: Callable[[Outcome, str], ReceiverTest],
) -> ReceiverTest:
    deadline = clock() + wait
    confirmed = False

    def attempted(outcome: Outcome, detail: str) -> ReceiverTest:
        return dataclasses.replace(result(outcome, detail), attempted=True)

    while True:
        found = await api.alerts(f'{TEST_LABEL}="{test_id}"')
        live = sorted({r["name"] for a in found for r in a.get("receivers", [])})
        if live and name not in live:
            return result(Outcome.NOT_ROUTED, f"Alertmanager routed it to {', '.join(live)}")
        counts = await api.notification_counts()
        sent = {k for k in kinds if counts.get(_total(k), 0) > before.get(_total(k), 0)}
        failed = [k for k in kinds if counts.get(_failed(k), 0) > before.get(_failed(k), 0)]
        if failed:
            return attempted(
                Outcome.FAILED,
                f"Alertmanager's {', '.join(failed)} notification failed "
                "(alertmanager_notification_requests_failed_total rose; its log says why); "
                "it retries until it gets through",
            )
        if set(kinds) <= sent and confirmed:
            return attempted(Outcome.DELIVERED, f"{', '.join(kinds)} notification sent")
        # The failed count is raised just after the total: look once more before saying delivered.
        confirmed = set(kinds) <= sent
        if clock() > deadline:
            return result(Outcome.FAILED, f"no notification attempt within {wait:.0f}s of the alert")
        await asyncio.sleep(interval)


def _total(kind: str) -> tuple[str, str]:
    return ("alertmanager_notification_requests_total", kind)


def _failed(kind: str) -> tuple[str, str]:
    return ("alertmanager_notification_requests_failed_total", kind)


def _gave_up(kind: str) -> tuple[str, str]:
    return ("alertmanager_notifications_failed_total", kind)


def _timing(
    alerting: Sequence[LoadedResource], loaded: LoadedResource, name: str, default: Any = None
) -> Any:
    """The receiver's own `group_by`/`group_wait`/`group_interval`, else the AlertRouting's, else `default`."""
    own = getattr(receiver_of(loaded).spec, name)
    if own is not None:
        return own
    root = routing(alerting)
    inherited = getattr(routing_of(root).spec, name) if root is not None else None
    return inherited if inherited is not None else default
