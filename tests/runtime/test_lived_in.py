"""The lived-in test host: it holds what real hosts hold, and notices when a test touches it."""

from __future__ import annotations

import pytest

from monop.runtime.podman import Podman
from monop_testbed import lived_in
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman


@pytest.fixture
def lived_in_host(podman_service: PodmanService, podman: Podman) -> PodmanService:
    if not podman_service.keep:
        pytest.skip("the pristine host holds nothing of its own")
    return podman_service


def test_it_holds_networks_a_pod_and_containers_of_others(lived_in_host: PodmanService) -> None:
    networks = set(lived_in_host.podman("network", "ls", "--format", "{{.Name}}").stdout.split())
    assert {lived_in.EXTRA_NETWORK, lived_in.COMPOSE_NETWORK, lived_in.KUBE_NETWORK} <= networks
    assert lived_in_host.podman("pod", "ps", "--format", "{{.Name}}").stdout.split() == ["hostapp"]
    states = lived_in.snapshot(lived_in_host).containers.values()
    assert {"running", "created", "exited"} <= {state for _, state in states}


def test_removing_what_tests_made_keeps_the_hosts_own(lived_in_host: PodmanService) -> None:
    before = lived_in.snapshot(lived_in_host)
    lived_in_host.podman(
        "run", "-d", "--name", "made-by-a-test", "localhost/monop-test/busybox:1", "sleep", "60"
    )
    lived_in_host.remove_test_containers()
    assert lived_in.snapshot(lived_in_host) == before


def test_a_touched_resident_is_reported(lived_in_host: PodmanService) -> None:
    residents = lived_in.snapshot(lived_in_host)
    lived_in_host.podman("stop", "--time", "0", "host-sleeper")
    try:
        assert any(c.startswith("container host-sleeper") for c in residents.changes(lived_in_host))
    finally:
        lived_in_host.podman("start", "host-sleeper")
    assert residents.changes(lived_in_host) == []
