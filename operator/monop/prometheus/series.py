"""Which series the live Prometheus has: the one query path of `scrape.expect` and the dead-selector check.

Both ask "which metric names have a sample now among the series these matchers select"
(`group by (__name__) ({matchers})`, an instant query: a sample within Prometheus's 5-minute
lookback counts). The dead-selector check asks more when a selector matches nothing: the
metric names in the whole TSDB (`/api/v1/label/__name__/values`), the label sets of one
metric's live series (`/api/v1/series`), the jobs whose series carry a metric. Each question
is asked once per lookup and counted (`queries`), so a check's cost can be measured.
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
        self._series: dict[str, list[dict[str, str]]] = {}
        self._jobs: dict[str, frozenset[str]] = {}

    async def live_names(self, matchers: Sequence[Matcher]) -> frozenset[str]:
        """The metric names that have a sample now among the series `matchers` select."""
        text = selector_text(matchers)
        if text not in self._live:
            self.queries += 1
            found = await self.api.query(f"group by ({NAME_LABEL}) ({text})")
            self._live[text] = frozenset(s["metric"].get(NAME_LABEL, "") for s in found)
        return self._live[text]

    async def names(self, *, live: bool) -> frozenset[str]:
        """Every metric name: with a sample in the last LOOKBACK seconds (`live`), or in the whole TSDB."""
        if live not in self._names:
            self.queries += 1
            start = self._clock() - LOOKBACK if live else None
            self._names[live] = frozenset(await self.api.label_values(NAME_LABEL, start))
        return self._names[live]

    async def series_of(self, metric: str) -> list[dict[str, str]]:
        """The label sets of `metric`'s series with samples in the last LOOKBACK seconds."""
        if metric not in self._series:
            self.queries += 1
            match = selector_text([Matcher(NAME_LABEL, Op.EQUAL, metric)])
            self._series[metric] = await self.api.series(match, self._clock() - LOOKBACK)
        return self._series[metric]

    async def jobs_of(self, metric: str) -> frozenset[str]:
        """The `job` labels of `metric`'s live series."""
        if metric not in self._jobs:
            self._jobs[metric] = frozenset(s.get("job", "") for s in await self.series_of(metric)) - {""}
        return self._jobs[metric]
