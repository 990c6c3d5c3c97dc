"""Shared fixtures: the repository, and one private Podman service for the whole session."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.live.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["monop_testbed.faults"]  # the `fault` fixture, and the table scripts/faults prints


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


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanService]:
    """One `podman system service` with its own storage and socket, and the stand-in images."""
    # A short path: unix socket paths are limited to 108 bytes.
    with PodmanService(tmp_path_factory.mktemp("podman")) as service:
        images.build_all(service)
        yield service


@pytest.fixture
def podman(podman_service: PodmanService) -> Iterator[Podman]:
    """A client of the session's Podman; every container a test made is removed after it."""
    if not podman_service.running:  # a test may have stopped it to see monop cope
        podman_service.start()
    client = Podman(podman_service.url)
    yield client
    client.close()
    podman_service.remove_all_containers()


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]
