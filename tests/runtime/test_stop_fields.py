"""stopTimeout, stopSignal and init reach the container, and shape how it stops (real Podman).

busybox httpd as PID 1 ignores SIGTERM (the kernel drops signals PID 1 has no handler for), as
many applications do. Whether a stop ended by the signal or by the kill after the timeout is
told by the exit code (143 = SIGTERM, 137 = SIGKILL); how long it takes is measured in bench/.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from monop.runtime.container import ContainerConfig
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman

HTTPD = ("httpd", "-f", "-p", "8080")


def inspect(service: PodmanService, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(service.podman("inspect", name, "--format", "json").stdout)[0]
    return data


def run_then_stop(podman: Podman, config: ContainerConfig) -> None:
    async def scenario() -> None:
        await podman.create(config, {})
        await podman.start(config.name)
        await podman.stop(config.name)  # no timeout given: the container's own applies

    asyncio.run(scenario())


def test_the_fields_are_set_on_the_created_container(podman: Podman, podman_service: PodmanService) -> None:
    config = ContainerConfig(
        "shaped", images.BUSYBOX, args=HTTPD, stop_timeout_s=3, stop_signal=int(signal.SIGINT), init=True
    )
    asyncio.run(podman.create(config, {}))
    data = inspect(podman_service, "shaped")
    assert (data["Config"]["StopTimeout"], data["Config"]["StopSignal"]) == (3, int(signal.SIGINT))  # type: ignore[index]
    assert data["HostConfig"]["Init"] is True  # type: ignore[index]


def test_unset_fields_leave_podmans_defaults(podman: Podman, podman_service: PodmanService) -> None:
    asyncio.run(podman.create(ContainerConfig("plain", images.BUSYBOX, args=HTTPD), {}))
    data = inspect(podman_service, "plain")
    # The image's STOPSIGNAL (SIGKILL for the stand-ins), Podman's 10 s, no init.
    assert (data["Config"]["StopTimeout"], data["Config"]["StopSignal"]) == (10, int(signal.SIGKILL))  # type: ignore[index]
    assert not data["HostConfig"].get("Init")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("init", "exit_code"),
    [(False, 137), (True, 143)],
    ids=["pid1-ignores-sigterm-so-killed", "init-forwards-sigterm"],
)
def test_init_makes_a_sigterm_deaf_pid1_stop_on_the_signal(
    init: bool, exit_code: int, podman: Podman, podman_service: PodmanService
) -> None:
    config = ContainerConfig(
        "deaf", images.BUSYBOX, args=HTTPD, stop_signal=int(signal.SIGTERM), stop_timeout_s=1, init=init
    )
    run_then_stop(podman, config)
    state = inspect(podman_service, "deaf")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", exit_code)  # type: ignore[index]
