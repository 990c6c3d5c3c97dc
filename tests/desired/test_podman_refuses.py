"""What Podman, runc or the kernel would refuse at create or start is refused by validate, at its line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState

SPEC = "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec:\n  image: example/x:1\n  ports: ['9100:9100']\n"


def problems(field: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(SPEC + f"  {field}\n")
        try:
            load(tmp, exists_on_host=lambda _: True)
        except InvalidDesiredState as err:
            assert all(p.line == 7 for p in err.problems), [str(p) for p in err.problems]
            return [p.message for p in err.problems]
    return []


@pytest.mark.parametrize(
    "field",
    [
        "labels: {'': x}",  # podman: invalid label format
        "labels: {'a=b': x}",
        "labels: {' a': x}",
        "labels: {monop.dev/managed-by: monop}",  # would forge monop's ownership
        "extraHosts: ['db:not-an-ip']",  # podman: invalid IP address in add-host
        "extraHosts: ['db:host-gateway']",  # Podman 4.3 takes no host-gateway
        "extraHosts: [':10.0.0.1']",
        'volumes: ["/data\\0x:/x"]',
        "limits: {memory: 9Ei}",
        "limits: {memory: 99999999999999999999}",
        "limits: {cpus: 100000}",
        "healthcheck: {test: 'true', retries: 99999999999}",
    ],
)
def test_refused_at_its_line(field: str) -> None:
    assert problems(field)


@pytest.mark.parametrize(
    "field",
    [
        "labels: {app.example/tier: web}",
        "extraHosts: ['db:10.0.0.1', 'v6:fd00::1']",
        "limits: {memory: 8Gi, cpus: 2}",
        "ports: [{containerPort: 9100, protocol: TCP}]",
        "ports: ['9100/TCP']",
    ],
)
def test_what_podman_takes_is_taken(field: str) -> None:
    text = SPEC.replace("  ports: ['9100:9100']\n", "") if field.startswith("ports") else SPEC
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(text + f"  {field}\n  scrape: {{port: 9100}}\n")
        load(tmp, exists_on_host=lambda _: True)


def test_both_port_forms_read_the_protocol_alike() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(
            SPEC.replace(
                "ports: ['9100:9100']", "ports: ['9100:9100/TCP', {containerPort: 9200, protocol: UDP}]"
            )
        )
        [loaded] = load(tmp, exists_on_host=lambda _: True).resources
    assert [p.protocol for p in loaded.resource.spec.ports] == ["tcp", "udp"]
