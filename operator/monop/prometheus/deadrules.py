"""Dead selectors: a rule's selector that matches no series in the live Prometheus, and why.

Cloudflare's pint (`promql/series`) is the model: each selector of each rule is asked for,
and one that matches nothing is explained: the metric was never seen (not in the TSDB at
all), it disappeared (in the TSDB, no sample now or in the range the rule reads), a label it requires is
absent from the metric's series, or a label value matches none of them (the values that do
exist are listed). Beyond pint, each finding names the nearest existing metric names
(shared name tokens, `temp` ~ `temperature`, then spelling) and the scrape job that should
have exported the metric: the selector's own `job`, else the job whose series carry the
nearest metric, with the desired resource that job scrapes. Selectors meant to match
nothing (`absent()`, `unless`, `or vector(0)`) are never asked (monop.desired.selectors).
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monop.api.duration import format_duration
from monop.desired.promql import group_of
from monop.desired.selectors import NAME_LABEL, Matcher, Op, Selector, selectors
from monop.desired.state import LoadedResource
from monop.errors import Problem, PrometheusRefused, PrometheusUnreachable, Severity
from monop.prometheus.series import LOOKBACK, SeriesLookup

NEAREST = 3  # metric names offered for a dead one
MIN_SIMILARITY = 0.35  # below this a name is not offered as "nearest"
SHOWN_VALUES = 10  # label values listed for a value that matches nothing


class DeadReason(StrEnum):
    NEVER_SEEN = "NeverSeen"  # the metric name is nowhere in the TSDB
    DISAPPEARED = "Disappeared"  # in the TSDB, but no series has a sample now (or in the rule's range)
    LABEL_ABSENT = "LabelAbsent"  # no series of the metric carries a label the selector requires
    VALUE_UNMATCHED = "ValueUnmatched"  # the label exists, the value asked for matches none of it
    NO_COMBINATION = "NoCombination"  # each matcher matches some series, no series matches them all
    NO_MATCH = "NoMatch"  # a selector without a metric name matches nothing
    NOT_RECORDED_YET = "NotRecordedYet"  # a desired recording rule writes it and has not yet: pending


@dataclass(frozen=True)
class DeadSelector:
    """One selector of one rule that matches nothing, why, and what was probably meant."""

    group: str
    rule: str  # the alert's name, or the recording rule's
    index: int  # the rule's position in spec.rules
    selector: str  # as PromQL, e.g. `node_cpu_seconds_total{mode="idel"}`
    reason: DeadReason
    message: str
    metric: str | None = None
    label: str | None = None  # the label at fault (LabelAbsent, ValueUnmatched)
    values: tuple[str, ...] = ()  # that label's existing values (ValueUnmatched), or the metric's labels
    nearest: tuple[str, ...] = ()  # existing metric names (or label values) nearest the one asked for
    job: str | None = None  # the scrape job that should have exported it
    resource: str | None = None  # the desired resource that job scrapes (KIND/NAME)
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.group}/{self.rule}"

    def hint(self) -> str:
        """`; nearest: a, b (job J, Exporter/x)`, or empty."""
        parts = []
        if self.nearest:
            parts.append("nearest: " + ", ".join(self.nearest))
        if self.job:
            owner = f", {self.resource}" if self.resource else ""
            parts.append(f"job {self.job}{owner}")
        return "; " + "; ".join(parts) if parts else ""

    @property
    def kind(self) -> str:
        """`DeadSelector`, or `PendingSelector` for a series a desired recording rule has not written yet."""
        return "PendingSelector" if self.reason is DeadReason.NOT_RECORDED_YET else "DeadSelector"

    def __str__(self) -> str:
        return f"{self.kind} {self.where}: {self.selector}: {self.message}{self.hint()}"

    def problem(self) -> Problem:
        """The finding at its rule's line: `FILE:LINE: warning: AlertRuleGroup/G: spec.rules[i].expr: ...`."""
        message = f"{self.kind}: {self.selector}: {self.message}{self.hint()}"
        where = f"spec.rules[{self.index}].expr"
        return Problem(
            self.file or "", self.line, f"AlertRuleGroup/{self.group}", where, message, Severity.WARNING
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "rule": self.rule,
            "ruleIndex": self.index,
            "selector": self.selector,
            "reason": self.reason.value,
            "message": self.message,
            "metric": self.metric,
            "label": self.label,
            "values": list(self.values),
            "nearest": list(self.nearest),
            "job": self.job,
            "resource": self.resource,
            "file": self.file,
            "line": self.line,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadSelector:
        return cls(
            group=str(data["group"]),
            rule=str(data["rule"]),
            index=int(data.get("ruleIndex", 0)),
            selector=str(data["selector"]),
            reason=DeadReason(data["reason"]),
            message=str(data["message"]),
            metric=data.get("metric"),
            label=data.get("label"),
            values=tuple(data.get("values") or ()),
            nearest=tuple(data.get("nearest") or ()),
            job=data.get("job"),
            resource=data.get("resource"),
            file=data.get("file"),
            line=data.get("line"),
        )


@dataclass(frozen=True)
class DeadReport:
    """The result of one check: selectors asked for, queries made, the dead ones."""

    url: str
    reachable: bool
    error: str | None = None
    rules: tuple[tuple[str, str], ...] = ()  # (group, rule) of every rule checked
    selectors: int = 0
    queries: int = 0
    dead: tuple[DeadSelector, ...] = field(default=())
    unparsed: tuple[str, ...] = ()  # `group/rule: parser message` for expressions not read
    pending: tuple[DeadSelector, ...] = ()  # NotRecordedYet: a desired recording rule will write it
    unchecked: tuple[str, ...] = ()  # `group/rule: selector: Prometheus's refusal` for queries it refused

    def by_rule(self) -> dict[tuple[str, str], int]:
        """(group, rule) -> its dead selectors, 0 for every rule checked."""
        counts = dict.fromkeys(self.rules, 0)
        for d in self.dead:
            counts[(d.group, d.rule)] = counts.get((d.group, d.rule), 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "reachable": self.reachable,
            "error": self.error,
            "rules": len(self.rules),
            "selectors": self.selectors,
            "queries": self.queries,
            "dead": [d.to_json() for d in self.dead],
            "unparsed": list(self.unparsed),
            "pending": [d.to_json() for d in self.pending],
            "unchecked": list(self.unchecked),
        }


def recorded_by(groups: Sequence[LoadedResource]) -> dict[str, str]:
    """Each series name a desired recording rule writes -> that rule (`AlertRuleGroup/G spec.rules[i]`)."""
    out: dict[str, str] = {}
    for loaded in groups:
        group = group_of(loaded)
        for i, rule in enumerate(group.spec.rules):
            if rule.record:
                out.setdefault(rule.record, f"AlertRuleGroup/{group.name} spec.rules[{i}]")
    return out


async def check(
    groups: Sequence[LoadedResource],
    lookup: SeriesLookup,
    jobs: Mapping[str, str] | None = None,
    recorded: Mapping[str, str] | None = None,
) -> DeadReport:
    """Every dead selector of every rule of `groups`, asked of `lookup`'s Prometheus.

    `jobs` maps a desired scrape job to the resource it scrapes (KIND/NAME); `recorded` maps the
    series names desired recording rules write to those rules (default: those of `groups`,
    `recorded_by`): a selector of one that matches nothing yet is `pending`, not dead.
    Prometheus unreachable gives a report with `reachable` False, never a rule reported dead; a
    query it refuses (PrometheusRefused) leaves that selector `unchecked`, with its words.
    """
    jobs = jobs or {}
    recorded = recorded_by(groups) if recorded is None else recorded
    rules: list[tuple[str, str]] = []
    dead: list[DeadSelector] = []
    pending: list[DeadSelector] = []
    unparsed: list[str] = []
    unchecked: list[str] = []
    count = 0
    try:
        for loaded in groups:
            group = group_of(loaded)
            for i, rule in enumerate(group.spec.rules):
                name = rule.alert or rule.record or ""
                rules.append((group.name, name))
                try:
                    found = selectors(rule.expr)
                except ValueError as err:  # promtool refuses it at validate; nothing to ask
                    unparsed.append(f"{group.name}/{name}: {err}")
                    continue
                for selector in found:
                    count += 1
                    try:
                        why = await explain(selector, lookup, jobs, recorded)
                    except PrometheusRefused as err:
                        unchecked.append(f"{group.name}/{name}: {selector}: {err}")
                        continue
                    if why is not None:
                        finding = DeadSelector(
                            group.name,
                            name,
                            i,
                            file=str(loaded.file),
                            line=loaded.line_of("spec", "rules", i, "expr"),
                            **why,
                        )
                        (pending if finding.reason is DeadReason.NOT_RECORDED_YET else dead).append(finding)
    except PrometheusUnreachable as err:
        return DeadReport(lookup.api.url, reachable=False, error=str(err), queries=lookup.queries)
    return DeadReport(
        lookup.api.url,
        reachable=True,
        rules=tuple(rules),
        selectors=count,
        queries=lookup.queries,
        dead=tuple(dead),
        unparsed=tuple(unparsed),
        pending=tuple(pending),
        unchecked=tuple(unchecked),
    )


def _since(window: float) -> str:
    if window > 0:
        return f"in the last {format_duration(max(window, LOOKBACK))}, as far back as this rule reads"
    return "now (the last one is marked stale, or older than Prometheus's 5-minute lookback)"


async def explain(
    selector: Selector,
    lookup: SeriesLookup,
    jobs: Mapping[str, str],
    recorded: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """None when `selector` matches a live series; else the DeadSelector fields saying why.

    Raises PrometheusUnreachable (or PrometheusRefused) as the lookup does.
    """
    metric = selector.metric
    window = selector.window
    named = (Matcher(NAME_LABEL, Op.EQUAL, metric),) if metric is not None else ()
    if await lookup.live_names((*named, *selector.matchers), window):
        return None
    text = str(selector)
    if metric is None:
        return {
            "selector": text,
            "reason": DeadReason.NO_MATCH,
            "message": "no series matches it",
            **await _job(selector.label("job"), None, lookup, jobs),
        }
    if recorded and metric in recorded:
        # A desired recording rule writes it: not evaluated yet (just loaded), or its own
        # expression matches nothing, and that expression is checked on its own.
        return {
            "selector": text,
            "reason": DeadReason.NOT_RECORDED_YET,
            "message": f"recorded by {recorded[metric]}, which has not written it yet",
            "metric": metric,
        }
    if not await lookup.live_names(named, window):
        near = await _nearest_live(metric, lookup)
        own = selector.label("job")
        if metric in await lookup.names(live=False):
            reason = DeadReason.DISAPPEARED
            message = (
                f"{metric} is in Prometheus's storage but no series of it has a sample "
                f"{_since(window)}: its exporter stopped serving it"
            )
            # The job its own series came from, however long ago, before any near name's.
            own = own or next(iter(sorted(await lookup.jobs_of(metric, recent=False))), None)
        else:
            reason = DeadReason.NEVER_SEEN
            message = f"Prometheus has never seen a metric named {metric}"
        where = await _job(own, near[0] if near else None, lookup, jobs, guess=metric)
        if where["job"] and not await lookup.live_names((Matcher("job", Op.EQUAL, where["job"]),)):
            message += f"; job {where['job']} has no series now: is its target scraped and up?"
        return {
            "selector": text,
            "reason": reason,
            "message": message,
            "metric": metric,
            "nearest": near,
            **where,
        }
    # The metric lives: which matcher excludes every one of its series?
    culprits = [m for m in selector.matchers if not await lookup.live_names((*named, m), window)]
    # A `job` that matches nothing is not the job that exports it: the one carrying the metric is.
    own_job = None if any(m.name == "job" for m in culprits) else selector.label("job")
    where = await _job(own_job, metric, lookup, jobs)
    if not culprits:
        return {
            "selector": text,
            "reason": DeadReason.NO_COMBINATION,
            "message": f"each matcher matches some series of {metric}, but no series matches them all",
            "metric": metric,
            **where,
        }
    culprit = culprits[0]
    values = sorted(await lookup.values_of(metric, culprit.name))
    if not values:
        labels = sorted(await lookup.labels_of(metric) - {NAME_LABEL})
        return {
            "selector": text,
            "reason": DeadReason.LABEL_ABSENT,
            "message": f"no series of {metric} has a label {culprit.name}; its labels are {', '.join(labels)}",
            "metric": metric,
            "label": culprit.name,
            "values": tuple(labels),
            **where,
        }
    shown = ", ".join(values[:SHOWN_VALUES]) + (
        f" (and {len(values) - SHOWN_VALUES} more)" if len(values) > SHOWN_VALUES else ""
    )
    # A value near the one asked for means something only when the matcher asks for one (`=`, `=~`).
    positive = culprit.op in (Op.EQUAL, Op.RE)
    close = tuple(difflib.get_close_matches(culprit.value, values, n=NEAREST, cutoff=0.5)) if positive else ()
    return {
        "selector": text,
        "reason": DeadReason.VALUE_UNMATCHED,
        "message": f"no series of {metric} has {culprit}; {culprit.name} is one of {shown}",
        "metric": metric,
        "label": culprit.name,
        "values": tuple(values[:SHOWN_VALUES]),  # the message says how many more
        "nearest": close,
        **where,
    }


async def _nearest_live(metric: str, lookup: SeriesLookup) -> tuple[str, ...]:
    """The NEAREST live names most like `metric`, ranked off the event loop, confirmed by one query:
    the names of recent series come by whole blocks, so some have no sample now."""
    live = await lookup.names(live=True)
    ranked = await asyncio.to_thread(nearest, metric, live, 3 * NEAREST)
    if not ranked:
        return ()
    # Metric names hold only [a-zA-Z0-9_:], none of which is special in a regex.
    confirmed = await lookup.live_names((Matcher(NAME_LABEL, Op.RE, "|".join(ranked)),))
    return tuple(n for n in ranked if n in confirmed)[:NEAREST]


async def _job(
    wanted: str | None,
    metric: str | None,
    lookup: SeriesLookup,
    jobs: Mapping[str, str],
    guess: str | None = None,
) -> dict[str, Any]:
    """The job that should have exported it: the selector's own, else the one carrying `metric`,
    else the desired job whose name is most like `guess` (`nvidia-gpu` for `nvidia_gpu_*`, when
    no series of that exporter is left to be near)."""
    job = wanted
    if job is None and guess is not None:
        # A desired job the metric is named after (`haproxy_backend_up`: job `haproxy`) beats a
        # near name another job happens to carry.
        named = [j for j in jobs if _job_tokens(j) and _job_tokens(j) <= set(_tokens(guess))]
        job = max(named, key=len) if named else None
    if job is None and metric is not None:
        carrying = sorted(await lookup.jobs_of(metric))
        job = carrying[0] if carrying else None
    if job is None and guess is not None and jobs:
        score, best = max((similarity(guess, j), j) for j in jobs)
        job = best if score >= MIN_SIMILARITY else None
    return {"job": job, "resource": jobs.get(job) if job else None}


_GENERIC = frozenset({"exporter", "metrics", "prometheus", "service", "job"})


def _job_tokens(job: str) -> set[str]:
    """A job name's tokens that say what it exports (`nvidia-gpu-exporter`: nvidia, gpu)."""
    return set(_tokens(job)) - _GENERIC


_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(name: str) -> list[str]:
    return _TOKEN.findall(name.lower())


def _same_token(a: str, b: str) -> bool:
    """`temp` and `temperature`, `mem` and `memory`: one a prefix of the other, at least 3 letters."""
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))


def similarity(a: str, b: str) -> float:
    """How alike two metric names are, 0 to 1: shared name tokens weigh most, then spelling, then prefix.

    Edit distance alone puts `gpu_memory_used_bytes` nearer `node_memory_Buffers_bytes` (9 edits)
    than the `nvidia_smi_memory_used_bytes` the GPU exporter serves (10); shared tokens do not.
    """
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return 0.0
    return _token_part(ta, tb) + 0.25 * difflib.SequenceMatcher(None, a, b).ratio()


def _token_part(ta: Sequence[str], tb: Sequence[str]) -> float:
    """similarity() without its spelling term (at most 0.25): shared tokens and common prefix."""
    matched = sum(1 for t in ta if any(_same_token(t, u) for u in tb))
    tokens = 2 * matched / (len(ta) + len(tb))
    prefix = 0
    for x, y in zip(ta, tb, strict=False):
        if x != y:
            break
        prefix += 1
    return 0.6 * tokens + 0.15 * prefix / max(len(ta), len(tb))


@dataclass(frozen=True)
class _Index:
    """Candidate names by token: a name sharing no token with the one asked for scores at most
    0.25 (spelling alone), below MIN_SIMILARITY, so only names sharing one are ranked."""

    tokens: dict[str, tuple[str, ...]]  # name -> its tokens
    by_token: dict[str, list[str]]  # token -> names carrying it


@functools.lru_cache(maxsize=4)
def _index(candidates: frozenset[str]) -> _Index:
    tokens = {c: tuple(_tokens(c)) for c in candidates if not c.startswith("__")}
    by_token: dict[str, list[str]] = {}
    for name, toks in tokens.items():
        for t in set(toks):
            by_token.setdefault(t, []).append(name)
    return _Index(tokens, by_token)


@functools.lru_cache(maxsize=256)
def _nearest(name: str, candidates: frozenset[str], n: int) -> tuple[str, ...]:
    index = _index(candidates)
    ta = _tokens(name)
    if not ta:
        return ()
    pool = {
        c
        for token, names in index.by_token.items()
        if any(_same_token(t, token) for t in ta)
        for c in names
        if c != name
    }
    # Rank by the cheap token part plus the most spelling can add; score spelling only while a
    # candidate could still make the first n.
    bounded = sorted(((_token_part(ta, index.tokens[c]), c) for c in pool), key=lambda pc: (-pc[0], pc[1]))
    scored: list[tuple[float, str]] = []
    floor = MIN_SIMILARITY  # what a candidate must reach to be offered
    matcher = difflib.SequenceMatcher(None, a=name)  # as similarity() asks: ratio() is not symmetric
    for part, c in bounded:
        if part + 0.25 < floor:
            break
        matcher.set_seq2(c)
        if part + 0.25 * matcher.quick_ratio() < floor:  # quick_ratio() >= ratio()
            continue
        scored.append((part + 0.25 * matcher.ratio(), c))
        if len(scored) >= n:
            scored.sort(key=lambda sc: (-sc[0], sc[1]))
            del scored[n:]
            floor = max(floor, scored[-1][0])
    scored.sort(key=lambda sc: (-sc[0], sc[1]))
    return tuple(c for score, c in scored[:n] if score >= MIN_SIMILARITY)


def nearest(name: str, candidates: Iterable[str], n: int = NEAREST) -> tuple[str, ...]:
    """Up to `n` of `candidates` most like `name`, best first; none below MIN_SIMILARITY.

    Remembered for the same name and candidates: a name dead in many rules is ranked once. Pure
    CPU (a few milliseconds for 10,000 names): call it off the event loop (asyncio.to_thread).
    """
    return _nearest(name, frozenset(candidates), n)
