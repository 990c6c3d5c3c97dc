"""A delivery test per receiver: a synthetic alert through the live Alertmanager, and what became of it.

For each receiver: labels its matchers take, plus `alertname="MonopReceiverTest-<id>"` and a
unique `monop_test` label (a group of its own, sent after group_wait), are POSTed to
`/api/v2/alerts` with a short `endsAt`. Where it went is Alertmanager's word: the alert's
`receivers` in `/api/v2/alerts` (explained by monop's routing tree, which is asked first so
that an alert another route would catch is never sent to that route's people).

Whether it was delivered needs evidence that is the test's own. Alertmanager 0.25 counts
attempts per integration type (`alertmanager_notification_requests_failed_total{integration=
"webhook"}`), so while another receiver's webhook retries a failure, that counter rises for
every webhook receiver tested meanwhile. In order of strength:

1. per-receiver counters (`receiver_name` label: Alertmanager 0.26+ with
   `--enable-feature=receiver-name-in-metrics`);
2. Alertmanager's log (monop.prometheus.amlog: the `alertmanager_log` setting), whose failure
   lines name the receiver and carry Alertmanager's error;
3. the per-integration counters, but only as far as they can be the test's: read from just
   before the test's group_wait ends (Alertmanager flushes it then, not earlier), successful
   attempts, one per integration of that type the receiver has, while the only other
   notifications of that type in flight are failing retries, are the test's; a failed one while
   another receiver of that type has alerts (re-read at each poll) is anyone's, and the verdict
   says UNCERTAIN rather than guess. Alertmanager logs a success only at debug, so the log
   does not make a success the test's.

A failed test's alert is resolved at once (Alertmanager sends no resolved notification for a
group it never reached, and no longer retries it at the next group_interval); its retries of
the flush in progress run on for max(group_interval, 10 s), and the integration type counts as
busy until then. Delivered tests' alerts are resolved at the end (their resolved notification
would otherwise land in a later test), and every posted alert is resolved in a `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from monop.api.alerting import Matcher

with warnings.catch_warnings():  # the regex parser's module: deprecated as public, kept as re._parser
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_parse
from monop.desired.alerting import known_secrets, receiver_of, receivers, routing, routing_of
from monop.desired.routing import values_of
from monop.desired.state import LoadedResource
from monop.errors import MonopError
from monop.files import write_atomic
from monop.prometheus.alertmanager import AlertmanagerAPI, AlertmanagerUnreachable
from monop.prometheus.amlog import NotifyLine, NotifyLog, Said

TEST_LABEL = "monop_test"
ALERTNAME = "MonopReceiverTest"
DEFAULT_GROUP_WAIT = 30.0  # Alertmanager's defaults
DEFAULT_GROUP_INTERVAL = 300.0
MIN_NOTIFY_TIMEOUT = 10.0  # Alertmanager's notify.MinTimeout: a flush retries at least this long
MAX_SETTLE = 30.0  # seconds a test without better evidence waits for an earlier failure's retries to end
_KEYS = {"webhook": "webhook_configs", "email": "email_configs", "slack": "slack_configs"}
_TOTAL = "alertmanager_notification_requests_total"
_FAILED = "alertmanager_notification_requests_failed_total"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_ROUTED = "not routed"  # another route catches the alert first
    NO_INTEGRATIONS = "no integrations"  # a receiver that drops alerts on purpose
    UNCERTAIN = "uncertain"  # Alertmanager's evidence could be another receiver's (0.25, no log)
    UNTESTABLE = "untestable"  # no label set its matchers take could be built, or Alertmanager unreachable


@dataclass(frozen=True)
class ReceiverTest:
    receiver: str
    outcome: Outcome
    detail: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    evidence: str = ""  # what the verdict rests on: "log", "receiver metrics", "integration metrics", ...
    attempted: bool = False  # Alertmanager tried to notify (and, if FAILED, may still be retrying)
    at: float = field(default_factory=time.time)  # when the verdict was reached (Unix seconds)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    def to_json(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "evidence": self.evidence,
            "labels": dict(self.labels),
            "at": self.at,
        }

    def __str__(self) -> str:
        return f"{self.receiver}: {self.outcome}" + (f": {self.detail}" if self.detail else "")


def labels_for(matchers: Sequence[Matcher]) -> dict[str, str] | None:
    """A label set all `matchers` take, or None when none can be built from them (a regex too open).

    Per label, every value its positive matchers list or their regexes generate is tried
    against all the matchers on that label (`=~"critical|page"` with `!="critical"`: `page`).
    """
    labels: dict[str, str] = {}
    for name in dict.fromkeys(m.name for m in matchers):
        on_it = [m for m in matchers if m.name == name]
        candidates: list[str] = []
        for m in on_it:
            if m.match_type in ("=", "=~"):
                candidates += values_of(m) or [*_generated(m.value), *_examples(m.value)]
        if not candidates:
            if all(m.matches({}) for m in on_it):
                continue  # left out: the empty value passes
            candidates = ["monop-test", "x"]
        found = next((v for v in candidates if all(m.matches({name: v}) for m in on_it)), None)
        if found is None:
            return None
        labels[name] = found
    return labels if all(m.matches(labels) for m in matchers) else None


_MAX_GENERATED = 16


def _generated(regex: str) -> list[str]:
    """Strings `regex` matches, made from its parse tree (`P[12]` -> `P1`, `\\d+` -> `0`); [] when
    it uses what this does not follow (back references, look-arounds)."""
    try:
        parsed = sre_parse.parse(regex)
    except re.error:
        return []
    return _sequence(list(parsed.data))


def _sequence(items: list[tuple[Any, Any]]) -> list[str]:
    out = [""]
    for op, arg in items:
        options = _one(str(op), arg)
        if not options:
            return []
        out = [a + b for a in out for b in options][:_MAX_GENERATED]
    return out


def _one(op: str, arg: Any) -> list[str]:
    if op == "LITERAL":
        return [chr(arg)]
    if op in ("ANY", "NOT_LITERAL"):
        return ["x", "y"]
    if op == "AT":
        return [""]
    if op == "IN":
        return _in_set(arg)
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, _, sub = arg
        inner = _sequence(list(sub))
        return [s * max(low, 1) for s in inner] + ([""] if low == 0 else [])
    if op in ("SUBPATTERN", "ATOMIC_GROUP"):
        return _sequence(list(arg[-1]))
    if op == "BRANCH":
        return [s for branch in arg[1] for s in _sequence(list(branch))][:_MAX_GENERATED]
    return []


def _in_set(items: list[tuple[Any, Any]]) -> list[str]:
    if items and str(items[0][0]) == "NEGATE":
        return ["x", "y", "0", "-"]
    out = []
    for op, arg in items:
        if str(op) == "LITERAL":
            out.append(chr(arg))
        elif str(op) == "RANGE":
            out.append(chr(arg[0]))
        elif str(op) == "CATEGORY":
            out += {"CATEGORY_DIGIT": ["0"], "CATEGORY_WORD": ["a"], "CATEGORY_SPACE": [" "]}.get(
                str(arg), ["x"]
            )
    return out


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


def avoiding_others(alerting: Sequence[LoadedResource], labels: dict[str, str], name: str) -> dict[str, str]:
    """`labels`, changed where it can be so that the alert reaches receiver `name` alone.

    An earlier route without `continue` that takes it, or one with `continue` that would be
    paged too, is avoided by failing one of its matchers on a label `name`'s own matchers do
    not need. The labels as given when no such change is found (the caller says why).
    """
    own = {m.name for m in receiver_of(_named(alerting, name)).spec.matchers} | {"alertname", TEST_LABEL}
    by_name = {r.name: receiver_of(r).spec for r in receivers(alerting)}
    current = dict(labels)
    for _ in range(2 * len(by_name)):
        reached = routed_to(alerting, current)
        other = next((r for r in reached if r != name), None)
        if other is None or other not in by_name:
            break
        changed = None
        for m in by_name[other].matchers:
            if m.name in own:
                continue
            for value in _failing(m):
                attempt = {**current, m.name: value}
                if not m.matches(attempt):
                    changed = attempt
                    break
            if changed is not None:
                break
        if changed is None:
            break
        current = changed
    return current if routed_to(alerting, current) == [name] else dict(labels)


def _failing(m: Matcher) -> list[str]:
    """Values that may fail `m`: for `=`/`=~` any other, for `!=`/`!~` one it names."""
    if m.match_type in ("=", "=~"):
        return ["monop-test-elsewhere", "", "x"]
    return [m.value] if m.match_type == "!=" else [*_generated(m.value), *_examples(m.value)]


def _named(alerting: Sequence[LoadedResource], name: str) -> LoadedResource:
    return next(r for r in receivers(alerting) if r.name == name)


def why_elsewhere(alerting: Sequence[LoadedResource], labels: dict[str, str], name: str) -> str:
    """Which route of the routing tree takes an alert with `labels` instead of receiver `name`, and why."""
    reached = routed_to(alerting, labels)
    root = routing(alerting)
    default = routing_of(root).spec.receiver if root is not None else None
    if not reached:
        return "no route takes it and there is no default receiver"
    first = reached[0]
    by_name = {r.name: receiver_of(r).spec for r in receivers(alerting)}
    spec = by_name.get(first)
    if first == default and (spec is None or not spec.matchers) and first != name:
        return f"no route's matchers take it: it falls to the default receiver {first}"
    matchers = ", ".join(map(str, spec.matchers)) if spec is not None else ""
    return (
        f"the route of AlertReceiver/{first} ({matchers or 'every alert'}), earlier (routes go by "
        "name) and without continue, catches it first"
    )


async def run_receiver_tests(
    alerting: Sequence[LoadedResource],
    api: AlertmanagerAPI,
    names: Sequence[str] = (),
    *,
    log: NotifyLog | None = None,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    interval: float = 0.2,
    done: Callable[[ReceiverTest], None] | None = None,
    resolved: Mapping[str, float] | None = None,
    allow_fanout: bool = False,
) -> list[ReceiverTest]:
    """Test each receiver named (all when `names` is empty), one after another; one result each.

    `log`: Alertmanager's log (a file, or its container's), whose lines name the receiver (without it, a verdict that
    could be another receiver's is UNCERTAIN). `timeout` bounds the wait per receiver (seconds;
    default: its group_wait + 15 s). Raises nothing: Alertmanager unreachable is each
    receiver's UNTESTABLE with the reason. Every alert posted is resolved before it returns.
    `done` is told each result as it is known. A receiver whose test alert would reach others
    too (routes with `continue`) is UNTESTABLE unless `allow_fanout`. `resolved`: receiver name -> when (Unix seconds)
    an earlier run resolved a test alert that may have reached it (`resolved_earlier`): its
    resolved notification may go out until a group_interval later, and is not a test's delivery.
    """
    run = _Run(alerting, api, log, timeout, clock, interval, allow_fanout)
    for loaded in receivers(alerting):
        at = (resolved or {}).get(loaded.name)
        if at is None:
            continue
        left = at + _timing(alerting, loaded, "group_interval", DEFAULT_GROUP_INTERVAL) + 1.0 - time.time()
        for kind, key in _KEYS.items():
            if left > 0 and getattr(receiver_of(loaded).spec, key):
                run.resolving[kind] = max(run.resolving.get(kind, 0.0), clock() + left)
    wanted = [r for r in receivers(alerting) if not names or r.name in names]
    # Alertmanager's errors quote the webhook URL, which may be a secret monop read.
    mask = known_secrets(alerting).redact
    results = []
    try:
        for loaded in wanted:
            found = await run.test(loaded)
            results.append(dataclasses.replace(found, detail=mask(found.detail)))
            if done is not None:
                done(results[-1])
        return results
    finally:
        await run.resolve(list(run.posted))


@dataclass
class _Run:
    alerting: Sequence[LoadedResource]
    api: AlertmanagerAPI
    log: NotifyLog | None
    timeout: float | None
    clock: Callable[[], float]
    interval: float
    allow_fanout: bool = False  # send a test alert that other receivers get too
    also: list[str] = field(default_factory=list)  # the other receivers the current test alert reaches
    own_group: tuple[str, dict[str, str]] | None = None  # the current test's group: receiver, labels
    posted: dict[str, dict[str, Any]] = field(default_factory=dict)  # test id -> alert, until resolved
    busy: dict[str, float] = field(default_factory=dict)  # integration type -> clock() its retries end by
    # integration type -> clock() until which a resolved notification of an earlier test may go out
    resolving: dict[str, float] = field(default_factory=dict)
    maybe_delivered: bool = False  # the last UNCERTAIN test saw successful attempts of its types

    async def resolve(self, ids: Sequence[str]) -> None:
        alerts = [self.posted.pop(i) for i in ids if i in self.posted]
        if alerts:
            end = datetime.now(UTC).isoformat()
            with contextlib.suppress(AlertmanagerUnreachable):
                await self.api.post_alerts([{**alert, "endsAt": end} for alert in alerts])

    async def test(self, loaded: LoadedResource) -> ReceiverTest:
        spec = receiver_of(loaded).spec
        built = labels_for(spec.matchers)
        if built is None:
            matchers = ", ".join(map(str, spec.matchers))
            return ReceiverTest(
                loaded.name, Outcome.UNTESTABLE, f"no test label set found that {matchers} take"
            )
        test_id = uuid.uuid4().hex[:12]
        labels = {"alertname": f"{ALERTNAME}-{test_id}", **built, TEST_LABEL: test_id}
        # A group of its own, so the test is sent after group_wait rather than at the next
        # group_interval of a group that already exists: the grouping labels get unique values.
        for name in _timing(self.alerting, loaded, "group_by") or ():
            if name not in labels and name != "...":
                labels[name] = f"monop-test-{test_id}"
        labels = avoiding_others(self.alerting, labels, loaded.name)
        shown = tuple(sorted(labels.items()))

        def result(outcome: Outcome, detail: str = "", evidence: str = "") -> ReceiverTest:
            return ReceiverTest(loaded.name, outcome, detail, shown, evidence)

        reached = routed_to(self.alerting, labels)
        if loaded.name not in reached:
            why = why_elsewhere(self.alerting, labels, loaded.name)
            return result(Outcome.NOT_ROUTED, f"{why}; not sent, so that it notifies no one", "routing tree")
        also = self.also = [r for r in reached if r != loaded.name]
        if also and not self.allow_fanout:
            return result(
                Outcome.UNTESTABLE,
                f"every alert it takes also reaches {', '.join(also)} (routes with continue): not sent, "
                "so that they are not notified; --allow-fanout sends it anyway",
                "routing tree",
            )
        kinds = [kind for kind, key in _KEYS.items() if getattr(spec, key)]
        if not kinds:
            return result(
                Outcome.NO_INTEGRATIONS, "it has no webhook, email or slack config: alerts stop here"
            )
        wait = self.timeout
        if wait is None:
            wait = _timing(self.alerting, loaded, "group_wait", DEFAULT_GROUP_WAIT) + 15.0
        try:
            found = await self._send(loaded.name, test_id, labels, kinds, wait, result)
            if also:
                found = dataclasses.replace(found, detail=f"{found.detail}; it reached {', '.join(also)} too")
            return found
        except AlertmanagerUnreachable as err:
            return result(Outcome.UNTESTABLE, str(err))
        except OSError as err:  # the log file became unreadable
            return result(
                Outcome.UNTESTABLE, f"cannot read Alertmanager's log {err.filename}: {err.strerror}"
            )
        except MonopError as err:  # its container's log could not be read
            return result(Outcome.UNTESTABLE, f"cannot read Alertmanager's log: {err}")

    async def _send(
        self,
        name: str,
        test_id: str,
        labels: dict[str, str],
        kinds: list[str],
        wait: float,
        result: Callable[..., ReceiverTest],
    ) -> ReceiverTest:
        counts_now = await self.api.notification_counts()
        own_counts = any(key[2] for key in counts_now)
        if self.log is None and not own_counts:
            # The counters are the only evidence: let a failed test's retries end first, if soon.
            ends = max((self.busy.get(k, 0.0) for k in kinds), default=0.0)
            if 0 < ends - self.clock() <= MAX_SETTLE:
                while self.clock() < ends:
                    await asyncio.sleep(self.interval)
        joined = await self._joined(name, labels)
        if joined is not None and self.timeout is None:
            # Alertmanager sends it with that group at the group's next group_interval tick.
            wait = max(
                wait,
                _timing(self.alerting, self._loaded(name), "group_interval", DEFAULT_GROUP_INTERVAL) + 15.0,
            )
        others = await self._others(kinds)
        for other in self.also:  # the same alert notifies them too (--allow-fanout)
            for kind in kinds:
                if getattr(receiver_of(self._loaded(other)).spec, _KEYS[kind]):
                    others.setdefault(kind, f"receiver {other}, which the test alert reaches too")
        mark = await self.log.mark() if self.log is not None else 0.0
        before = await self.api.notification_counts()
        sent_at = self.clock()
        now = datetime.now(UTC)
        alert = {
            "labels": labels,
            "annotations": {"summary": f"monop test of receiver {name}"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(seconds=wait + 60)).isoformat(),
        }
        await self.api.post_alerts([alert])
        self.posted[test_id] = alert
        found = await self._judge(
            name, test_id, labels, kinds, others, mark, before, sent_at, wait, result, joined
        )
        interval = _timing(self.alerting, self._loaded(name), "group_interval", DEFAULT_GROUP_INTERVAL)
        if found.outcome is Outcome.UNCERTAIN and found.attempted and self.maybe_delivered:
            # It may have been delivered: its resolved notification goes out within group_interval.
            for kind in kinds:
                self.resolving[kind] = max(self.resolving.get(kind, 0.0), self.clock() + interval + 1.0)
        if found.attempted and (
            found.outcome is Outcome.FAILED
            or (found.outcome is Outcome.UNCERTAIN and not self.maybe_delivered)
        ):
            # Resolved now: no retry at its next group_interval, no resolved notification (it never
            # reached anyone). The flush in progress retries for max(group_interval, 10 s).
            await self.resolve([test_id])
            retrying = max(interval, MIN_NOTIFY_TIMEOUT)
            for kind in kinds:
                self.busy[kind] = max(self.busy.get(kind, 0.0), self.clock() + retrying + 1.0)
        elif found.outcome is not Outcome.DELIVERED:
            await self.resolve([test_id])
        return found

    async def _joined(self, name: str, labels: dict[str, str]) -> str | None:
        """The group of receiver `name` the test alert joins, when alerts fire in it already
        (its grouping labels are all fixed by its matchers): `{team="ops"}`, else None."""
        group_by = _timing(self.alerting, self._loaded(name), "group_by")
        if group_by is not None and "..." in group_by:
            self.own_group = None
            return None  # every label: the test's unique one makes a group of its own
        key = {label: labels[label] for label in group_by or () if labels.get(label)}
        self.own_group = (name, key)
        for group in await self.api.alert_groups():
            if (
                group.get("receiver", {}).get("name") == name
                and group.get("labels") == key
                and group.get("alerts")
            ):
                shown = ", ".join(f'{k}="{v}"' for k, v in sorted(key.items()))
                return f"{{{shown}}} ({len(group['alerts'])} alerts firing)"
        return None

    def _loaded(self, name: str) -> LoadedResource:
        return _named(self.alerting, name)

    async def _others(self, kinds: Sequence[str]) -> dict[str, str]:
        """Integration types of `kinds` that others may be notifying by meanwhile: type -> who."""
        out: dict[str, str] = {}
        for kind in kinds:
            if self.resolving.get(kind, 0.0) > self.clock():
                out[kind] = "an earlier test's resolved notification"
            elif self.busy.get(kind, 0.0) > self.clock():
                out[kind] = "an earlier test's failing retries"
        by_name = {r.name: receiver_of(r).spec for r in receivers(self.alerting)}
        for group in await self.api.alert_groups():
            if all(TEST_LABEL in a.get("labels", {}) for a in group.get("alerts", [])):
                continue
            if self.own_group == (group.get("receiver", {}).get("name"), group.get("labels")):
                continue  # the group the test alert joined: its flush is the test's
            spec = by_name.get(group.get("receiver", {}).get("name", ""))
            for kind in kinds:
                if spec is not None and getattr(spec, _KEYS[kind]) and kind not in out:
                    out[kind] = f"the alerts of receiver {group['receiver']['name']}"
        return out

    async def _judge(
        self,
        name: str,
        test_id: str,
        labels: dict[str, str],
        kinds: list[str],
        others: dict[str, str],
        mark: float,
        before: dict[tuple[str, str, str], float],
        sent_at: float,
        wait: float,
        result: Callable[..., ReceiverTest],
        joined: str | None = None,
    ) -> ReceiverTest:
        deadline = self.clock() + wait
        seen: list[str] = []  # what each poll pointed to, to confirm it on the next one
        spec = receiver_of(self._loaded(name)).spec
        expected = {k: len(getattr(spec, _KEYS[k])) for k in kinds}  # attempts one flush makes
        integrations = [f"{k}[{i}]" for k in kinds for i in range(expected[k])]
        # Alertmanager flushes the test's group group_wait after it got the alert, not before:
        # what the counters did until just before then was someone else's, so they are read
        # again then and only what they do from there on can be the test's.
        group_wait = float(_timing(self.alerting, self._loaded(name), "group_wait", DEFAULT_GROUP_WAIT))
        # Joining a group that has flushed, it goes out at that group's next tick: any time.
        rebase_at = sent_at if joined is not None else sent_at + max(group_wait - 0.25, 0.0)
        rebased = False

        def attempted(outcome: Outcome, detail: str, evidence: str) -> ReceiverTest:
            return dataclasses.replace(result(outcome, detail, evidence), attempted=True)

        while True:
            for alert in await self.api.alerts(f'{TEST_LABEL}="{test_id}"'):
                live = sorted({r["name"] for r in alert.get("receivers", [])})
                if live and name not in live:
                    why = why_elsewhere(self.alerting, labels, name)
                    return result(
                        Outcome.NOT_ROUTED,
                        f"Alertmanager routed it to {', '.join(live)}: {why}",
                        "alertmanager",
                    )
                status = alert.get("status", {})
                muted = [*status.get("silencedBy", []), *status.get("inhibitedBy", [])]
                if muted:
                    return result(
                        Outcome.FAILED,
                        f"Alertmanager muted it (silenced or inhibited by {', '.join(muted)})",
                        "alertmanager",
                    )
            lines = [line for line in await self.log.since(mark) if line.receiver == name] if self.log else []
            failure = next((line for line in lines if line.said is not Said.SUCCEEDED), None)
            if failure is not None:
                return attempted(Outcome.FAILED, _said(failure), "log")
            succeeded = {line.integration for line in lines if line.said is Said.SUCCEEDED}
            if integrations and set(integrations) <= succeeded:
                return attempted(Outcome.DELIVERED, f"{', '.join(integrations)} notified", "log")
            counts = await self.api.notification_counts()
            if not rebased:
                if self.clock() < rebase_at:
                    await asyncio.sleep(min(self.interval, max(rebase_at - self.clock(), 0.0)))
                    continue
                before, rebased = counts, True
            for kind, who in (await self._others(kinds)).items():
                others.setdefault(kind, who)  # another flush of that type may fall in the window
            verdict = _from_counts(name, kinds, expected, counts, before, others)
            if verdict is not None and seen[-1:] == [verdict[0].value]:
                outcome, detail, evidence = verdict
                if outcome is Outcome.FAILED and self.log is not None:
                    detail += "; Alertmanager's log has no line about it"
                return attempted(outcome, detail, evidence)
            seen.append(verdict[0].value if verdict else "")
            if self.clock() > deadline:
                if any(_rose(counts, before, _TOTAL, k) > 0 for k in kinds):
                    # Only failures seen: it reached no one, and no resolved notification will follow.
                    self.maybe_delivered = any(
                        _rose(counts, before, _TOTAL, k) > _rose(counts, before, _FAILED, k) for k in kinds
                    )
                    whose = "; ".join(sorted(set(others.values()))) or "no one else known"
                    hint = (
                        ": its log names the receiver of a failed attempt only (a success is logged at debug)"
                        if self.log is not None
                        else ": set alertmanager_log (or alertmanager_container) so that monop reads its log, "
                        "which names the receiver of a failed attempt"
                    )
                    return dataclasses.replace(
                        result(
                            Outcome.UNCERTAIN,
                            f"{', '.join(kinds)} attempts were made within {wait:.0f}s, but not all "
                            f"{sum(expected.values())} of this receiver's, or while {whose} notified by "
                            f"{', '.join(kinds)} too: Alertmanager 0.25 does not say whose{hint}",
                            "integration metrics",
                        ),
                        attempted=True,
                    )
                if joined is not None:
                    return result(
                        Outcome.UNCERTAIN,
                        f"it joined the group {joined} of this receiver, which Alertmanager notifies at its "
                        f"next group_interval, and no attempt came within {wait:.0f}s",
                        "alertmanager",
                    )
                return result(Outcome.FAILED, f"no notification attempt within {wait:.0f}s of the alert")
            await asyncio.sleep(self.interval)


def _said(line: NotifyLine) -> str:
    where = f"{line.integration}: " if line.said is Said.FAILED else ""
    return f"{where}{line.error}" if line.error else f"{line.integration} {line.said}"


def _rose(
    counts: dict[tuple[str, str, str], float],
    before: dict[tuple[str, str, str], float],
    metric: str,
    kind: str,
) -> float:
    return counts.get((metric, kind, ""), 0) - before.get((metric, kind, ""), 0)


def _from_counts(
    name: str,
    kinds: Sequence[str],
    expected: dict[str, int],
    counts: dict[tuple[str, str, str], float],
    before: dict[tuple[str, str, str], float],
    others: dict[str, str],
) -> tuple[Outcome, str, str] | None:
    """A verdict the counters support on their own, or None (nothing yet, or not the test's to claim).

    `expected`: the attempts one flush of the receiver makes, by integration type (one per
    config); no verdict of success before that many have ended.
    """

    def rose(metric: str, kind: str, receiver: str = "") -> float:
        key = (metric, kind, receiver)
        return counts.get(key, 0) - before.get(key, 0)

    if any(key[2] for key in counts):  # Alertmanager 0.26+ counts per receiver: exact
        failed = [k for k in kinds if rose(_FAILED, k, name) > 0]
        if failed:
            return (
                Outcome.FAILED,
                f"{', '.join(failed)} attempts failed (see Alertmanager's log)",
                "receiver metrics",
            )
        if all(rose(_TOTAL, k, name) >= expected[k] for k in kinds):
            return Outcome.DELIVERED, f"{', '.join(kinds)} notified", "receiver metrics"
        return None
    failed = [k for k in kinds if rose(_FAILED, k) > 0 and k not in others]
    if failed:  # with a log, a failure of this receiver's is read there first, with its error
        return (
            Outcome.FAILED,
            f"a {', '.join(failed)} attempt failed (alertmanager_notification_requests_failed_total rose; "
            "set alertmanager_log for Alertmanager's error)",
            "integration metrics",
        )
    # Successful attempts are the test's when every one of its integrations made one and no one
    # else notifies by that type (failing retries add no success). Alertmanager logs a success
    # only at debug, so the log cannot say whose a success was.
    succeeded = all(rose(_TOTAL, k) - rose(_FAILED, k) >= expected[k] for k in kinds)
    if succeeded and all(k not in others or others[k].endswith("failing retries") for k in kinds):
        return Outcome.DELIVERED, f"{', '.join(kinds)} notified", "integration metrics"
    return None


def resolved_earlier(path: Path) -> dict[str, float]:
    """Receiver name -> when (Unix seconds) the run that saved `path` resolved a test alert that
    may have reached it (delivered or uncertain): the file is written after they are resolved."""
    try:
        at = path.stat().st_mtime
    except OSError:
        return {}
    maybe = (Outcome.DELIVERED.value, Outcome.UNCERTAIN.value)
    return {name: at for name, found in load_results(path).items() if found.get("outcome") in maybe}


def save_results(path: Path, results: Sequence[ReceiverTest]) -> None:
    """Keep each receiver's latest result in `path` (JSON: name -> ReceiverTest.to_json())."""
    known = load_results(path)
    known.update({r.receiver: r.to_json() for r in results})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(known, indent=1, sort_keys=True) + "\n", mode=0o644)


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """The results `save_results` kept, by receiver name; {} when there are none or the file is unreadable."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


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
