"""A fleet's daemons on one Podman: each plans for, prunes and reports only its own host's containers.

A container labelled `monop.dev/host` for another host is that host's daemon's, whatever its
instance; one with no host label (made before hosts were labelled) stays this host's.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from monop.desired.fleet import Host
from monop.desired.loader import load
from monop.reconcile.plan import Unit, fleet_host, plan
from monop.reconcile.states import State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig
from monop.runtime.expand import spec_hash
from monop.runtime.observed import LiveContainer, ObservedState
from monop_testbed.desired import service_yaml

IMAGE = "localhost/monop-test/metrics:1"
IMAGE_ID = "sha256:" + "a" * 64


def make_unit(name: str, host: str | None) -> Unit:
    config = ContainerConfig(name=name, image=IMAGE)
    digest = spec_hash(config)
    labels = ownership.labels("BusinessService", config, digest, {}, host=host)
    return Unit(f"BusinessService/{name}", "BusinessService", config, digest, labels)


def running(unit: Unit) -> LiveContainer:
    return LiveContainer(f"id-{unit.name}", unit.name, "running", IMAGE, IMAGE_ID, labels=unit.labels)


def observed(*containers: LiveContainer) -> ObservedState:
    return ObservedState(containers, MappingProxyType({IMAGE: IMAGE_ID}))


def test_another_hosts_container_is_never_pruned_nor_reported() -> None:
    theirs = running(make_unit("b", "beta"))
    result = plan([make_unit("a", "alpha")], observed(theirs), host="alpha")
    assert [a.kind.value for a in result.actions] == ["create"]
    assert [s.key for s in result.statuses] == ["BusinessService/a"]


def test_another_hosts_container_holding_a_desired_name_is_a_conflict_left_alone() -> None:
    theirs = running(make_unit("web", "beta"))
    result = plan([make_unit("web", "alpha")], observed(theirs), host="alpha")
    assert [s.state for s in result.statuses] == [State.CONFLICT]
    assert "belongs to host 'beta'" in str(result.statuses[0].reasons[0])
    assert result.actions == ()


def test_a_container_with_no_host_label_stays_this_hosts() -> None:
    old = running(make_unit("old", None))
    result = plan([], observed(old), host="alpha")
    assert str(result) == "[1] remove BusinessService/old: no longer desired"
    kept = plan([make_unit("old", "alpha")], observed(old), host="alpha")
    assert [s.state for s in kept.statuses] == [State.IN_SYNC]


def test_own_hosts_containers_no_longer_desired_are_pruned() -> None:
    mine = running(make_unit("mine", "alpha"))
    assert str(plan([], observed(mine), host="alpha")) == "[1] remove BusinessService/mine: no longer desired"


def test_ownership_names_the_host() -> None:
    labels = make_unit("b", "beta").labels
    assert ownership.is_owned(labels, ownership.DEFAULT_INSTANCE, "beta")
    assert not ownership.is_owned(labels, ownership.DEFAULT_INSTANCE, "alpha")
    assert (
        ownership.swapping_for(ownership.swap_name("b"), labels, ownership.DEFAULT_INSTANCE, "alpha") is None
    )
    unlabelled = make_unit("old", None).labels
    assert ownership.is_owned(unlabelled, ownership.DEFAULT_INSTANCE, "alpha")


def test_only_a_fleets_tree_keeps_to_its_host(tmp_path: Path) -> None:
    # One host's tree owns its instance's containers whatever host they name: a machine whose
    # hostname changed keeps what runs. A fleet's tree (here a hosts/ folder) keeps to its host.
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20622))
    assert fleet_host(load(tmp_path, host=Host("alpha"))) is None
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    (tmp_path / "hosts" / "beta" / "x.yaml").write_text(service_yaml("x", 20623))
    assert fleet_host(load(tmp_path, host=Host("alpha"))) == "alpha"
