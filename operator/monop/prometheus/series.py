"""Which series the live Prometheus has: the one query path of `scrape.expect` and the dead-selector check.

Both ask "which metric names have a sample now among the series these matchers select"
(`group by (__name__) ({matchers})`, an instant query: a sample within Prometheus's 5-minute
lookback counts, a series marked stale does not). A rule that reads further back
(`increase(x[1h])`) is asked over its own window instead (`last_over_time({matchers}[1h])`):
it can fire while any sample is in it. The dead-selector check asks more when a selector
matches nothing: the metric names in the whole TSDB (`/api/v1/label/__name__/values`), one
metric's label names and one label's values (`/api/v1/labels`, `/api/v1/label/<l>/values`
with `match[]`), the jobs whose series carry a metric. Each question is asked once per lookup
and counted (`queries`), so a check's cost can be measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from monop.desired.selectors import NAME_LABEL, Matcher, Op

if TYPE_CHECKING:
    from monop.prometheus.api import PrometheusAPI

LOOKBACK = 300.0  # seconds: Prometheus's default query lookback, what "has a sample now" means


def expect_matchers(job: str, instance: str, names: Iterable[str]) -> tuple[Matcher, ...]:
    """The matchers of one target's expected metric families (`scrape.expect`)."""
    # Metric names hold only [a-zA-Z0-9_:], none of which is special in a regex.
    return (
        Matcher("job", Op.EQUAL, job),
        Matcher("instance", Op.EQUAL, instance),
        Matcher(NAME_LABEL, Op.RE, "|".join(names)),
    )


def selector_text(matchers: Sequence[Matcher]) -> str:
    """`{a="b",...}`, each value escaped as PromQL reads it."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


class SeriesLookup:
    """Questions about the series of one Prometheus, each asked at most once; raises
    PrometheusUnreachable (from the API client) when it cannot answer."""

    def __init__(self, api: PrometheusAPI, *, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self._clock = clock
        self.queries = 0  # HTTP requests made
        self._live: dict[str, frozenset[str]] = {}
        self._names: dict[bool, frozenset[str]] = {}
        self._labels: dict[str, frozenset[str]] = {}
        self._values: dict[tuple[str, str, bool], frozenset[str]] = {}

    async def live_names(self, matchers: Sequence[Matcher], window: float = 0.0) -> frozenset[str]:
        """The metric names that have a sample now among the series `matchers` select; with a
        `window` (seconds), a sample in the last `max(window, LOOKBACK)` seconds, stale or not."""
        text = selector_text(matchers)
        if window > 0:
            seconds = max(window, LOOKBACK)
            text = f"last_over_time({text}[{seconds:.0f}s])"  # keeps __name__, unlike *_over_time
        if text not in self._live:
            self.queries += 1
            found = await self.api.query(f"group by ({NAME_LABEL}) ({text})")
            self._live[text] = frozenset(s["metric"].get(NAME_LABEL, "") for s in found)
        return self._live[text]

    async def names(self, *, live: bool) -> frozenset[str]:
        """Every metric name: on series with samples in the last LOOKBACK seconds (`live`; Prometheus
        answers by whole blocks, so a name gone a little longer may be in it), or in the whole TSDB."""
        if live not in self._names:
            self.queries += 1
            start = self._clock() - LOOKBACK if live else None
            self._names[live] = frozenset(await self.api.label_values(NAME_LABEL, start))
        return self._names[live]

    async def labels_of(self, metric: str) -> frozenset[str]:
        """The label names of `metric`'s recent series (samples in the last LOOKBACK seconds), `__name__` included."""
        if metric not in self._labels:
            self.queries += 1
            found = await self.api.label_names(_named(metric), self._clock() - LOOKBACK)
            self._labels[metric] = frozenset(found)
        return self._labels[metric]

    async def values_of(self, metric: str, label: str, *, recent: bool = True) -> frozenset[str]:
        """The values of `label` on `metric`'s series: recent ones (samples in the last LOOKBACK
        seconds), or (`recent` False) every one in the TSDB, as for a metric that disappeared."""
        key = (metric, label, recent)
        if key not in self._values:
            self.queries += 1
            start = self._clock() - LOOKBACK if recent else None
            found = await self.api.label_values(label, start, match=_named(metric))
            self._values[key] = frozenset(found) - {""}
        return self._values[key]

    async def jobs_of(self, metric: str, *, recent: bool = True) -> frozenset[str]:
        """The `job` labels of `metric`'s series: recent ones, or every one in the TSDB."""
        return await self.values_of(metric, "job", recent=recent)


def _named(metric: str) -> str:
    return selector_text([Matcher(NAME_LABEL, Op.EQUAL, metric)])
