"""Dead selectors: a rule's selector that matches no series in the live Prometheus, and why.

Cloudflare's pint (`promql/series`) is the model: each selector of each rule is asked for,
and one that matches nothing is explained: the metric was never seen (not in the TSDB at
all), it disappeared (in the TSDB, no sample in the last 5 minutes), a label it requires is
absent from the metric's series, or a label value matches none of them (the values that do
exist are listed). Beyond pint, each finding names the nearest existing metric names
(shared name tokens, `temp` ~ `temperature`, then spelling) and the scrape job that should
have exported the metric: the selector's own `job`, else the job whose series carry the
nearest metric, with the desired resource that job scrapes. Selectors meant to match
nothing (`absent()`, `unless`, `or vector(0)`) are never asked (monop.desired.selectors).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monop.desired.promql import group_of
from monop.desired.selectors import NAME_LABEL, Matcher, Op, Selector, selectors
from monop.desired.state import LoadedResource
from monop.errors import Problem, PrometheusUnreachable, Severity
from monop.prometheus.series import LOOKBACK, SeriesLookup

NEAREST = 3  # metric names offered for a dead one
MIN_SIMILARITY = 0.35  # below this a name is not offered as "nearest"
SHOWN_VALUES = 10  # label values listed for a value that matches nothing


class DeadReason(StrEnum):
    NEVER_SEEN = "NeverSeen"  # the metric name is nowhere in the TSDB
    DISAPPEARED = "Disappeared"  # in the TSDB, but no series has had a sample in the last 5 minutes
    LABEL_ABSENT = "LabelAbsent"  # no series of the metric carries a label the selector requires
    VALUE_UNMATCHED = "ValueUnmatched"  # the label exists, the value asked for matches none of it
    NO_COMBINATION = "NoCombination"  # each matcher matches some series, no series matches them all
    NO_MATCH = "NoMatch"  # a selector without a metric name matches nothing


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

    def __str__(self) -> str:
        return f"DeadSelector {self.where}: {self.selector}: {self.message}{self.hint()}"

    def problem(self) -> Problem:
        """The finding at its rule's line: `FILE:LINE: warning: AlertRuleGroup/G: spec.rules[i].expr: ...`."""
        message = f"DeadSelector: {self.selector}: {self.message}{self.hint()}"
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
        }


async def check(
    groups: Sequence[LoadedResource], lookup: SeriesLookup, jobs: Mapping[str, str] | None = None
) -> DeadReport:
    """Every dead selector of every rule of `groups`, asked of `lookup`'s Prometheus.

    `jobs` maps a desired scrape job to the resource it scrapes (KIND/NAME). Prometheus
    unreachable gives a report with `reachable` False, never a rule reported dead.
    """
    jobs = jobs or {}
    rules: list[tuple[str, str]] = []
    dead: list[DeadSelector] = []
    unparsed: list[str] = []
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
                    why = await explain(selector, lookup, jobs)
                    if why is not None:
                        dead.append(
                            DeadSelector(
                                group.name,
                                name,
                                i,
                                file=str(loaded.file),
                                line=loaded.line_of("spec", "rules", i, "expr"),
                                **why,
                            )
                        )
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
    )


async def explain(selector: Selector, lookup: SeriesLookup, jobs: Mapping[str, str]) -> dict[str, Any] | None:
    """None when `selector` matches a live series; else the DeadSelector fields saying why."""
    metric = selector.metric
    named = (Matcher(NAME_LABEL, Op.EQUAL, metric),) if metric is not None else ()
    if await lookup.live_names((*named, *selector.matchers)):
        return None
    text = str(selector)
    if metric is None:
        return {
            "selector": text,
            "reason": DeadReason.NO_MATCH,
            "message": "no series matches it",
            **await _job(selector.label("job"), None, lookup, jobs),
        }
    if not await lookup.live_names(named):
        near = nearest(metric, await lookup.names(live=True))
        if metric in await lookup.names(live=False):
            reason = DeadReason.DISAPPEARED
            message = (
                f"{metric} is in Prometheus's storage but no series of it has had a sample "
                f"in the last {LOOKBACK / 60:g} minutes: its exporter stopped serving it"
            )
        else:
            reason = DeadReason.NEVER_SEEN
            message = f"Prometheus has never seen a metric named {metric}"
        where = await _job(selector.label("job"), near[0] if near else None, lookup, jobs, guess=metric)
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
    culprits = [m for m in selector.matchers if not await lookup.live_names((*named, m))]
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
    series = await lookup.series_of(metric)
    labels = sorted({name for s in series for name in s} - {NAME_LABEL})
    values = sorted({s[culprit.name] for s in series if culprit.name in s})
    if not values:
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
    close = tuple(difflib.get_close_matches(culprit.value, values, n=NEAREST, cutoff=0.5))
    return {
        "selector": text,
        "reason": DeadReason.VALUE_UNMATCHED,
        "message": f"no series of {metric} has {culprit}; {culprit.name} is one of {shown}",
        "metric": metric,
        "label": culprit.name,
        "values": tuple(values),
        "nearest": close,
        **where,
    }


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
    matched = sum(1 for t in ta if any(_same_token(t, u) for u in tb))
    tokens = 2 * matched / (len(ta) + len(tb))
    spelling = difflib.SequenceMatcher(None, a, b).ratio()
    prefix = 0
    for x, y in zip(ta, tb, strict=False):
        if x != y:
            break
        prefix += 1
    return 0.6 * tokens + 0.25 * spelling + 0.15 * prefix / max(len(ta), len(tb))


@functools.lru_cache(maxsize=256)
def _nearest(name: str, candidates: frozenset[str], n: int) -> tuple[str, ...]:
    scored = sorted(
        ((similarity(name, c), c) for c in candidates if c != name and not c.startswith("__")),
        key=lambda sc: (-sc[0], sc[1]),
    )
    return tuple(c for score, c in scored[:n] if score >= MIN_SIMILARITY)


def nearest(name: str, candidates: Iterable[str], n: int = NEAREST) -> tuple[str, ...]:
    """Up to `n` of `candidates` most like `name`, best first; none below MIN_SIMILARITY.

    Remembered for the same name and candidates: a name dead in many rules is ranked once.
    """
    return _nearest(name, frozenset(candidates), n)
