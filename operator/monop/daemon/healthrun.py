"""Running health checks in the daemon: container healthchecks when Podman's timers cannot, HTTP probes always.

Podman runs a container's healthcheck from a systemd transient timer (`systemd-run`); on a
host not booted with systemd (many CI runners, WSL, containers) no timer exists and the
container stays `starting` for ever. monop then runs the check itself through the API
(`GET /libpod/containers/{name}/healthcheck`) at the check's interval; Podman still
counts the failures and keeps the state, so `podman ps` and monop agree. BusinessService
probes are monop's own and always run here, with httpx, from the host.

Each check is a task per resource and kind, restarted when the container (or its start)
changes; a check that raises is logged and counted, and the task carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from monop import log
from monop.controller.clock import Clock
from monop.reconcile.health import (
    Health,
    HttpProbe,
    Knowledge,
    Mode,
    Verdict,
    deadline,
    failed_check,
    next_verdict,
    started,
)
from monop.runtime import ownership
from monop.runtime.container import Healthcheck
from monop.runtime.observed import LiveContainer, ObservedState
from monop.runtime.podman import HealthState, PodmanError
from monop.secrets import Secrets

if TYPE_CHECKING:
    import httpx

    from monop.daemon.metrics import Metrics
    from monop.reconcile.plan import Unit

# Podman 4.3 does not enforce a healthcheck's timeout when the API runs it: give up waiting after this much more.
_GRACE = 10.0


class Checker(Protocol):
    async def run_healthcheck(self, name: str) -> str: ...

    async def health_state(self, name: str) -> HealthState: ...


def podman_runs_timers(url: str, root: Path = Path("/")) -> tuple[bool, str]:
    """Whether Podman's healthcheck timers can run, and why monop thinks so.

    Podman creates them with `systemd-run` (`--user` when rootless). They run where the host
    was booted with systemd (sd_booted(3): `/run/systemd/system` exists) and, for a rootless
    socket under `/run/user/UID`, that user's systemd manager runs (`/run/user/UID/systemd`).
    A Podman reached over TCP or SSH runs on a host monop cannot look at: its timers are trusted.
    """
    if not url.startswith("unix://"):
        return True, f"Podman at {url} is on another host: its systemd timers are trusted"
    if not (root / "run/systemd/system").is_dir():
        return False, "this host was not booted with systemd (no /run/systemd/system)"
    user = re.match(r"unix:///run/user/(\d+)/", url)
    if user and not (root / f"run/user/{user[1]}/systemd").is_dir():
        return False, f"no systemd user manager runs for uid {user[1]} (no /run/user/{user[1]}/systemd)"
    return True, "systemd runs Podman's healthcheck timers"


class HealthRunner:
    """The daemon's health checks: `follow()` after each look at Podman, `knowledge()` for the planner."""

    def __init__(
        self,
        podman: Checker,
        clock: Clock,
        on_change: Callable[[str], None],
        *,
        mode: Mode = Mode.AUTO,
        podman_url: str = "",
        metrics: Metrics | None = None,
        root: Path = Path("/"),
        instance: str = ownership.DEFAULT_INSTANCE,
    ) -> None:
        self.instance = instance  # only this monop's containers are checked
        self.podman, self.clock, self.on_change, self.mode, self.metrics = (
            podman,
            clock,
            on_change,
            mode,
            metrics,
        )
        timers, why = podman_runs_timers(podman_url, root) if mode is Mode.AUTO else (mode is Mode.PODMAN, "")
        self.runs_checks = not timers  # container healthchecks, for every container
        self.why = why or f"health_checks is {mode.value}"
        self.checks: dict[str, Verdict] = {}
        self.probes: dict[str, Verdict] = {}
        self._tasks: dict[tuple[str, str], tuple[object, asyncio.Task[None]]] = {}
        self._taken_over: set[tuple[str, float | None]] = set()  # containers whose timers never ran
        # The API call of a check still running, per resource: a hung check (Podman 4.3 does not
        # enforce its timeout) holds one worker thread, never one more per interval.
        self._in_flight: dict[str, asyncio.Future[str]] = {}
        self.log = log.get()

    def knowledge(self) -> Knowledge:
        return Knowledge(self.clock.wall(), dict(self.checks), dict(self.probes))

    def record(self, key: str) -> dict[str, Any] | None:
        """What to keep of `key` in the state file, for `monop status` without the daemon."""
        out = {
            kind: table[key].to_json()
            for kind, table in (("check", self.checks), ("probe", self.probes))
            if key in table
        }
        return out or None

    def follow(self, units: Iterable[Unit], observed: ObservedState, host: str | None = None) -> None:
        """Run the checks of every running container the units describe; stop those of any other.

        `host`: a fleet host's (monop.reconcile.plan.fleet_host): another host's container is not checked.
        """
        live = observed.by_name()
        wanted: dict[tuple[str, str], tuple[object, Callable[[], Awaitable[None]]]] = {}
        for unit in units:
            container = live.get(unit.name)
            if (
                container is None
                or container.state != "running"
                or not ownership.is_owned(container.labels, self.instance, host)
            ):
                continue
            run = (container.id, started(container))
            hc = unit.config.healthcheck
            if hc is not None and hc.test != ("NONE",):
                if self._monop_runs(unit.key, container, hc):
                    wanted[(unit.key, "check")] = (
                        (run, hc),
                        _bind(self._check_loop, unit.key, container, hc, unit.secrets),
                    )
                else:
                    wanted[(unit.key, "deadline")] = (
                        (run, hc),
                        _bind(self._wake_at_deadline, unit.key, container, hc),
                    )
            if unit.probe is not None:
                wanted[(unit.key, "probe")] = (
                    (run, unit.probe),
                    _bind(self._probe_loop, unit.key, container, unit.probe),
                )
        for slot, (ident, task) in list(self._tasks.items()):
            if slot not in wanted or wanted[slot][0] != ident or task.done():
                task.cancel()
                del self._tasks[slot]
        for slot, (ident, start) in wanted.items():
            if slot not in self._tasks:
                self._tasks[slot] = (ident, asyncio.ensure_future(start()))
        followed = {key for key, _ in wanted}
        for table in (self.checks, self.probes):
            for key in set(table) - followed:
                del table[key]

    def _monop_runs(self, key: str, container: LiveContainer, hc: Healthcheck) -> bool:
        if self.runs_checks:
            return True
        run = (container.id, started(container))
        if run in self._taken_over:
            return True
        since = started(container)
        overdue = since is not None and self.clock.wall() - since > deadline(hc)
        if self.mode is Mode.AUTO and container.health == "starting" and overdue:
            # The timers were expected to run and did not: run this container's checks from now on.
            self._taken_over.add(run)
            self.log.warning("health_checks_taken_over", resource=key, container=container.name)
            return True
        return False

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for request in self._in_flight.values():
            request.cancel()  # its thread ends with Podman's answer; nobody waits for it
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the checks ----------------------------------------------------------------------------

    async def _wake_at_deadline(self, key: str, container: LiveContainer, hc: Healthcheck) -> None:
        """Podman's timers run it: look again when a verdict is overdue, so a stalled one is seen."""
        since = started(container) or self.clock.wall()
        await self.clock.sleep(since + deadline(hc) - self.clock.wall() + 0.5)
        self.on_change(key)

    async def _check_loop(
        self, key: str, container: LiveContainer, hc: Healthcheck, secrets: Secrets
    ) -> None:
        while True:
            await self.clock.sleep(hc.interval_s)
            await self._guarded(key, "check", self._check(key, container, hc, secrets))

    async def _check(self, key: str, container: LiveContainer, hc: Healthcheck, secrets: Secrets) -> None:
        running = self._in_flight.get(key)
        if running is not None and not running.done():
            raise TimeoutError(f"the check started before is still running after {hc.timeout_s + _GRACE:g}s")
        # By ID: a check loop must never run against another container that took the name.
        running = self._in_flight[key] = asyncio.ensure_future(self.podman.run_healthcheck(container.id))
        try:
            result = await asyncio.wait_for(asyncio.shield(running), hc.timeout_s + _GRACE)
        except PodmanError as err:
            if err.status == 409:  # it stopped since the last look; the next look stops this task
                return
            raise
        at = self.clock.wall()
        self._count("check", "pass" if result == "healthy" else "fail")
        if result == "healthy":
            verdict = Verdict(container.id, started(container), Health.HEALTHY, "check passed", 0, at)
        else:
            state = await self.podman.health_state(container.id)
            verdict = Verdict(
                container.id,
                started(container),
                _health(state.status),
                secrets.redact(failed_check(hc, state.last_check(), state.failing_streak)),
                state.failing_streak,
                at,
            )
        self._set(self.checks, key, verdict)

    async def _probe_loop(self, key: str, container: LiveContainer, probe: HttpProbe) -> None:
        import httpx  # the CLI need not pay for it

        # trust_env=False: a proxy from the environment must not stand between monop and localhost.
        async with httpx.AsyncClient(timeout=probe.timeout_s, trust_env=False) as client:
            while True:
                await self.clock.sleep(probe.interval_s)
                await self._guarded(key, "probe", self._probe(client, key, container, probe))

    async def _probe(
        self, client: httpx.AsyncClient, key: str, container: LiveContainer, probe: HttpProbe
    ) -> None:
        ok, detail = await probe_once(client, probe)
        verdict = next_verdict(self.probes.get(key), container, ok, detail, probe.retries, self.clock.wall())
        self._count("probe", "pass" if ok else "fail")
        self._set(self.probes, key, verdict)

    async def _guarded(self, key: str, kind: str, check: Awaitable[None]) -> None:
        """One check; whatever it raises is logged and counted, and the next one still runs."""
        try:
            await check
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._count(kind, "error")
            self.log.error(
                "health_check_errored", resource=key, check=kind, error=str(err) or type(err).__name__
            )

    def _set(self, table: dict[str, Verdict], key: str, verdict: Verdict) -> None:
        before = table.get(key)
        table[key] = verdict
        if (
            before is None
            or before.health is not verdict.health
            or (before.container_id, before.started_at) != (verdict.container_id, verdict.started_at)
        ):
            event = "health_check_failed" if verdict.health is Health.UNHEALTHY else "health_changed"
            self.log.info(event, resource=key, health=verdict.health.value, detail=verdict.detail)
            self.on_change(key)

    def _count(self, kind: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.health_checks.labels(kind, result).inc()


async def probe_once(client: httpx.AsyncClient, probe: HttpProbe) -> tuple[bool, str]:
    """GET the probe's URL once: a 2xx or 3xx answer passes, as Kubernetes' httpGet probe."""
    import httpx

    try:
        response = await client.get(probe.url)
    except httpx.TimeoutException:
        return False, f"GET {probe.url}: no answer within {probe.timeout_s:g}s"
    except httpx.HTTPError as err:
        return False, f"GET {probe.url}: {_cause(err)}"
    ok = 200 <= response.status_code < 400
    return ok, f"GET {probe.url}: HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _cause(err: BaseException) -> str:
    """The root cause, in words: `connection refused`, not anyio's `All connection attempts failed`."""
    seen = 0
    while (err.__cause__ or err.__context__) is not None and seen < 10:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
        seen += 1
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return str(err) or type(err).__name__


def _health(status: str) -> Health:
    try:
        return Health(status)
    except ValueError:
        return Health.STARTING


def _bind(fn: Callable[..., Awaitable[None]], *args: Any) -> Callable[[], Awaitable[None]]:
    return lambda: fn(*args)


__all__: list[str] = ["HealthRunner", "Mode", "podman_runs_timers", "probe_once"]
