"""A fleet on one machine: three `monop run` daemons (instances alpha, beta, gamma), each with its
own private Podman service and host labels, following one bare git repository.

What a fleet promises, seen from outside: each host runs its own selection (placement and
`hosts/<name>/`), a resource moved between hosts by a commit is removed on one and created on
the other, a commit invalid for one host only is refused by all three (each stays on the revision
before), and one real Prometheus scrapes every host's `monop_applied_revision_info{host,revision}`
from the config `monop render prometheus --fleet` writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.gitrepo import PushedRepo as Repo
from monop_testbed.podman_service import PodmanService, wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = pytest.mark.podman

PROMETHEUS_PORT = 20690
LABELS = {"alpha": {"zone": "a"}, "beta": {"zone": "b"}, "gamma": {"zone": "b", "disk": "ssd"}}


def sleeper(name: str, placement: str = "", env: str = "") -> str:
    """A BusinessService that sleeps, with no network: cheap, and no port shared between hosts."""
    text = (
        "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\n"
        f"metadata:\n  name: {name}\nspec:\n  image: {images.BUSYBOX}\n"
        "  command: [sleep, '3600']\n  network: none\n"
    )
    if env:
        text += f"  env: {{ROLE: {env}}}\n"
    if placement:
        text += f"  placement:\n    matchLabels: {placement}\n"
    return text


@dataclass
class Host:
    name: str
    podman: PodmanService
    daemon: DaemonProcess

    def containers(self) -> dict[str, dict[str, str]]:
        """Name -> labels of what runs on this host's Podman."""
        return {c["Names"][0]: c.get("Labels") or {} for c in self.podman.containers()}

    def env(self, name: str) -> str | None:
        """The container's ROLE; None without one, or while no container has the name (mid-swap)."""
        done = self.podman.podman("inspect", name, "--format", "json", check=False)
        if done.returncode != 0:
            return None
        env = dict(item.partition("=")[::2] for item in json.loads(done.stdout)[0]["Config"]["Env"])
        return env.get("ROLE")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Repo, dict[str, Host]]]:
    base = tmp_path_factory.mktemp("fleet")
    repo = Repo(base)
    repo.write("agent.yaml", sleeper("agent"))
    repo.write("cache.yaml", sleeper("cache", placement="{zone: b}"))
    repo.write("mover.yaml", sleeper("mover", placement="{hostname: alpha}"))
    repo.write("hosts/gamma/agent.yaml", sleeper("agent", env="gamma"))  # replaces the shared one there
    repo.first = repo.push("agent everywhere, cache in zone b, mover on alpha")  # type: ignore[attr-defined]
    with ExitStack() as stack:
        hosts = {}
        for name, labels in LABELS.items():
            podman = stack.enter_context(PodmanService(base / name[:2]))  # short: a socket path's limit
            images.build_busybox(podman)
            env = {
                "MONOP_GIT_URL": str(repo.bare),
                "MONOP_GIT_FETCH_INTERVAL": "1h",  # the ref watch sees each push at once
                "MONOP_INSTANCE": name,
                "MONOP_HOST_NAME": name,
                "MONOP_HOST_LABELS": json.dumps(labels),
            }
            daemon = DaemonProcess(podman.url, base / "unused", base / f"state-{name}", extra_env=env)
            hosts[name] = Host(name, podman, stack.enter_context(daemon))
        for host in hosts.values():
            host.daemon.wait_ready(60)
        yield repo, hosts


def running(hosts: dict[str, Host]) -> dict[str, set[str]]:
    return {name: set(host.containers()) for name, host in hosts.items()}


def revision_info(host: Host) -> str | None:
    """The revision `monop_applied_revision_info` of this host's daemon shows."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(host.daemon.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "monop_applied_revision_info" and sample.labels.get("host") == host.name:
                return sample.labels.get("revision")
    return None


def test_each_host_runs_its_own_selection_labelled_with_its_host(fleet: tuple[Repo, dict[str, Host]]) -> None:
    repo, hosts = fleet
    want = {"alpha": {"agent", "mover"}, "beta": {"agent", "cache"}, "gamma": {"agent", "cache"}}
    wait_for(lambda: running(hosts) == want, 120, f"each host's selection {want}")
    for name, host in hosts.items():
        for labels in host.containers().values():
            assert labels["monop.dev/host"] == name
            assert labels["monop.dev/instance"] == name
            assert labels["monop.dev/revision"] == repo.first  # type: ignore[attr-defined]
    assert (hosts["beta"].env("agent"), hosts["gamma"].env("agent")) == (None, "gamma")
    wait_for(lambda: all(revision_info(h) == repo.first for h in hosts.values()), 30, "revision metrics")  # type: ignore[attr-defined]
    assert hosts["beta"].daemon.metric("monop_resources", host="beta", state="InSync") == 2


def test_a_resource_moved_by_a_commit_leaves_one_host_for_another(
    fleet: tuple[Repo, dict[str, Host]],
) -> None:
    repo, hosts = fleet
    wait_for(lambda: "mover" in running(hosts)["alpha"], 120, "mover on alpha first")
    repo.write("mover.yaml", sleeper("mover", placement="{hostname: beta}"))
    moved = repo.push("move mover to beta")
    want = {"alpha": {"agent"}, "beta": {"agent", "cache", "mover"}, "gamma": {"agent", "cache"}}
    wait_for(lambda: running(hosts) == want, 120, f"mover moved: {want}")
    wait_for(lambda: all(revision_info(h) == moved for h in hosts.values()), 30, "every host on the move")
    assert hosts["alpha"].daemon.events("container_removed", resource="BusinessService/mover")
    repo.moved = moved  # type: ignore[attr-defined]


def test_a_commit_invalid_for_one_host_is_refused_by_every_host(fleet: tuple[Repo, dict[str, Host]]) -> None:
    repo, hosts = fleet
    before = repo.git("rev-parse", "HEAD")
    wait_for(lambda: all(revision_info(h) == before for h in hosts.values()), 120, "every host on HEAD")
    seen = running(hosts)
    repo.write("agent.yaml", sleeper("agent", env="new"))  # a change every host would make...
    repo.write("hosts/gamma/extra.yaml", sleeper("extra"))  # ...in a commit that names extra twice on gamma
    repo.write("hosts/gamma/extra-again.yaml", sleeper("extra"))
    bad = repo.push("agent ROLE=new; extra on gamma (twice)")
    for host in hosts.values():
        problems = host.daemon.wait_event("desired_state_rejected", 60, revision=bad)["problems"]
        # Another host names gamma; gamma's own daemon says it of its own selection.
        said = (
            "name 'extra' is also used by"
            if host.name == "gamma"
            else "on host gamma: name 'extra' is also used by"
        )
        assert any(f"{bad[:12]}:desired/hosts/gamma/extra" in p and said in p for p in problems), problems
    assert running(hosts) == seen
    assert all(revision_info(h) == before for h in hosts.values())
    assert hosts["alpha"].env("agent") is None and hosts["gamma"].env("agent") == "gamma"

    (repo.desired / "hosts" / "gamma" / "extra-again.yaml").unlink()
    fixed = repo.push("extra once")
    wait_for(lambda: all(revision_info(h) == fixed for h in hosts.values()), 60, "every host on the fix")
    wait_for(lambda: "extra" in running(hosts)["gamma"], 60, "extra on gamma")
    wait_for(lambda: hosts["alpha"].env("agent") == "new", 60, "alpha's agent recreated")
    assert hosts["gamma"].env("agent") == "gamma"  # its own document still replaces the shared one


def test_one_prometheus_scrapes_every_hosts_revision_from_the_fleet_config(
    fleet: tuple[Repo, dict[str, Host]], tmp_path: Path
) -> None:
    repo, hosts = fleet
    head = repo.git("rev-parse", "HEAD")
    wait_for(lambda: all(revision_info(h) == head for h in hosts.values()), 120, "every host on HEAD")
    addresses = {name: h.daemon.base_url.removeprefix("http://") for name, h in hosts.items()}
    done = subprocess.run(
        [sys.executable, "-m", "monop", "render", "prometheus", "--fleet", "-o", "json"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "MONOP_GIT_URL": str(repo.bare),
            "MONOP_HOST_NAME": "alpha",
            "MONOP_HOST_LABELS": json.dumps(LABELS["alpha"]),
            "MONOP_FLEET_ADDRESSES": json.dumps(addresses),
            "MONOP_STATE_DIR": str(tmp_path / "render-state"),
        },
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    with PrometheusServer(
        tmp_path / "prometheus", config["scrape_configs"], port=PROMETHEUS_PORT
    ) as prometheus:

        def query(promql: str) -> list[dict[str, object]]:
            answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": promql}, timeout=5).json()
            result: list[dict[str, object]] = answer["data"]["result"]
            return result

        def revisions() -> dict[str, object]:
            return {
                r["metric"]["host"]: r["metric"]["revision"] for r in query("monop_applied_revision_info")
            }  # type: ignore[index]

        wait_for(
            lambda: revisions() == dict.fromkeys(hosts, head), 60, f"Prometheus to see every host on {head}"
        )
        in_sync = {r["metric"]["host"]: r["value"][1] for r in query('monop_resources{state="InSync"}')}  # type: ignore[index]
        assert in_sync == {"alpha": "1", "beta": "3", "gamma": "3"}
