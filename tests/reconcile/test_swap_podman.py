"""A recreate never takes a working service down: real Podman, real `monop apply` processes.

Each fault is one that only shows once the replacement is made or started (a device or a mount
source the host lacks, a host port someone else holds, a process that exits at once). In every
case the old container keeps running and serving, the replacement is gone, and apply exits 1
saying why. An interrupted swap (monop killed at a step) is finished or undone by the next apply.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from monop.desired.loader import load
from monop.reconcile.plan import Unit, units
from monop.runtime import ownership
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.desired import service_yaml, write_service
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman

PORT = 19810
OTHER_PORT = 19811  # a port the replacement publishes, held by a container monop does not own
TEMP = ownership.swap_name("alpha")


def apply(podman_service: PodmanService, tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONOP_PODMAN_URL": podman_service.url}
    return subprocess.run(
        [sys.executable, "-m", "monop", *args, "-d", str(tree)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def containers(podman_service: PodmanService) -> dict[str, tuple[str, str]]:
    """name -> (ID, state) of every container."""
    return {c["Names"][0]: (c["Id"], c["State"]) for c in podman_service.containers()}


def served(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


@pytest.fixture(autouse=True)
def own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONOP_SD_DIR", str(tmp_path / "file_sd"))
    monkeypatch.setenv("MONOP_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("MONOP_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def tree(tmp_path: Path, podman: Podman, podman_service: PodmanService) -> Path:
    """alpha, applied and serving `app_up 1` on PORT."""
    desired = tmp_path / "desired"
    write_service(desired, "alpha", PORT)
    done = apply(podman_service, desired, "apply")
    assert done.returncode == 0, done.stderr
    assert served(PORT) == "app_up 1\n"
    return desired


def edit(tree: Path, extra: str = "", port: int = PORT) -> None:
    """alpha with `app_up 2` and the spec lines `extra` (two-space indented, under spec)."""
    (tree / "alpha.yaml").write_text(service_yaml("alpha", port, "app_up 2") + extra)


def hold_port(podman_service: PodmanService, port: int) -> str:
    out = podman_service.podman(
        "run", "-d", "--name", "holder", "-p", f"127.0.0.1:{port}:80",
        images.BUSYBOX, "httpd", "-f", "-p", "80",
    ).stdout  # fmt: skip
    return out.strip()


FAULTS = {
    "a device the host lacks": ('  devices: ["/dev/no-such-device:/dev/x:rwm"]\n', "/dev/no-such-device"),
    "a mount source that does not exist": (
        '  volumes: ["/nonexistent/monop-swap:/data:ro"]\n',
        "/nonexistent/monop-swap",
    ),
    "a process that exits at once": (
        '  command: ["false"]\n',
        "did not keep running for 1s after its start: exited (code 1)",
    ),
    "exits at once under restartPolicy always": (
        '  command: ["false"]\n  restartPolicy: always\n',
        "did not keep running for 1s after its start",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_replacement_that_cannot_run_leaves_the_old_one_serving(
    fault: str, tree: Path, podman_service: PodmanService
) -> None:
    before = containers(podman_service)["alpha"]
    extra, error = FAULTS[fault]
    edit(tree, extra)
    result = apply(podman_service, tree, "apply", "--json")
    assert result.returncode == 1, result.stderr
    [outcome] = json.loads(result.stdout)["actions"]
    assert (outcome["action"], outcome["ok"]) == ("recreate", False)
    assert error in outcome["error"]
    assert containers(podman_service) == {"alpha": before}  # the same container, running; no replacement
    assert served(PORT) == "app_up 1\n"
    status = apply(podman_service, tree, "status", "--json")
    [alpha] = json.loads(status.stdout)["resources"]
    assert alpha["state"] == "Drifted"


def test_a_host_port_held_by_a_stranger_leaves_the_old_one_serving(
    tree: Path, podman_service: PodmanService
) -> None:
    holder = hold_port(podman_service, OTHER_PORT)
    before = containers(podman_service)["alpha"]
    edit(tree, port=OTHER_PORT)
    result = apply(podman_service, tree, "apply")
    assert result.returncode == 1
    assert "recreate BusinessService/alpha: FAILED: start " + TEMP in result.stdout
    assert "address already in use" in result.stdout
    assert "the previous container runs again" in result.stdout
    assert containers(podman_service) == {"alpha": before, "holder": (holder, "running")}
    assert served(PORT) == "app_up 1\n"


def test_a_recreate_swaps_in_the_new_container_under_the_same_name(
    tree: Path, podman_service: PodmanService
) -> None:
    before = containers(podman_service)["alpha"]
    edit(tree)
    result = apply(podman_service, tree, "apply")
    assert result.returncode == 0, result.stdout + result.stderr
    [(name, (new_id, state))] = containers(podman_service).items()
    assert (name, state) == ("alpha", "running") and new_id != before[0]
    assert served(PORT) == "app_up 2\n"
    # It carries the ID of the container it replaced, for whoever reads its labels.
    label = podman_service.podman("inspect", "-f", '{{index .Config.Labels "monop.dev/replaces"}}', "alpha")
    assert label.stdout.strip() == before[0]


# -- a swap interrupted at each step: the next apply finishes or undoes it ----------------------


def desired_unit(tree: Path) -> Unit:
    [unit] = units(load(tree))
    return unit


def make_replacement(podman_service: PodmanService, unit: Unit, start: bool) -> str:
    """What the executor makes before it stops the old container: the new one under its swap name."""

    async def create() -> str:
        client = Podman(podman_service.url)
        try:
            made = await client.create(replace(unit.config, name=TEMP), unit.labels)
            if start:
                await client.start(TEMP)
            return made
        finally:
            client.close()

    return asyncio.run(create())


def test_killed_after_creating_the_replacement(tree: Path, podman_service: PodmanService) -> None:
    edit(tree)
    make_replacement(podman_service, desired_unit(tree), start=False)
    result = apply(podman_service, tree, "apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(containers(podman_service)) == {"alpha"}
    assert served(PORT) == "app_up 2\n"


def test_killed_after_stopping_the_old_one(tree: Path, podman_service: PodmanService) -> None:
    edit(tree)
    make_replacement(podman_service, desired_unit(tree), start=False)
    podman_service.podman("stop", "alpha")
    result = apply(podman_service, tree, "apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [state for _, state in containers(podman_service).values()] == ["running"]
    assert set(containers(podman_service)) == {"alpha"}
    assert served(PORT) == "app_up 2\n"


@pytest.mark.parametrize("old_removed", [False, True], ids=["old-stopped", "old-removed"])
def test_killed_after_starting_the_replacement_completes_the_swap(
    old_removed: bool, tree: Path, podman_service: PodmanService
) -> None:
    edit(tree)
    podman_service.podman("stop", "alpha")
    made = make_replacement(podman_service, desired_unit(tree), start=True)
    if old_removed:
        podman_service.podman("rm", "alpha")
    plan = apply(podman_service, tree, "plan")
    assert plan.stdout == (
        f"[1] complete BusinessService/alpha: an interrupted recreate left its replacement running as {TEMP}\n"
    )
    result = apply(podman_service, tree, "apply")
    assert result.returncode == 0, result.stdout + result.stderr
    # Finished, not redone: the replacement is the container, renamed, never stopped.
    assert containers(podman_service) == {"alpha": (made, "running")}
    assert served(PORT) == "app_up 2\n"


# -- a container that publishes no port is initialised before the old one stops -------------

QUIET = """\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata: {{name: quiet}}
spec:
  image: {image}
  args: ["sleep", "600"]
  env: {{VERSION: "{version}"}}
  scrape: {{enabled: false}}
{extra}"""


@pytest.mark.parametrize("works", [True, False], ids=["swapped", "exits-at-once"])
def test_a_container_without_ports_is_swapped_or_kept(
    works: bool, tmp_path: Path, podman: Podman, podman_service: PodmanService
) -> None:
    tree = tmp_path / "desired"
    tree.mkdir()
    quiet = tree / "quiet.yaml"
    quiet.write_text(QUIET.format(image=images.BUSYBOX, version=1, extra=""))
    assert apply(podman_service, tree, "apply").returncode == 0
    before = containers(podman_service)["quiet"]
    quiet.write_text(
        QUIET.format(image=images.BUSYBOX, version=2, extra="" if works else '  command: ["false"]\n')
    )
    result = apply(podman_service, tree, "apply")
    assert result.returncode == (0 if works else 1), result.stdout + result.stderr
    [(name, (cid, state))] = containers(podman_service).items()
    assert (name, state) == ("quiet", "running")
    assert (cid != before[0]) is works


def test_a_swap_cancelled_half_way_starts_the_old_one_again(
    tree: Path, podman_service: PodmanService
) -> None:
    """The daemon stopping (its task cancelled) during a swap leaves the old container serving."""
    from monop.reconcile.execute import execute
    from monop.reconcile.plan import plan
    from monop.runtime.podman import PodmanError

    before = containers(podman_service)["alpha"]
    edit(tree)

    async def swap_then_cancel() -> None:
        client = Podman(podman_service.url)
        try:
            swap = plan(units(load(tree)), await client.observe())
            # A long start check: the cancel lands after the old container was stopped.
            task = asyncio.create_task(execute(swap, client, failure_types=(PodmanError,), grace=60))
            deadline = asyncio.get_running_loop().time() + 30
            while containers(podman_service).get(TEMP, ("", ""))[1] != "running":
                assert asyncio.get_running_loop().time() < deadline, "the replacement never started"
                await asyncio.sleep(0.05)
            assert containers(podman_service)["alpha"][1] != "running"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            client.close()

    asyncio.run(swap_then_cancel())
    after = containers(podman_service)
    assert TEMP not in after
    assert after["alpha"] == (before[0], "running")
    assert served(PORT) == "app_up 1\n"
