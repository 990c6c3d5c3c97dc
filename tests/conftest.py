"""Shared fixtures: the repository, and private Podman services for the whole session.

Every real-Podman test runs on a pristine Podman and on a lived-in one (networks, a pod
and containers of other users: `monop_testbed.lived_in`); `MONOP_TEST_HOST=pristine` or
`lived-in` picks one, for a quicker run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.runtime.podman import Podman
from monop_testbed import images, lived_in
from monop_testbed.podman_service import PodmanService

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["monop_testbed.faults"]  # the `fault` fixture, and the table scripts/faults prints

HOSTS = ("pristine", "lived-in")
_RESIDENTS: dict[str, lived_in.Residents] = {}


def _hosts() -> list[str]:
    chosen = os.environ.get("MONOP_TEST_HOST", "both")
    if chosen == "both":
        return list(HOSTS)
    if chosen not in HOSTS:
        raise pytest.UsageError(f"MONOP_TEST_HOST must be pristine, lived-in or both, not {chosen!r}")
    return [chosen]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Whatever a test forgets to set, monop's files land in the session's tmp, never /var/lib/monop."""
    base = tmp_path_factory.mktemp("monop-state")
    names = {"MONOP_STATE_DIR": base, "MONOP_SD_DIR": base / "file_sd", "MONOP_RULES_DIR": base / "rules"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session", params=_hosts())
def podman_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PodmanService]:
    """A `podman system service` with its own storage and socket, and the stand-in images."""
    # A short path: unix socket paths are limited to 108 bytes.
    with PodmanService(tmp_path_factory.mktemp(request.param)) as service:
        images.build_all(service)
        if request.param == "lived-in":
            _RESIDENTS[service.url] = lived_in.furnish(service)
        yield service
        _RESIDENTS.pop(service.url, None)


@pytest.fixture
def podman(podman_service: PodmanService) -> Iterator[Podman]:
    """A client of the session's Podman; every container a test made is removed after it.

    On the lived-in host, the host's own containers, pod and networks must be as they were.
    """
    if not podman_service.running:  # a test may have stopped it to see monop cope
        podman_service.start()
    client = Podman(podman_service.url)
    yield client
    client.close()
    podman_service.remove_test_containers()
    residents = _RESIDENTS.get(podman_service.url)
    if residents is not None:
        changes = residents.changes(podman_service)
        assert not changes, f"the test changed what the lived-in host held: {changes}"


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]
