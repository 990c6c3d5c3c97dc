"""alertmanager.yml, written as rule files are: checked before it replaces anything, reloaded, verified.

`sync()` renders the config (monop.desired.amconfig), and only when it differs from the file:
writes it beside the real one under a name Alertmanager never reads, checks it with
`amtool check-config`, renames it into place, asks Alertmanager to reload (`POST /-/reload`)
and confirms through `/api/v2/status` (`config.original`) that the running config is the one
written. If Alertmanager refuses the reload, the previous file is put back and reloaded. A bad
config therefore never replaces a good one. `status()` says Loaded, Written, NotLoaded,
NotWritten or Rejected (with amtool's or Alertmanager's words), and lists each receiver.

Secrets monop read for a receiver are in the file (Alertmanager 0.25 takes a webhook URL only
inline) and nowhere else: every message here is passed through the known secrets' mask.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml

from monop import secrets
from monop.api.duration import parse_duration
from monop.desired.alerting import known_secrets, receiver_of, receivers
from monop.desired.amconfig import amtool_check, check_config, config, render
from monop.desired.routing import analyse
from monop.desired.state import LoadedResource
from monop.files import write_atomic
from monop.secrets import MARK

log = structlog.get_logger("monop.alertmanager")


class AlertmanagerUnreachable(Exception):
    """Alertmanager cannot be asked: down, refusing connections, or answering something else."""


class AlertmanagerAPI:
    """The calls monop makes to Alertmanager's HTTP API (v2) and its lifecycle endpoint."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.shown = secrets.split_userinfo(self.url)[0]  # the URL without credentials, for messages
        # Plain http needs no certificates: not loading them saves a tenth of a second per command.
        plain = self.url.startswith("http://")
        self._client = client or httpx.AsyncClient(base_url=self.url, timeout=timeout, verify=not plain)

    async def close(self) -> None:
        await self._client.aclose()

    def _public(self, err: Exception) -> str:
        return str(err).replace(self.url, self.shown)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise AlertmanagerUnreachable(
                f"cannot reach {self.shown}{path}: {self._public(err) or type(err).__name__}"
            ) from None

    async def reload(self) -> str | None:
        """Ask Alertmanager to re-read its config: None when it did, else its refusal (HTTP 500's text)."""
        response = await self._request("POST", "/-/reload")
        if response.status_code == 200:
            return None
        if response.status_code in (403, 404, 405):
            raise AlertmanagerUnreachable(f"{self.shown}/-/reload answers {response.status_code}")
        return response.text.strip() or f"reload failed with HTTP {response.status_code}"

    async def running_config(self) -> str:
        """`config.original` of `/api/v2/status`: the running config as Alertmanager prints it (secrets masked)."""
        response = await self._request("GET", "/api/v2/status")
        try:
            response.raise_for_status()
            original: str = response.json()["config"]["original"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            raise AlertmanagerUnreachable(f"{self.shown}/api/v2/status: {self._public(err)}") from None
        return original

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """`POST /api/v2/alerts`; raises AlertmanagerUnreachable with Alertmanager's answer when refused."""
        response = await self._request("POST", "/api/v2/alerts", json=alerts)
        if response.status_code != 200:
            raise AlertmanagerUnreachable(f"{self.shown}/api/v2/alerts refused: {response.text.strip()}")

    async def alerts(self, *filters: str) -> list[dict[str, Any]]:
        """`GET /api/v2/alerts?filter=...` (matchers such as `monop_test="ID"`)."""
        return await self._list("/api/v2/alerts", [("filter", f) for f in filters])

    async def alert_groups(self) -> list[dict[str, Any]]:
        """`GET /api/v2/alerts/groups`: each group's `labels`, `receiver.name` and `alerts`."""
        return await self._list("/api/v2/alerts/groups", [])

    async def _list(self, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        response = await self._request("GET", path, params=params)
        try:
            response.raise_for_status()
            found: list[dict[str, Any]] = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise AlertmanagerUnreachable(f"{self.shown}{path}: {self._public(err)}") from None
        return found

    async def notification_counts(self) -> dict[tuple[str, str, str], float]:
        """`(metric, integration, receiver) -> value` of alertmanager_notification_requests_total,
        _failed_total (each attempt to notify, once it has ended; Alertmanager 0.24 and later) and
        alertmanager_notifications_failed_total (a notification whose retries all failed).

        `receiver` is the `receiver_name` label, which only Alertmanager 0.26 and later give
        (`--enable-feature=receiver-name-in-metrics`); "" on 0.25, whose counts are per integration.
        """
        return {
            (name, labels.get("integration", ""), labels.get("receiver_name", "")): value
            for name, labels, value in await self.metrics(*_COUNTED)
        }

    async def metrics(self, *names: str) -> list[tuple[str, dict[str, str], float]]:
        """Alertmanager's own `/metrics` samples of the metrics `names`: (name, labels, value)."""
        response = await self._request("GET", "/metrics")
        out = []
        for match in _SAMPLE.finditer(response.text):
            if match.group(1) in names:
                labels = dict(_LABEL.findall(match.group(2) or ""))
                out.append((match.group(1), labels, float(match.group(3))))
        return out


_COUNTED = (
    "alertmanager_notification_requests_total",
    "alertmanager_notification_requests_failed_total",
    "alertmanager_notifications_failed_total",
)
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@contextlib.asynccontextmanager
async def connect(url: str | None) -> AsyncIterator[AlertmanagerAPI | None]:
    """A client of the Alertmanager at `url` (the `alertmanager_url` setting), closed after use."""
    if not url:
        yield None
        return
    api = AlertmanagerAPI(url)
    try:
        yield api
    finally:
        await api.close()


class ConfigState(StrEnum):
    LOADED = "Loaded"  # the file is current and Alertmanager runs it
    WRITTEN = "Written"  # the file is current; Alertmanager not asked (unreachable or not configured)
    NOT_LOADED = "NotLoaded"  # the file is current but Alertmanager runs another config
    NOT_WRITTEN = "NotWritten"  # the file is missing or older than the desired state
    REJECTED = "Rejected"  # amtool or Alertmanager refused it; the previous file stays


@dataclass(frozen=True)
class ReceiverInfo:
    name: str
    integrations: tuple[str, ...]  # webhook, email, slack; once per config
    matchers: tuple[str, ...]
    unrouted: str | None = None  # why no alert of the desired rules reaches it (monop.desired.routing)
    last_test: dict[str, Any] | None = None  # its last `monop test receivers` result (ReceiverTest.to_json)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "integrations": list(self.integrations),
            "matchers": list(self.matchers),
            "routed": self.unrouted is None,
            "unrouted": self.unrouted,
            "lastTest": self.last_test,
        }

    def __str__(self) -> str:
        said = f"{self.name} ({', '.join(self.integrations) or 'no integrations'})"
        said += f": unreachable: {self.unrouted}" if self.unrouted else ": routed"
        if self.last_test:
            tested = self.last_test.get("outcome", "?")
            detail = self.last_test.get("detail")
            said += f"; last test {tested}" + (f": {detail}" if detail and tested != "delivered" else "")
        return said


@dataclass(frozen=True)
class ConfigStatus:
    path: str
    state: ConfigState
    error: str | None = None
    receivers: tuple[ReceiverInfo, ...] = ()
    hash: str | None = None  # of the file (Alertmanager's alertmanager_config_hash: md5's first 6 bytes, hex)
    running_hash: str | None = None  # what Alertmanager says it loaded, the same way

    @property
    def ok(self) -> bool:
        return self.state in (ConfigState.LOADED, ConfigState.WRITTEN)

    @property
    def refused(self) -> bool:
        """Alertmanager was asked and does not run the desired config (NotWritten: monop has not written it yet)."""
        return self.state in (ConfigState.REJECTED, ConfigState.NOT_LOADED)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "state": self.state.value,
            "error": self.error,
            "hash": self.hash,
            "runningHash": self.running_hash,
            "receivers": [r.to_json() for r in self.receivers],
        }

    def __str__(self) -> str:
        runs = f" (file {self.hash}, runs {self.running_hash})" if self.running_hash else ""
        return f"alertmanager {self.path} {self.state}{runs}" + (f": {self.error}" if self.error else "")


def config_hash(text: str) -> str:
    """The file's hash as Alertmanager's `alertmanager_config_hash` gauge holds it (md5's first 6 bytes), in hex."""
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()[:6].hex()


def _gauge_hash(value: float) -> str:
    # Alertmanager: float64(binary.LittleEndian.Uint64(md5(file)[0:6] + two zero bytes)).
    return int(value).to_bytes(8, "little")[:6].hex()


@dataclass(frozen=True)
class SyncResult:
    written: bool = False
    rejected: str | None = None  # amtool's or Alertmanager's refusal; the previous file stays
    reload_error: str | None = None  # Alertmanager could not be asked; the file loads at its next reload
    rolled_back: bool = False
    problems: tuple[str, ...] = field(default=())  # amtool's refusals, located in the desired state

    @property
    def changed(self) -> bool:
        return self.written


async def sync(alerting: Sequence[LoadedResource], path: Path, api: AlertmanagerAPI | None) -> SyncResult:
    """Make `path` the desired config, reload Alertmanager and check it runs it; roll back if refused.

    Nothing is written when there are no alerting resources. The file keeps the mode and owner
    of the one it replaces (Alertmanager may run as another user), but others lose access when
    it holds a secret monop read; a new one is 0600 then, else 0644. Raises nothing; the
    result says what happened.
    """
    if not alerting:
        return SyncResult()
    found = known_secrets(alerting)
    secrets.remember(found)  # every log line and state file is scrubbed of them too
    mask = found.redact
    body = render(alerting, reveal=True)
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    if previous == body:
        return SyncResult()
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.check")  # never the file Alertmanager reads
    write_atomic(candidate, body, mode=0o600)
    try:
        refusal = await asyncio.to_thread(amtool_check, candidate.read_text(encoding="utf-8"))
    except FileNotFoundError:
        refusal = None  # amtool missing: Alertmanager's own reload still checks it
    if refusal is not None:
        candidate.unlink()
        located = await asyncio.to_thread(check_config, alerting)
        said = tuple(mask(str(p)) for p in located) or (mask(f"amtool: {refusal}"),)
        log.warning("alertmanager_config_rejected", path=str(path), errors=list(said))
        return SyncResult(rejected=mask(f"amtool: {refusal}"), problems=said)
    _keep_owner(candidate, path, secret=bool(known_secrets(alerting).values))
    os.replace(candidate, path)
    log.info("alertmanager_config_written", path=str(path))
    if api is None:
        return SyncResult(written=True)
    try:
        refused = await api.reload()
    except AlertmanagerUnreachable as err:
        log.warning("alertmanager_reload_failed", error=str(err))
        return SyncResult(written=True, reload_error=str(err))
    if refused is None:
        return SyncResult(written=True)
    # Alertmanager refused what amtool passed: put the previous file back and load that again.
    refused = mask(refused)
    if previous is None:
        path.unlink()
    else:
        write_atomic(candidate, previous, mode=0o600)
        _keep_owner(candidate, path, secret=True)
        os.replace(candidate, path)
        with contextlib.suppress(AlertmanagerUnreachable):
            await api.reload()
    log.warning("alertmanager_config_rolled_back", path=str(path), error=refused)
    return SyncResult(rejected=f"Alertmanager: {refused}", rolled_back=True)


def _keep_owner(new: Path, old: Path, *, secret: bool) -> None:
    """Give `new` the mode (and, as root, the owner) of `old`, which it replaces.

    Holding a secret, it is never readable by others (Alertmanager's group still reads it).
    """
    try:
        info = old.stat()
    except FileNotFoundError:
        new.chmod(0o600 if secret else 0o644)
        return
    new.chmod(info.st_mode & (0o770 if secret else 0o777))
    with contextlib.suppress(PermissionError):
        os.chown(new, info.st_uid, info.st_gid)


async def status(
    alerting: Sequence[LoadedResource],
    path: Path,
    api: AlertmanagerAPI | None,
    rejected: str | None = None,
    *,
    rule_groups: Sequence[LoadedResource] = (),
    tests: Mapping[str, dict[str, Any]] | None = None,
) -> ConfigStatus:
    """The config's state: its file, and whether Alertmanager runs it; with each receiver.

    `rejected` is the last SyncResult.rejected, shown while the file is not the desired one.
    A receiver is unrouted when the routing analysis finds no desired rule's alert reaches it
    (`rule_groups`); `tests` are the last receiver tests by name (receivertest.load_results).
    """
    unrouted: dict[str, str] = {}
    for problem in analyse(alerting, rule_groups):
        resource = problem.resource or ""
        if resource.startswith("AlertReceiver/") and problem.field == "spec.matchers":
            unrouted.setdefault(resource.removeprefix("AlertReceiver/"), problem.message)
    infos = tuple(_info(r, unrouted.get(r.name), (tests or {}).get(r.name)) for r in receivers(alerting))
    desired = render(alerting, reveal=True)

    def said(state: ConfigState, error: str | None = None, running: str | None = None) -> ConfigStatus:
        return ConfigStatus(str(path), state, error, infos, config_hash(desired), running)

    current = path.exists() and path.read_text(encoding="utf-8") == desired
    if not current:
        if rejected:
            return said(ConfigState.REJECTED, rejected)
        return said(ConfigState.NOT_WRITTEN, f"{path} is not the desired config")
    if api is None:
        return said(ConfigState.WRITTEN)
    try:
        # One short deadline for both questions: a stalled Alertmanager must not hold up `status`.
        async with asyncio.timeout(STATUS_TIMEOUT):
            running, samples = await asyncio.gather(api.running_config(), api.metrics(*_CONFIG_GAUGES))
    except AlertmanagerUnreachable as err:
        return said(ConfigState.WRITTEN, str(err))
    except TimeoutError:
        return said(ConfigState.WRITTEN, f"{api.shown} did not answer within {STATUS_TIMEOUT:.0f}s")
    gauges = {name: value for name, _, value in samples}
    loaded = _gauge_hash(gauges["alertmanager_config_hash"]) if "alertmanager_config_hash" in gauges else None
    # The hash is of the whole file, secrets included: exact. What Alertmanager prints masks
    # every secret as <secret>, so comparing the text is the fallback when there is no hash.
    same = loaded == config_hash(desired) if loaded is not None else runs(config(alerting), running)
    if same:
        return said(ConfigState.LOADED, None, loaded)
    if gauges.get("alertmanager_config_last_reload_successful") == 0:
        return said(
            ConfigState.REJECTED,
            "Alertmanager refused its last reload (alertmanager_config_last_reload_successful 0) and "
            "runs an older config: its log says why",
            loaded,
        )
    return said(
        ConfigState.NOT_LOADED,
        f"Alertmanager at {api.shown} runs another config: does its --config.file read {path}, "
        "and was it reloaded?",
        loaded,
    )


STATUS_TIMEOUT = 2.0  # seconds `status` waits for Alertmanager's answers
_CONFIG_GAUGES = ("alertmanager_config_hash", "alertmanager_config_last_reload_successful")


def _info(loaded: LoadedResource, unrouted: str | None, test: dict[str, Any] | None) -> ReceiverInfo:
    spec = receiver_of(loaded).spec
    kinds = [
        name
        for name, items in (
            ("webhook", spec.webhook_configs),
            ("email", spec.email_configs),
            ("slack", spec.slack_configs),
        )
        if items
    ]
    return ReceiverInfo(loaded.name, tuple(kinds), tuple(str(m) for m in spec.matchers), unrouted, test)


def runs(written: dict[str, Any], running_text: str) -> bool:
    """Whether Alertmanager's printed config (`config.original`) is `written`, as far as it shows.

    Alertmanager prints every default it fills in and masks secrets as `<secret>`: every key
    written must be there with the same value; `<secret>` on either side matches any value.
    """
    try:
        running = yaml.safe_load(running_text)
    except yaml.YAMLError:
        return False
    return _same(written, running)


def _same(written: Any, running: Any) -> bool:
    if isinstance(written, dict):
        return isinstance(running, dict) and all(
            k in running and _same(v, running[k]) for k, v in written.items()
        )
    if isinstance(written, list):
        if not isinstance(running, list) or len(written) != len(running):
            return False
        if all(isinstance(item, str) for item in [*written, *running]):
            # Alertmanager prints matchers, source_matchers and target_matchers sorted.
            written, running = sorted(written), sorted(running)
        return all(map(_same, written, running))
    if written == running or MARK in (written, running):
        return True
    if isinstance(written, str) and isinstance(running, str):
        return _seconds(written) is not None and _seconds(written) == _seconds(running)
    return False


def _seconds(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None
