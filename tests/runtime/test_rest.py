"""Reads through the small standard-library client, against a real Podman service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from monop.runtime.podman import Podman, PodmanError
from monop.runtime.rest import Rest
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman


def test_a_read_of_a_missing_container_is_podmans_own_error(podman: Podman) -> None:
    with pytest.raises(PodmanError) as err:
        asyncio.run(podman.inspect("no-such-container"))
    assert (err.value.operation, err.value.target, err.value.status) == ("inspect", "no-such-container", 404)
    assert "no such container" in str(err.value)


def test_observing_needs_neither_podman_py_nor_requests(podman_service: PodmanService) -> None:
    # A no-op `monop apply` only observes: it must not pay for importing podman-py.
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from monop.runtime.podman import Podman
        client = Podman({podman_service.url!r})
        observed = asyncio.run(client.observe())
        assert client.requests == 2, client.requests
        loaded = sorted(m for m in ("podman", "requests", "urllib3", "rich") if m in sys.modules)
        print(loaded)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("url", "speaks"),
    [
        ("unix:///run/podman/podman.sock", True),
        ("http+unix:///run/podman/podman.sock", True),
        ("tcp://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("ssh://core@host:22/run/podman/podman.sock", False),  # podman-py's tunnel does these
        ("unix://", False),
    ],
)
def test_urls_the_small_client_speaks(url: str, speaks: bool) -> None:
    assert (Rest.for_url(url, 5.0) is not None) is speaks
