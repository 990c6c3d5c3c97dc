"""Podman, through its REST API: the only module that imports podman-py.

podman-py is synchronous; every call runs in a worker thread so the event loop never
blocks. The event stream is read with httpx over the same socket, so it can be
cancelled like any coroutine. Podman's JSON becomes typed values here, once.

Port mappings with `network=host`: Podman 4.3 discards them ("Port mappings have been
discarded as one of the Host, Container, Pod, and None network modes are in use") and
inspect shows none, which is why the model drops them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from monop.errors import PodmanError as PodmanError  # its home was here
from monop.errors import PodmanUnavailable
from monop.runtime.container import ContainerConfig
from monop.runtime.createspec import create_spec
from monop.runtime.observed import LiveContainer, ObservedState
from monop.runtime.rest import HTTPStatusError, Rest

if TYPE_CHECKING:
    import httpx
    import podman
    import podman.errors
    import requests

T = TypeVar("T")
# What `on_request` is told: each operation, how it ended (unreachable: no answer from Podman).
OPERATIONS = (
    "ping", "list", "create", "start", "init", "restart", "unpause", "stop", "rename", "remove",
    "pull", "inspect_image", "inspect", "healthcheck",
)  # fmt: skip
RESULTS = ("success", "error", "unreachable")
OnRequest = Callable[[str, str, float], None]  # (operation, result, seconds)
API_VERSION = "v4.0.0"
_NS = 1_000_000_000
_STOP_MARGIN_S = 30.0  # beyond a stop timeout: Podman's own kill and cleanup


def resolve_url(setting: str | None, environ: Mapping[str, str] = os.environ, uid: int | None = None) -> str:
    """The API's URL: the setting, else CONTAINER_HOST, else the rootful or rootless socket."""
    if setting:
        return setting
    if environ.get("CONTAINER_HOST"):
        return environ["CONTAINER_HOST"]
    if (os.getuid() if uid is None else uid) == 0:
        return "unix:///run/podman/podman.sock"
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid() if uid is None else uid}"
    return f"unix://{runtime_dir}/podman/podman.sock"


@dataclass(frozen=True)
class ContainerEvent:
    """One container event from Podman's event stream."""

    action: str
    name: str
    id: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    time: float = 0.0


@dataclass(frozen=True)
class HealthState:
    """A container's health as Podman inspects it: status, failures in a row, the last check's exit code and output."""

    status: str  # healthy, unhealthy, starting, or "" without a healthcheck
    failing_streak: int = 0
    exit_code: int | None = None
    output: str = ""

    def last_check(self) -> str:
        """`exit code 1: <output>`, Podman's record of the last check (output truncated to 300 characters)."""
        code = f"exit code {self.exit_code}" if self.exit_code is not None else "no exit code"
        return f"{code}: {self.output[-300:]}" if self.output else code


class Podman:
    """An async client of one Podman service; `on_request` hears of every operation (the daemon's metrics)."""

    def __init__(self, url: str, timeout: float = 60.0, on_request: OnRequest | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.on_request = on_request
        self.requests = 0  # REST requests made, for the benchmark and the metrics
        # Reads go through the small standard-library client where the URL allows; podman-py
        # is imported at the first change (a no-op `apply` never pays for it).
        self._rest = Rest.for_url(url, timeout)
        self._library: podman.PodmanClient | None = None
        self._library_lock = threading.Lock()

    @property
    def _client(self) -> podman.PodmanClient:
        with self._library_lock:  # first used from worker threads, maybe several at once
            if self._library is None:
                import podman

                self._library = podman.PodmanClient(base_url=self.url, timeout=self.timeout)
                self._library.api.hooks["response"].append(self._count)
            return self._library

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests += 1

    def close(self) -> None:
        if self._library is not None:
            self._library.close()  # type: ignore[no-untyped-call]

    def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET a libpod path's JSON (in a worker thread); errors are translated by `_call`."""
        if self._rest is not None:
            self.requests += 1
            return self._rest.get_json(path, params)
        response = self._client.api.get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def _call(self, operation: str, target: str, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        result = "error"
        try:
            with _translate(operation, target, self.url):
                value = await asyncio.to_thread(fn)
            result = "success"
            return value
        except PodmanUnavailable:
            result = "unreachable"
            raise
        except asyncio.CancelledError:
            result = ""  # given up on, not failed: not reported
            raise
        finally:
            if self.on_request is not None and result:
                self.on_request(operation.replace(" ", "_"), result, time.monotonic() - started)

    async def ping(self) -> None:
        await self._call("ping", self.url, self._client.ping)

    async def observe(self) -> ObservedState:
        """Every container and every local image name, in two requests whatever their number."""

        def fetch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            listed = self._get_json("/containers/json", {"all": "true"}) or []
            images = self._get_json("/images/json") or []
            for item in listed:
                # The list says unhealthy but not why: the last check's output is in inspect.
                if str(item.get("Status") or "").lower() == "unhealthy":
                    gone = contextlib.suppress(PodmanError)  # removed since the list: no details
                    with gone, _translate("inspect", str(item["Id"]), self.url):
                        item["_health"] = _health_state(self._get_json(f"/containers/{item['Id']}/json"))
            return listed, images

        containers, images = await self._call("list", "containers", fetch)
        names = {
            tag: "sha256:" + i["Id"].removeprefix("sha256:")
            for i in images
            for tag in i.get("RepoTags") or ()
        }
        return ObservedState(
            tuple(sorted((_live(c) for c in containers), key=lambda c: c.name)), MappingProxyType(names)
        )

    async def create(self, config: ContainerConfig, labels: Mapping[str, str]) -> str:
        """Create the container from monop's own SpecGenerator body; returns its ID."""
        payload = create_spec(config, labels)

        def create() -> str:
            response = self._client.api.post("/containers/create", data=json.dumps(payload))
            response.raise_for_status()
            return str(response.json()["Id"])

        return await self._call("create", config.name, create)

    async def _post(
        self,
        operation: str,
        name: str,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        def post() -> None:
            response = self._client.api.post(
                f"/containers/{quote(name)}/{operation}", params=params, timeout=timeout
            )
            response.raise_for_status()

        await self._call(operation, name, post)

    async def start(self, name: str) -> None:
        await self._post("start", name)

    async def init(self, name: str) -> None:
        """Prepare a created container (storage, namespaces, OCI container) without starting it."""
        await self._post("init", name)

    async def restart(self, name: str, timeout: int | None = None) -> None:
        """Restart, giving the old process `timeout` seconds (its stopTimeout; Podman's 10 s) to stop."""
        seconds = timeout or 10
        await self._post("restart", name, {"t": str(seconds)}, seconds + _STOP_MARGIN_S)

    async def kill(self, name: str, signal: int) -> None:
        """Send `signal` (a number) to the container's main process, as `podman kill --signal`."""
        await self._post("kill", name, {"signal": str(signal)})

    async def unpause(self, name: str) -> None:
        await self._post("unpause", name)

    async def stop(self, name: str, timeout: int | None = None, waits: float | None = None) -> None:
        """Stop with the container's own stop signal; after `timeout` seconds (default: the
        container's stopTimeout, else Podman's 10 s) Podman kills it. `waits`: the longest the
        container may take (seconds), so the request outlasts it (default: the client's 60 s)."""
        params = None if timeout is None else {"timeout": str(timeout)}
        await self._post("stop", name, params, None if waits is None else waits + _STOP_MARGIN_S)

    async def rename(self, name: str, new_name: str) -> None:
        await self._post("rename", name, {"name": new_name})

    async def running_since_start(self, name: str) -> tuple[bool, str]:
        """Whether the container is running and has not been restarted by Podman since it was
        started; with a description of its state for a message (`exited (code 3)`)."""
        data = await self.inspect(name)
        state = data.get("State") or {}
        status = str(state.get("Status", "unknown"))
        restarts = int(data.get("RestartCount") or 0)
        running = status == "running" and restarts == 0
        if status == "exited":
            status = f"exited (code {state.get('ExitCode')})"
        if restarts:
            status += f", restarted {restarts} time(s) by its restart policy"
        if state.get("Error"):
            status += f": {state['Error']}"
        return running, status

    async def remove(self, name_or_id: str, force: bool = True) -> None:
        def remove() -> None:
            response = self._client.api.delete(
                f"/containers/{quote(name_or_id)}", params={"force": str(force).lower(), "v": "true"}
            )
            if response.status_code != 404:  # already gone is what we wanted
                response.raise_for_status()

        await self._call("remove", name_or_id, remove)

    async def pull(self, reference: str) -> str:
        """Pull an image; Podman answers 200 and reports a failed pull inside the body, so read it."""

        def pull() -> str:
            response = self._client.api.post(
                "/images/pull", params={"reference": reference, "quiet": "true", "policy": "always"}
            )
            response.raise_for_status()
            reports = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            errors = [r["error"] for r in reports if r.get("error")]
            found = [r["id"] for r in reports if r.get("id")]
            if errors or not found:
                raise PodmanError("pull", reference, errors[-1] if errors else "no image in Podman's answer")
            return "sha256:" + str(found[-1]).removeprefix("sha256:")

        return await self._call("pull", reference, pull)

    async def image_id(self, reference: str) -> str | None:
        def get() -> str | None:
            import podman.errors

            try:
                return str(self._client.images.get(reference).id)
            except podman.errors.ImageNotFound:
                return None

        return await self._call("inspect image", reference, get)

    async def inspect(self, name: str) -> dict[str, Any]:
        """The raw inspect document, for details and tests; the planner never needs it."""

        def get() -> dict[str, Any]:
            return dict(self._get_json(f"/containers/{quote(name)}/json"))

        return await self._call("inspect", name, get)

    async def run_healthcheck(self, name: str) -> str:
        """Run the container's healthcheck now; Podman's own timers need systemd, which may be absent.

        Returns this check's result, `healthy` or `unhealthy`: Podman 4.3 answers with the check's
        own result, and counts it toward the container's state (`health_state` reads that).
        """

        def run() -> str:
            response = self._client.api.get(f"/containers/{quote(name)}/healthcheck")
            response.raise_for_status()
            return str(response.json().get("Status", ""))

        return await self._call("healthcheck", name, run)

    async def health_state(self, name: str) -> HealthState:
        """The container's health as Podman keeps it (inspect's State.Health), with the last check's output."""
        return _health_state(await self.inspect(name))

    async def logs(self, name: str, since: int) -> list[str]:
        """The lines a container wrote (stdout and stderr, in order) in or after the second `since`
        (Unix seconds: Podman's log times are whole seconds)."""

        def get() -> list[str]:
            frames = self._client.containers.get(name).logs(stdout=True, stderr=True, since=since)
            chunks = frames if isinstance(frames, Iterator) else [frames]
            return b"".join(chunks).decode(errors="replace").splitlines()

        return await self._call("logs", name, get)

    async def events(self, since: float | None = None) -> AsyncIterator[ContainerEvent]:
        """Container events as they happen; ends with PodmanUnavailable when the stream breaks."""
        import httpx  # only the daemon reads events; the CLI need not pay for the import

        transport, base = _httpx_transport(self.url)
        params = {"stream": "true", "filters": json.dumps({"type": ["container"]})}
        if since is not None:
            params["since"] = str(int(since))
        try:
            async with (
                httpx.AsyncClient(
                    transport=transport, base_url=base, timeout=httpx.Timeout(10, read=None)
                ) as client,
                client.stream("GET", f"/{API_VERSION}/libpod/events", params=params) as response,
            ):
                response.raise_for_status()
                async for line in response.aiter_lines():
                    event = _event(line)
                    if event is not None:
                        yield event
        except (httpx.HTTPError, OSError) as err:
            raise PodmanUnavailable(f"Podman's event stream at {self.url} broke: {err}") from None
        raise PodmanUnavailable(f"Podman's event stream at {self.url} ended")


@contextlib.contextmanager
def _translate(operation: str, target: str, url: str) -> Iterator[None]:
    """The one place Podman's, podman-py's and the small client's failures become monop's errors."""
    try:
        yield
    except Exception as err:
        translated = _translated(err, operation, target, url)
        if translated is err:
            raise
        raise translated from None


def _translated(err: Exception, operation: str, target: str, url: str) -> Exception:
    """`err` as PodmanUnavailable or PodmanError, or itself when it is neither."""
    if "requests" in sys.modules:  # podman-py may have raised it; requests' errors are OSErrors too
        import podman.errors
        import requests

        if isinstance(err, requests.ConnectionError):
            return PodmanUnavailable(f"cannot reach Podman at {url}: {_root_cause(err)}")
        if isinstance(err, podman.errors.APIError):
            if err.response is None:
                # podman-py wraps a failed connection (socket gone, refused) in an APIError without a response.
                return PodmanUnavailable(f"cannot reach Podman at {url}: {_root_cause(err)}")
            return PodmanError(operation, target, _api_message(err), err.status_code)
        if isinstance(err, requests.HTTPError):
            status = err.response.status_code if err.response is not None else None
            if status is not None and status >= 500 and err.response is not None and not err.response.content:
                return PodmanUnavailable(f"Podman at {url} answered {status}")
            return PodmanError(operation, target, _http_message(err), status)
        if isinstance(err, requests.Timeout):
            return PodmanError(operation, target, f"timed out: {err}")
    if isinstance(err, TimeoutError):  # the small client's socket timeout
        return PodmanError(operation, target, f"timed out: {err}")
    if isinstance(err, OSError):  # ConnectionError, FileNotFoundError, PermissionError on the socket
        return PodmanUnavailable(f"cannot reach Podman at {url}: {_root_cause(err)}")
    if isinstance(err, HTTPStatusError):
        if err.status >= 500 and not err.body:
            return PodmanUnavailable(f"Podman at {url} answered {err.status}")
        return PodmanError(operation, target, err.message(), err.status)
    return err


def _api_message(err: podman.errors.APIError) -> str:
    return str(err.explanation or err).strip()


def _http_message(err: requests.HTTPError) -> str:
    response = err.response
    if response is None:
        return str(err)
    try:
        return str(response.json().get("message") or response.text).strip()
    except ValueError:
        return response.text.strip() or str(err)


def _root_cause(err: BaseException) -> str:
    while err.__context__ is not None and err.__context__ is not err:
        err = err.__context__
    return str(err) or type(err).__name__


def _httpx_transport(url: str) -> tuple[httpx.AsyncBaseTransport, str]:
    import httpx

    if url.startswith("unix://"):
        return httpx.AsyncHTTPTransport(uds=url.removeprefix("unix://")), "http://podman"
    if url.startswith(("http://", "tcp://")):
        return httpx.AsyncHTTPTransport(), url.replace("tcp://", "http://", 1)
    raise PodmanUnavailable(f"the event stream needs a unix:// or tcp:// URL, not {url}")


def _time(value: Any) -> datetime | None:
    """Podman's list gives epoch seconds; zero and the Go zero time mean 'never'."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value and not value.startswith("0001-"):
        # Go prints nanoseconds; Python reads at most microseconds.
        trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(trimmed)
    return None


def _health_state(inspected: Mapping[str, Any]) -> HealthState:
    health = (inspected.get("State") or {}).get("Health") or {}
    log = health.get("Log") or [{}]
    last = log[-1] if isinstance(log[-1], dict) else {}
    return HealthState(
        str(health.get("Status") or ""),
        int(health.get("FailingStreak") or 0),
        int(last["ExitCode"]) if isinstance(last.get("ExitCode"), int) else None,
        str(last.get("Output") or "").strip(),
    )


def _live(data: Mapping[str, Any]) -> LiveContainer:
    state = str(data.get("State", "")).lower()
    # The list's Status field carries the health state of containers with a healthcheck.
    health = str(data.get("Status") or "").lower() or None
    return LiveContainer(
        id=str(data["Id"]),
        name=str((data.get("Names") or [""])[0]),
        state=state,
        image=str(data.get("Image", "")),
        image_id="sha256:" + str(data.get("ImageID", "")).removeprefix("sha256:")
        if data.get("ImageID")
        else "",
        exit_code=int(data["ExitCode"]) if data.get("Exited") or state == "exited" else None,
        health=health if health in ("healthy", "unhealthy", "starting") else None,
        health_output=data["_health"].last_check() if "_health" in data else None,
        labels=MappingProxyType(dict(data.get("Labels") or {})),
        created_at=_time(data.get("Created")),
        started_at=_time(data.get("StartedAt")),
        finished_at=_time(data.get("ExitedAt")),
    )


def _event(line: str) -> ContainerEvent | None:
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    actor = data.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    return ContainerEvent(
        action=str(data.get("Action") or data.get("status") or ""),
        name=str(attributes.get("name", "")),
        id=str(actor.get("ID") or data.get("id") or ""),
        labels=MappingProxyType({k: str(v) for k, v in attributes.items()}),
        time=float(data.get("timeNano", 0)) / _NS or float(data.get("time", 0)),
    )
