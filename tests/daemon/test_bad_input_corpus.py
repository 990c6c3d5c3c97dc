"""A corpus of bad desired files fed to a running daemon, one after another: each is refused
at its file and line (never a traceback), nothing changes, and the daemon keeps following.

The corpus is the kinds `validate` is tested with (tests/desired), here delivered the way a
user delivers them: saved into the watched directory of a real `monop run` on real Podman.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.faults import FaultRecord
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.fault]

PORT = 19360
HEAD = "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata:\n  name: bad\nspec:\n  image: img:1\n"
# (spec lines, each two-space indented): numbers that are not numbers, in every kind of number field
NOT_NUMBERS = [".inf", "-.inf", ".nan", "1e400", "9" * 40, '"9100"', "true"]
NUMBER_FIELDS = [
    "  ports: [{{containerPort: {v}}}]\n",
    "  limits: {{cpus: {v}}}\n",
    "  limits: {{memory: {v}}}\n",
    "  healthcheck: {{test: 'true', retries: {v}}}\n",
    "  stopTimeout: {v}\n",
    "  scrape: {{port: {v}}}\n",
]
# wrong shapes and broken YAML
SHAPES = [
    "  command: a b\n",
    "  env: 5\n",
    "  ports: {x: 1}\n",
    "  volumes: [{hostPath: 'a\\0b', containerPath: /x}]\n",
    "  labels: {'a=b': c}\n",
    "  extraHosts: ['db:not-an-ip']\n",
    '  ports: ["9100:9100"\n',
    "  image: img:1\n  image: img:2\n",
    "\tprivileged: true\n",
]
CORPUS = [HEAD + f.format(v=v) for f, v in itertools.product(NUMBER_FIELDS, NOT_NUMBERS)] + [
    HEAD + s for s in SHAPES
]


def running(service: PodmanService) -> list[tuple[str, str]]:
    return sorted((c["Id"], c["State"]) for c in service.containers())


@pytest.fixture
def desired(tmp_path: Path, podman: object) -> Path:
    tree = tmp_path / "desired"
    write_service(tree, "alpha", PORT)
    return tree


def test_a_corpus_of_bad_input_is_refused_at_its_lines_and_the_daemon_keeps_following(
    desired: Path, tmp_path: Path, podman_service: PodmanService, fault: FaultRecord
) -> None:
    daemon = fault.watch(DaemonProcess(podman_service.url, desired, tmp_path / "state"))
    with daemon:
        daemon.wait_ready()
        wait_for(lambda: daemon.events("container_created"), 60, "alpha created")
        before = running(podman_service)
        bad = desired / "bad.yaml"
        for n, text in enumerate(CORPUS, 1):
            fault.inject(f"bad input {n}: {text.splitlines()[-1].strip()}")
            bad.write_text(text)
            wait_for(lambda n=n: len(daemon.events("desired_state_rejected")) >= n, 30, f"input {n} refused")
            [problems] = [e["problems"] for e in daemon.events("desired_state_rejected")][n - 1 : n]
            assert problems, text
            for problem in problems:
                assert problem.startswith(f"{bad}:"), (text, problem)  # located: its file and line
        assert daemon.tracebacks() == 0
        assert running(podman_service) == before  # nothing created, removed or recreated
        bad.unlink()
        write_service(desired, "alpha", PORT, metrics="app_up 2")  # and it still follows
        wait_for(lambda: daemon.events("container_recreated"), 60, "alpha recreated from the edit")
        fault.count(podman_service, ("alpha",))
