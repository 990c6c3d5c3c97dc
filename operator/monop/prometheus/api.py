"""The live Prometheus: is each desired target scraped, up, and carrying what it should?

Through Prometheus's HTTP API (httpx): `/api/v1/targets` for health, `/api/v1/query` for the
expected metric families. Prometheus unreachable is reported as such, never as every
target down.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import httpx

from monop.api.labels import DEFAULT_INSTANCE
from monop.api.targets import Target
from monop.errors import PrometheusRefused, PrometheusUnreachable
from monop.prometheus import series
from monop.prometheus.scrape import INSTANCE_LABEL, RESOURCE_LABEL, SELF_JOB, Job


class TargetHealth(StrEnum):
    UP = "Up"
    DOWN = "Down"  # Prometheus scrapes it and fails: lastError says why
    UNKNOWN = "Unknown"  # known, not scraped yet
    MISSING = "Missing"  # Prometheus does not know it: its config does not read monop's files
    EMPTY = "Empty"  # up, but an expected metric family has no sample
    STALE = "Stale"  # scraped in a monop job, desired by nothing

    @property
    def ok(self) -> bool:
        """Nothing is wrong yet: up, or about to be scraped for the first time."""
        return self in (TargetHealth.UP, TargetHealth.UNKNOWN)


@dataclass(frozen=True)
class TargetStatus:
    job: str
    instance: str
    resource: str
    health: TargetHealth
    error: str | None = None
    missing: tuple[str, ...] = ()  # expected families without a sample

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "instance": self.instance,
            "resource": self.resource,
            "health": self.health.value,
            "error": self.error,
            "missingFamilies": list(self.missing),
        }

    def __str__(self) -> str:
        detail = f": {self.error}" if self.error else ""
        return f"target {self.job} {self.instance} {self.health}{detail}"


@dataclass(frozen=True)
class TargetReport:
    url: str
    reachable: bool
    error: str | None = None
    targets: tuple[TargetStatus, ...] = field(default=())

    def of(self, resource: str) -> list[TargetStatus]:
        """The targets of `resource`, in the report's order."""
        return list(self._by_resource.get(resource, ()))

    @cached_property
    def _by_resource(self) -> dict[str, list[TargetStatus]]:
        # Asked once per resource (status rows, conditions): a scan each time was O(n^2).
        out: dict[str, list[TargetStatus]] = {}
        for target in self.targets:
            out.setdefault(target.resource, []).append(target)
        return out

    @property
    def ok(self) -> bool:
        return self.reachable and all(t.health.ok for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "reachable": self.reachable,
            "error": self.error,
            "stale": [t.to_json() for t in self.targets if t.health is TargetHealth.STALE],
        }


class PrometheusAPI:
    """The few calls monop makes; each raises PrometheusUnreachable when Prometheus cannot answer,
    PrometheusRefused (a kind of it) when it answers with an error."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, **params: str) -> Any:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as err:
            raise PrometheusUnreachable(
                f"cannot read {self.url}{path}: {err or type(err).__name__}",
                operation="query",
                location=f"{self.url}{path}",
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # Not Prometheus's API answering (a proxy's page, or not JSON): say its status only.
            raise PrometheusRefused(
                f"{self.url}{path}: HTTP {response.status_code} {response.reason_phrase}, not an API answer",
                operation="query",
                location=f"{self.url}{path}",
            )
        if response.is_error or body.get("status") != "success":
            # Prometheus's own words (`bad_data: invalid regular expression ...`), not httpx's.
            kind = f"{body['errorType']}: " if body.get("errorType") else ""
            raise PrometheusRefused(
                f"{self.url}{path}: {kind}{body.get('error') or f'HTTP {response.status_code}'}",
                operation="query",
                location=f"{self.url}{path}",
            )
        return body["data"]

    async def active_targets(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/targets", state="active")
        targets: list[dict[str, Any]] = data.get("activeTargets", [])
        return targets

    async def reload(self) -> str | None:
        """Ask Prometheus to re-read its configuration and rules: None when it did, else its refusal.

        Raises PrometheusUnreachable when it cannot be asked (down, or reloads not enabled).
        """
        try:
            response = await self._client.post("/-/reload")
        except httpx.HTTPError as err:
            raise PrometheusUnreachable(
                f"cannot reach {self.url}/-/reload: {err or type(err).__name__}",
                operation="reload",
                location=f"{self.url}/-/reload",
            ) from None
        if response.status_code == 200:
            return None
        if response.status_code in (403, 404, 405):
            raise PrometheusUnreachable(
                f"{self.url}/-/reload answers {response.status_code}: start Prometheus with --web.enable-lifecycle",
                operation="reload",
                location=f"{self.url}/-/reload",
            )
        return response.text.strip() or f"reload failed with HTTP {response.status_code}"

    async def rule_groups(self) -> set[str]:
        data = await self._get("/api/v1/rules")
        return {group["name"] for group in data.get("groups", [])}

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data.get("result", [])
        return result

    async def evaluate(self, expr: str, at: float) -> tuple[list[dict[str, Any]], str | None]:
        """An instant query at `at` (epoch seconds): (the result, None), or ([], Prometheus's own
        error message) when it refuses the query (400 bad_data, 422 execution, 503 timeout).

        Raises PrometheusUnreachable when no answer of Prometheus's API came back.
        """
        path = "/api/v1/query"
        try:
            response = await self._client.get(path, params={"query": expr, "time": f"{at:.3f}"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise PrometheusUnreachable(
                f"cannot read {self.url}{path}: {err or type(err).__name__}",
                operation="query",
                location=f"{self.url}{path}",
            ) from None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise PrometheusUnreachable(
                f"{self.url}{path}: HTTP {response.status_code}, not an answer of Prometheus's API",
                operation="query",
                location=f"{self.url}{path}",
            )
        if body["status"] == "error":
            return [], str(
                body.get("error") or f"{body.get('errorType', 'error')} (HTTP {response.status_code})"
            )
        data = body.get("data") or {}
        if data.get("resultType") in ("scalar", "string"):  # `1 + 1`: one value, never empty
            return [{"value": data.get("result")}], None
        result: list[dict[str, Any]] = data.get("result") or []
        return result, None

    async def label_values(
        self, label: str, start: float | None = None, match: str | None = None
    ) -> list[str]:
        """`/api/v1/label/<label>/values`: every value in the TSDB (its whole retention), or
        only on series with samples since `start` (epoch seconds), of the series `match` selects."""
        params = {} if start is None else {"start": f"{start:.3f}"}
        if match is not None:
            params["match[]"] = match
        values: list[str] = await self._get(f"/api/v1/label/{label}/values", **params)
        return values

    async def label_names(self, match: str, start: float | None = None) -> list[str]:
        """`/api/v1/labels`: the label names of the series `match` selects (since `start`, epoch seconds)."""
        params = {"match[]": match} if start is None else {"match[]": match, "start": f"{start:.3f}"}
        names: list[str] = await self._get("/api/v1/labels", **params)
        return names

    async def series(self, match: str, start: float) -> list[dict[str, str]]:
        """`/api/v1/series`: the label sets of the series `match` selects that have samples since `start`."""
        found: list[dict[str, str]] = await self._get(
            "/api/v1/series", start=f"{start:.3f}", **{"match[]": match}
        )
        return found


@contextlib.asynccontextmanager
async def connect(url: str | None) -> AsyncIterator[PrometheusAPI | None]:
    """A client of the Prometheus at `url`, closed after use; None when none is configured."""
    if not url:
        yield None
        return
    api = PrometheusAPI(url)
    try:
        yield api
    finally:
        await api.close()


async def verify(jobs: Sequence[Job], api: PrometheusAPI, instance: str = DEFAULT_INSTANCE) -> TargetReport:
    """The health of every desired target, and of every target of `instance` Prometheus scrapes for nothing."""
    try:
        active = await api.active_targets()
    except PrometheusUnreachable as err:
        return TargetReport(api.url, reachable=False, error=str(err))
    # A target is known by its job label and instance: every job's targets are in one scrape pool.
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for t in active:
        labels = t.get("labels", {})
        if labels.get(INSTANCE_LABEL, DEFAULT_INSTANCE) != instance:
            continue  # another monop's, sharing this Prometheus
        seen.setdefault((labels.get("job", ""), labels.get("instance", "")), t)
    wanted = {(job.name, target.instance) for job in jobs for target in job.targets}
    desired_jobs = {job.name for job in jobs}
    statuses = []
    for job in jobs:
        for target in job.targets:
            found = seen.get((job.name, target.instance))
            statuses.append(await _health(job.name, target, found, api))
    for (job_name, instance), found in sorted(seen.items()):
        labels = found.get("labels", {})
        # monop's targets carry its label (a removed job's leftovers too); monop's own job
        # counts only while its daemon is among the desired.
        ours = RESOURCE_LABEL in labels and (job_name != SELF_JOB or SELF_JOB in desired_jobs)
        if ours and (job_name, instance) not in wanted:
            statuses.append(TargetStatus(job_name, instance, labels[RESOURCE_LABEL], TargetHealth.STALE))
    return TargetReport(api.url, reachable=True, targets=tuple(statuses))


async def _health(job: str, target: Target, found: dict[str, Any] | None, api: PrometheusAPI) -> TargetStatus:
    def status(health: TargetHealth, error: str | None = None, missing: tuple[str, ...] = ()) -> TargetStatus:
        return TargetStatus(job, target.instance, target.resource, health, error, missing)

    if found is None:
        return status(TargetHealth.MISSING, "Prometheus does not scrape it: is monop's job in its config?")
    health = found.get("health", "unknown")
    if health == "down":
        return status(TargetHealth.DOWN, found.get("lastError") or None)
    if health != "up":
        return status(TargetHealth.UNKNOWN)
    if not target.expect:
        return status(TargetHealth.UP)
    try:
        present = await series.SeriesLookup(api).live_names(
            series.expect_matchers(job, target.instance, target.expect)
        )
    except PrometheusUnreachable as err:
        return status(TargetHealth.UP, f"expected families not checked: {err}")
    missing = tuple(name for name in target.expect if name not in present)
    if missing:
        return status(TargetHealth.EMPTY, f"no samples of {', '.join(missing)}", missing)
    return status(TargetHealth.UP)
