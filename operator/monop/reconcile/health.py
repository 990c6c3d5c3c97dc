"""How healthy a running container is: the pure half of health checking. No I/O, no clock.

Two kinds of check feed a verdict. A container's `healthcheck` is Podman's: Podman counts
its failures and keeps its state (`starting`, `healthy`, `unhealthy`), whether its systemd
timers or monop (`monop.daemon.healthrun`) run it. A BusinessService's HTTP `probe` is monop's
own: `next_verdict` counts its consecutive failures. `Knowledge.judge` turns both, and the
time, into one `Verdict` the planner reads: unhealthy (restart it), or stalled: `starting`
past start period + interval x retries + timeout, which means nothing runs its checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from monop.api.duration import format_duration
from monop.api.resources import BusinessService, ResourceBase
from monop.api.targets import host_ports
from monop.runtime.container import Healthcheck
from monop.runtime.observed import LiveContainer
from monop.secrets import Secrets


class Mode(StrEnum):
    """Who runs container healthchecks: the `health_checks` setting."""

    AUTO = "auto"  # Podman where its systemd timers can run, else monop; monop takes over a stalled one
    MONOP = "monop"  # always monop, through the API
    PODMAN = "podman"  # never monop: Podman's timers are trusted


class Health(StrEnum):
    HEALTHY = "healthy"
    STARTING = "starting"
    UNHEALTHY = "unhealthy"
    STALLED = "stalled"  # `starting` for longer than any verdict can take: its checks do not run


_NO_SECRETS = Secrets()


@dataclass(frozen=True)
class HttpProbe:
    """A BusinessService probe resolved to a URL on the host; times in seconds."""

    url: str
    interval_s: float
    timeout_s: float
    retries: int


@dataclass(frozen=True)
class Verdict:
    """What the last check said of one run of one container (`container_id` started at `started_at`).

    `started_at` is epoch seconds; a restart keeps the ID but not the start, and so ends the verdict.
    """

    container_id: str
    started_at: float | None
    health: Health
    detail: str = ""
    failures: int = 0  # consecutive failed checks
    checked_at: float | None = None  # epoch seconds

    def about(self, container: LiveContainer) -> bool:
        return self.container_id == container.id and self.started_at == started(container)

    def to_json(self) -> dict[str, Any]:
        return {
            "containerId": self.container_id,
            "startedAt": self.started_at,
            "health": self.health.value,
            "detail": self.detail,
            "failures": self.failures,
            "checkedAt": self.checked_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Verdict | None:
        """A verdict read back from the state file; None for anything that is not one."""
        try:
            return cls(
                str(data["containerId"]),
                None if data.get("startedAt") is None else float(data["startedAt"]),
                Health(data["health"]),
                str(data.get("detail") or ""),
                int(data.get("failures") or 0),
                None if data.get("checkedAt") is None else float(data["checkedAt"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def started(container: LiveContainer) -> float | None:
    return container.started_at.timestamp() if container.started_at else None


def deadline(hc: Healthcheck) -> float:
    """Seconds after its start by which Podman has decided `healthy` or `unhealthy`, if checks run.

    start period + interval x retries is when the last of `retries` failures is due; one
    `timeout` more is what that check may take. Past it, `starting` means no check ran.
    """
    return hc.start_period_s + hc.interval_s * max(1, hc.retries) + hc.timeout_s


def next_verdict(
    previous: Verdict | None,
    container: LiveContainer,
    ok: bool,
    detail: str,
    retries: int,
    at: float,
) -> Verdict:
    """Count one probe result: `retries` failures in a row make it unhealthy, one success healthy."""
    same = previous is not None and previous.about(container)
    if ok:
        return Verdict(container.id, started(container), Health.HEALTHY, detail, 0, at)
    failures = (previous.failures if same and previous else 0) + 1
    if failures >= retries:
        health = Health.UNHEALTHY
        detail = f"{detail} ({failures} failure(s) in a row, retries {retries})"
    else:
        health = previous.health if same and previous else Health.STARTING
    return Verdict(container.id, started(container), health, detail, failures, at)


def _empty() -> Mapping[str, Verdict]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Knowledge:
    """What is known of health besides the container list, at wall time `now`: the planner's input.

    `checks`: monop's last run of each resource's container healthcheck (for its output);
    `probes`: each resource's HTTP probe verdict. Both keyed by resource key.
    """

    now: float
    checks: Mapping[str, Verdict] = field(default_factory=_empty)
    probes: Mapping[str, Verdict] = field(default_factory=_empty)

    def judge(
        self, key: str, hc: Healthcheck | None, container: LiveContainer, secrets: Secrets = _NO_SECRETS
    ) -> Verdict | None:
        """The resource's health now, or None when nothing checks it (or it does not run).

        `secrets`: the container's secrets, masked in the check's output as shown.
        """
        if container.state != "running":
            return None
        probe = self.probes.get(key)
        probe = probe if probe is not None and probe.about(container) else None
        if probe is not None and probe.health is Health.UNHEALTHY:
            return probe
        if hc is None or hc.test == ("NONE",) or container.health is None:
            return probe
        check = self.checks.get(key)
        check = check if check is not None and check.about(container) else None
        since = started(container)
        if container.health == "unhealthy":
            if check is not None and check.detail:
                detail = check.detail
            elif container.health_output:
                detail = secrets.redact(failed_check(hc, container.health_output))
            else:
                detail = "Podman reports it unhealthy"
            return Verdict(container.id, since, Health.UNHEALTHY, detail, check.failures if check else 0)
        if container.health == "starting" and since is not None and self.now - since > deadline(hc):
            return Verdict(container.id, since, Health.STALLED, stalled_detail(hc, self.now - since))
        health = Health.HEALTHY if container.health == "healthy" else Health.STARTING
        if probe is not None and probe.health is Health.STARTING:
            health = Health.STARTING
        return Verdict(container.id, since, health, check.detail if check else "")


def failed_check(hc: Healthcheck, last: str, streak: int | None = None) -> str:
    """`check `exit 1` failed (exit code 1: output); 3 in a row, retries 3`."""
    command = hc.test[1] if hc.test[0] == "CMD-SHELL" else " ".join(hc.test[1:])
    words = f"check `{command}` failed ({last})"
    return words if streak is None else f"{words}; {streak} in a row, retries {hc.retries}"


def stalled_detail(hc: Healthcheck, seconds: float) -> str:
    parts = [
        f"start period {format_duration(hc.start_period_s)}",
        f"interval {format_duration(hc.interval_s)} x retries {hc.retries}",
        f"timeout {format_duration(hc.timeout_s)}",
    ]
    return (
        f"still starting after {format_duration(round(seconds))}, past {format_duration(deadline(hc))} "
        f"({' + '.join(parts)}): no check has run (health_checks setting: auto or monop runs them)"
    )


def probe_of(resource: ResourceBase) -> HttpProbe | None:
    """The resource's HTTP probe, addressed where its port is published on this host.

    A port published on one host IP is probed there; on all of them (or on the host
    network) at 127.0.0.1.
    """
    spec = resource.spec
    if not isinstance(spec, BusinessService) or spec.probe is None:
        return None
    probe = spec.probe
    host = "127.0.0.1"
    for port in host_ports(resource):
        if port.port == probe.port and port.protocol == "tcp" and port.host_ip:
            host = _loopback_for(port.host_ip)
            break
    path = probe.path if probe.path.startswith("/") else f"/{probe.path}"
    return HttpProbe(f"http://{host}:{probe.port}{path}", probe.interval, probe.timeout, probe.retries)


def _loopback_for(host_ip: str) -> str:
    try:
        ip = ipaddress.ip_address(host_ip)
    except ValueError:
        return host_ip
    if ip.is_unspecified:
        return "[::1]" if ip.version == 6 else "127.0.0.1"
    return f"[{ip}]" if ip.version == 6 else str(ip)


def from_records(records: Mapping[str, Mapping[str, Any] | None], now: float) -> Knowledge:
    """Knowledge from the daemon's state file (`ResourceRecord.health` by key), judged at wall time `now`."""
    tables: dict[str, dict[str, Verdict]] = {"check": {}, "probe": {}}
    for key, record in records.items():
        for kind, table in tables.items():
            verdict = Verdict.from_json((record or {}).get(kind))
            if verdict is not None:
                table[key] = verdict
    return Knowledge(now, tables["check"], tables["probe"])
