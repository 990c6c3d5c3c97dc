"""The Podman adapter against a real Podman service."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from monop.errors import PodmanUnavailable
from monop.runtime.container import ContainerConfig, Device, Healthcheck, Mount, PortMapping
from monop.runtime.podman import Podman, PodmanError, resolve_url
from monop_testbed import images
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman


def config(name: str, **fields: object) -> ContainerConfig:
    fields.setdefault("image", images.BUSYBOX)
    fields.setdefault("args", ("sleep", "600"))
    return ContainerConfig(name=name, **fields)  # type: ignore[arg-type]


async def make(
    podman: Podman, cfg: ContainerConfig, labels: dict[str, str] | None = None, start: bool = True
) -> str:
    cid = await podman.create(cfg, labels or {})
    if start:
        await podman.start(cfg.name)
    return cid


def test_observe_lists_states_exit_codes_labels_and_images(
    podman: Podman, podman_service: PodmanService
) -> None:
    async def scenario() -> None:
        await make(podman, config("up"), {"monop.dev/managed-by": "monop"})
        await make(podman, config("done", args=("sh", "-c", "exit 3")))
        await make(podman, config("fresh"), start=False)
        wait_for(
            lambda: (
                podman_service.podman("inspect", "-f", "{{.State.Status}}", "done").stdout.strip() == "exited"
            ),
            10,
            "exit",
        )
        state = await podman.observe()
        by_name = state.by_name()
        assert (by_name["up"].state, by_name["up"].labels["monop.dev/managed-by"]) == ("running", "monop")
        assert (by_name["done"].state, by_name["done"].exit_code) == ("exited", 3)
        assert by_name["fresh"].state == "created"
        assert by_name["up"].started_at is not None and by_name["up"].created_at is not None
        assert by_name["up"].image_id == state.images[images.BUSYBOX]

    asyncio.run(scenario())


def test_unhealthy_is_seen_once_the_healthcheck_ran(podman: Podman) -> None:
    async def scenario() -> None:
        hc = Healthcheck(test=("CMD", "false"), interval_s=60, timeout_s=5, retries=1)
        await make(podman, config("sick", healthcheck=hc))
        assert (await podman.observe()).by_name()["sick"].health == "starting"
        # No systemd here, so Podman's own timers never run it: monop runs it.
        assert await podman.run_healthcheck("sick") == "unhealthy"
        assert (await podman.observe()).by_name()["sick"].health == "unhealthy"

    asyncio.run(scenario())


def test_every_field_of_the_config_reaches_the_container(podman: Podman, tmp_path: Path) -> None:
    (tmp_path / "conf.yml").write_text("a: 1\n")
    cfg = config(
        "full",
        command=("/bin/sh", "-c"),
        args=("sleep 600",),
        env=(("METRICS_PORT", "9999"), ("PROMETHEUS_ENABLED", "true")),
        ports=(PortMapping(9100, 19999, "tcp", "127.0.0.1"), PortMapping(53, 19953, "udp")),
        mounts=(
            Mount(str(tmp_path / "conf.yml"), "/etc/conf.yml", True),
            Mount(str(tmp_path), "/data", False),
        ),
        devices=(Device("/dev/null", "/dev/nvidia0", "rwm"),),
        network="bridge",
        cap_add=("CAP_NET_ADMIN",),
        cap_drop=("CAP_MKNOD",),
        user="65534:65534",
        restart_policy="on-failure",
        healthcheck=Healthcheck(("CMD-SHELL", "true"), 15, 3, 2, 5),
        labels=(("team", "observability"),),
        memory_bytes=64 * 2**20,
        cpus=0.5,
        extra_hosts=("metrics.local:127.0.0.1",),
    )

    async def scenario() -> dict[str, object]:
        await make(podman, cfg, {"monop.dev/managed-by": "monop"})
        return await podman.inspect("full")

    info = asyncio.run(scenario())
    c, host = info["Config"], info["HostConfig"]  # type: ignore[index]
    assert c["Entrypoint"] in ("/bin/sh -c", ["/bin/sh", "-c"])
    assert c["Cmd"] == ["sleep 600"]
    assert {"METRICS_PORT=9999", "PROMETHEUS_ENABLED=true"} <= set(c["Env"])
    assert host["PortBindings"] == {
        "9100/tcp": [{"HostIp": "127.0.0.1", "HostPort": "19999"}],
        "53/udp": [{"HostIp": "", "HostPort": "19953"}],
    }
    mounts = {(m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"]}  # type: ignore[index]
    assert mounts == {(str(tmp_path / "conf.yml"), "/etc/conf.yml", False), (str(tmp_path), "/data", True)}
    # Podman 4.3's inspect leaves CgroupPermissions empty, for `podman run --device` too.
    assert [(d["PathOnHost"], d["PathInContainer"]) for d in host["Devices"]] == [
        ("/dev/null", "/dev/nvidia0")
    ]
    assert host["NetworkMode"] == "bridge"
    assert "CAP_NET_ADMIN" in host["CapAdd"] and "CAP_MKNOD" in host["CapDrop"]
    assert c["User"] == "65534:65534"
    assert host["RestartPolicy"]["Name"] == "on-failure"
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 15 * 10**9,
        "Timeout": 3 * 10**9,
        "Retries": 2,
        "StartPeriod": 5 * 10**9,
    }
    assert c["Labels"]["team"] == "observability" and c["Labels"]["monop.dev/managed-by"] == "monop"
    assert host["Memory"] == 64 * 2**20
    assert (host["CpuPeriod"], host["CpuQuota"]) == (100_000, 50_000)
    assert host["ExtraHosts"] == ["metrics.local:127.0.0.1"]
    assert host["Privileged"] is False


def test_observing_costs_the_same_requests_for_one_container_or_ten(podman: Podman) -> None:
    async def cost() -> int:
        before = podman.requests
        await podman.observe()
        return podman.requests - before

    async def scenario() -> None:
        await make(podman, config("c0"))
        one = await cost()
        await asyncio.gather(*(make(podman, config(f"c{i}")) for i in range(1, 10)))
        assert await cost() == one == 2

    asyncio.run(scenario())


def test_events_report_a_killed_container(podman: Podman, podman_service: PodmanService) -> None:
    async def scenario() -> list[str]:
        await make(podman, config("victim"), {"monop.dev/managed-by": "monop"})
        seen: list[str] = []

        async def watch() -> None:
            async for event in podman.events():
                if event.name == "victim":
                    seen.append(event.action)
                    if event.action == "died":
                        assert event.labels["monop.dev/managed-by"] == "monop"
                        return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0)  # let the stream connect before the kill
        deadline = asyncio.get_running_loop().time() + 15
        while not task.done():
            await asyncio.to_thread(
                podman_service.podman, "kill", "--signal", str(int(signal.SIGKILL)), "victim", check=False
            )
            await asyncio.wait({task}, timeout=1)
            assert asyncio.get_running_loop().time() < deadline, "no died event"
        return seen

    assert "died" in asyncio.run(scenario())


def test_a_missing_image_fails_that_operation(podman: Podman) -> None:
    with pytest.raises(PodmanError) as err:
        asyncio.run(podman.create(config("nope", image="localhost/monop-test/nope:1"), {}))
    assert err.value.operation == "create" and err.value.target == "nope"
    assert "nope" in str(err.value)


def test_a_stopped_service_is_unavailable_not_an_error(tmp_path: Path) -> None:
    client = Podman(f"unix://{tmp_path}/absent.sock")
    with pytest.raises(PodmanUnavailable, match="cannot reach Podman at unix://"):
        asyncio.run(client.observe())


def test_socket_resolution() -> None:
    assert resolve_url("unix:///x.sock", {}) == "unix:///x.sock"
    assert resolve_url(None, {"CONTAINER_HOST": "unix:///c.sock"}) == "unix:///c.sock"
    assert resolve_url(None, {}, uid=0) == "unix:///run/podman/podman.sock"
    assert (
        resolve_url(None, {"XDG_RUNTIME_DIR": "/run/user/1000"}, uid=1000)
        == "unix:///run/user/1000/podman/podman.sock"
    )
