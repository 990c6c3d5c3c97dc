"""Two monop instances on one Podman: each plans for, prunes and reports only its own containers."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from monop.reconcile.plan import Unit, plan
from monop.reconcile.states import State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig
from monop.runtime.expand import spec_hash
from monop.runtime.observed import LiveContainer, ObservedState

IMAGE = "localhost/monop-test/metrics:1"
IMAGE_ID = "sha256:" + "a" * 64


def make_unit(name: str = "web") -> Unit:
    config = ContainerConfig(name=name, image=IMAGE)
    digest = spec_hash(config)
    return Unit(f"BusinessService/{name}", "BusinessService", config, digest,
                ownership.labels("BusinessService", config, digest, {}))  # fmt: skip


def running(unit: Unit) -> LiveContainer:
    return LiveContainer(f"id-{unit.name}", unit.name, "running", IMAGE, IMAGE_ID, labels=unit.labels)


def observed(*containers: LiveContainer) -> ObservedState:
    return ObservedState(containers, MappingProxyType({IMAGE: IMAGE_ID}))


def of_instance(container: LiveContainer, instance: str | None) -> LiveContainer:
    """`container` labelled as made by `instance`; None: made before instances existed (no label)."""
    labels = {k: v for k, v in container.labels.items() if k != ownership.INSTANCE}
    if instance is not None:
        labels[ownership.INSTANCE] = instance
    return LiveContainer(container.id, container.name, container.state, container.image, container.image_id,
                         labels=MappingProxyType(labels))  # fmt: skip


def test_a_unit_carries_its_instance() -> None:
    assert make_unit().labels[ownership.INSTANCE] == "default"


def test_another_instances_container_is_never_pruned_nor_reported() -> None:
    theirs = of_instance(running(make_unit("theirs")), "b")
    result = plan([], observed(theirs), instance="a")
    assert (result.statuses, result.actions) == ((), ())


def test_own_containers_no_longer_desired_are_pruned() -> None:
    mine = of_instance(running(make_unit("mine")), "a")
    result = plan([], observed(mine), instance="a")
    assert [s.state for s in result.statuses] == [State.ORPHAN]
    assert str(result) == "[1] remove BusinessService/mine: no longer desired"


def test_another_instance_holding_a_desired_name_is_a_conflict_left_alone() -> None:
    web = make_unit()
    theirs = of_instance(running(web), "b")
    result = plan([web], observed(theirs), instance="a")
    assert [s.state for s in result.statuses] == [State.CONFLICT]
    assert "belongs to monop instance 'b'" in str(result.statuses[0].reasons[0])
    assert result.actions == ()


@pytest.mark.parametrize(("instance", "adopted"), [("default", True), ("a", False)])
def test_containers_made_before_instances_belong_to_default(instance: str, adopted: bool) -> None:
    web, old = make_unit(), make_unit("old")
    legacy = [of_instance(running(web), None), of_instance(running(old), None)]
    result = plan([web], observed(*legacy), instance=instance)
    states = {s.name: s.state for s in result.statuses}
    if adopted:
        # Adopted as they are: in sync (no recreate for a label), and pruned when not desired.
        assert states == {"web": State.IN_SYNC, "old": State.ORPHAN}
        assert str(result) == "[1] remove BusinessService/old: no longer desired"
    else:
        assert states == {"web": State.CONFLICT}
        assert result.actions == ()


def test_another_instances_interrupted_swap_is_left_alone() -> None:
    """Instance b's replacement under the swap name of a resource a also desires is b's to finish."""
    unit = make_unit("web")
    old = of_instance(running(unit), "b")
    leftover = LiveContainer("id-new", ownership.swap_name("web"), "running", IMAGE, IMAGE_ID,
                             labels=of_instance(running(unit), "b").labels)  # fmt: skip
    result = plan([unit], observed(old, leftover), instance="a")
    assert [s.state for s in result.statuses] == [State.CONFLICT]
    assert result.actions == ()
