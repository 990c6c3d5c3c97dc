"""What a Kubernetes or compose user writes first, where it can mean one thing only, is taken.

Each accepted form must make the very container (spec hash and Podman's create request)
and the very scrape targets that monop's own form makes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from downstream import render_everything

from monop.api.targets import targets
from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.errors import InvalidDesiredState
from monop.runtime.createspec import create_spec
from monop.runtime.expand import expand, spec_hash

HEAD = "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\nmetadata:\n  name: x\nspec:\n  image: example/x:1\n"


def _load(spec: str) -> DesiredState:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(HEAD + spec)
        return load(tmp, exists_on_host=lambda _: True)


def _made(spec: str) -> tuple[str, dict[str, object], list[object]]:
    state = _load(spec)
    render_everything(state)
    [loaded] = state.resources
    config = expand(loaded.resource, loaded.base_dir)
    return spec_hash(config), create_spec(config, {}), targets(loaded.resource, "127.0.0.1")


# (what a Kubernetes or compose user writes, monop's own form)
SAME = [
    ("  user: 65534\n", '  user: "65534"\n'),
    ("  user: 0\n", '  user: "0"\n'),
    ("  ports: [{containerPort: 9100, protocol: TCP}]\n", "  ports: ['9100:9100/tcp']\n"),
    ("  ports: [{containerPort: 5353, protocol: UDP}]\n", "  ports: ['5353:5353/udp']\n"),
    ("  ports: ['5353:5353/UDP']\n", "  ports: ['5353:5353/udp']\n"),
    ("  restartPolicy: Always\n", "  restartPolicy: always\n"),
    ("  restartPolicy: OnFailure\n", "  restartPolicy: on-failure\n"),
    ("  restartPolicy: Never\n", "  restartPolicy: no\n"),
    ("  limits: {cpus: 500m}\n", "  limits: {cpus: 0.5}\n"),
    ("  limits: {cpus: 2000m}\n", "  limits: {cpus: 2}\n"),
    ("  limits: {cpus: 1500m}\n", "  limits: {cpus: 1.5}\n"),
    ("  limits: {cpus: '0.25'}\n", "  limits: {cpus: 0.25}\n"),
    (
        "  ports: [{name: web, containerPort: 80, hostPort: 8080}, {name: metrics, containerPort: 9100}]\n"
        "  scrape: {port: metrics}\n",
        "  ports: ['8080:80', '9100:9100']\n  scrape: {port: 9100}\n",
    ),
    (
        "  ports: [{name: metrics, containerPort: 9100, hostPort: 19100}]\n  scrape: {port: metrics}\n",
        "  ports: ['19100:9100']\n  scrape: {port: 19100}\n",
    ),
    (
        "  network: host\n  ports: [{name: metrics, containerPort: 9100}]\n  scrape: {port: metrics}\n",
        "  network: host\n  ports: ['9100:9100']\n  scrape: {port: 9100}\n",
    ),
]


@pytest.mark.parametrize(("written", "canonical"), SAME, ids=[w.strip() for w, _ in SAME])
def test_the_accepted_form_makes_the_same_container_and_targets(written: str, canonical: str) -> None:
    assert _made(written) == _made(canonical)


def test_a_millicore_limit_reaches_podman_as_the_quota_of_its_cores() -> None:
    _, spec, _ = _made("  limits: {cpus: 250m}\n")
    assert spec["resource_limits"] == {"cpu": {"period": 100_000, "quota": 25_000}}


# (the spec, the line of the problem, its field and message)
REFUSED = [
    ("  limits: {cpus: 0m}\n", 7, "spec.limits.cpus", "a CPU limit must be more than 0"),
    (
        "  limits: {cpus: 500k}\n",
        7,
        "spec.limits.cpus",
        "should be a number of CPUs like 0.5 or 2, or millicores like 500m; got 500k",
    ),
    (
        "  ports: ['9100:9100']\n  scrape: {port: metrics}\n",
        8,
        "spec.scrape.port",
        "no port of spec.ports is named 'metrics' (names: none)",
    ),
    (
        "  ports: [{name: web, containerPort: 80}]\n  scrape: {port: metrics}\n",
        8,
        "spec.scrape.port",
        "no port of spec.ports is named 'metrics' (names: web)",
    ),
    (
        "  ports: ['9100:9100']\n  scrape: {port: '9100'}\n",
        8,
        "spec.scrape.port",
        "'9100' is a port number in quotes: write it without them",
    ),
    (
        "  ports: [{name: a, containerPort: 80}, {name: a, containerPort: 81}]\n",
        7,
        "spec.ports[1].name",
        "port name 'a' is also the name of spec.ports[0]",
    ),
    (
        "  ports: [{name: Metrics, containerPort: 80}]\n",
        7,
        "spec.ports[0].name",
        "port name 'Metrics' must be lower-case letters, digits and '-', begin with a letter and end "
        "with a letter or digit, at most 15 characters",
    ),
    (
        "  restartPolicy: never\n",
        7,
        "spec.restartPolicy",
        "should be one of no, always, on-failure, unless-stopped; got 'never'",
    ),
]


@pytest.mark.parametrize(("spec", "line", "field", "message"), REFUSED, ids=[r[0].strip() for r in REFUSED])
def test_what_is_still_ambiguous_is_refused_at_its_line(
    spec: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(InvalidDesiredState) as err:
        _load(spec)
    assert [(p.line, p.field, p.message) for p in err.value.problems] == [(line, field, message)]
