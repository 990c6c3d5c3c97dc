"""Property: carrying out a plan on a model of Podman yields a state whose plan is empty."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from monop.reconcile.plan import Plan, Unit, plan
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig
from monop.runtime.expand import spec_hash
from monop.runtime.observed import LiveContainer, ObservedState, resolve_image

NAMES = ["a", "b", "c", "d"]
IMAGES = ["localhost/x:1", "localhost/x:2", "docker.io/library/busybox:1.36"]


@st.composite
def units(draw: st.DrawFn) -> list[Unit]:
    out = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4)):
        config = ContainerConfig(
            name=name,
            image=draw(st.sampled_from(IMAGES)),
            env=tuple(
                draw(st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["1", "2"]))).items()
            ),
            pull_policy=draw(st.sampled_from(["IfNotPresent", "Always"])),
        )
        digest = spec_hash(config)
        out.append(
            Unit(
                f"Exporter/{name}",
                "Exporter",
                config,
                digest,
                ownership.labels("Exporter", config, digest, {}),
            )
        )
    return out


@st.composite
def live(draw: st.DrawFn, desired: list[Unit]) -> ObservedState:
    images = {ref: f"sha256:{i}" for i, ref in enumerate(IMAGES) if draw(st.booleans())}
    containers = []
    # `<name>_monop-new`: what a recreate interrupted at any step leaves beside (or instead of) `<name>`.
    swaps = [ownership.swap_name(n) for n in NAMES]
    for name in draw(st.lists(st.sampled_from([*NAMES, *swaps, "stranger"]), unique=True)):
        managed = draw(st.booleans()) and name != "stranger"
        # A managed container was made from some version of some unit: maybe the desired one.
        source = draw(st.sampled_from(desired)) if desired and draw(st.booleans()) else None
        if source is not None and name in swaps and draw(st.booleans()):
            # Mostly a replacement of the unit under its own swap name, as the executor makes them.
            name = ownership.swap_name(source.name)
        if any(c.name == name for c in containers):
            continue
        labels = (
            dict(source.labels)
            if source and managed
            else ({ownership.MANAGED_BY: "monop"} if managed else {})
        )
        containers.append(
            LiveContainer(
                id=f"id-{name}",
                name=name,
                state=draw(st.sampled_from(["running", "exited", "created", "paused", "dead"])),
                image_id=draw(st.sampled_from(_image_ids(source, images))),
                health=draw(st.sampled_from([None, "healthy", "unhealthy", "starting"])),
                labels=MappingProxyType(labels),
            )
        )
    return ObservedState(tuple(containers), MappingProxyType(images))


def _image_ids(source: Unit | None, images: dict[str, str]) -> list[str]:
    # A container runs the image its tag names now, or an older one the tag has moved from.
    # When the tag is not present at all, the planner cannot judge the image and a pull
    # within the same plan may move it: that is a second, honest reconcile, not modelled here.
    if source is None:
        return ["sha256:other"]
    if source.config.image in images:
        return [images[source.config.image], "sha256:old"]
    return [""]


def carry_out(result: Plan, state: ObservedState) -> ObservedState:
    """What Podman would hold after each action succeeded."""
    containers = {c.name: c for c in state.containers}
    images = dict(state.images)

    def remove(container_id: str | None) -> None:
        for name, container in list(containers.items()):
            if container.id == container_id:
                del containers[name]

    for action in result.actions:
        if action.kind is ActionKind.COMPLETE:
            remove(action.container_id)
            [pending] = [c for c in containers.values() if c.id == action.leftover]
            remove(pending.id)
            containers[action.name] = dataclasses.replace(pending, name=action.name)
            continue
        if action.leftover is not None:
            remove(action.leftover)
        if action.kind is ActionKind.REMOVE:
            remove(action.container_id)
            continue
        if action.kind in (ActionKind.CREATE, ActionKind.RECREATE):
            assert action.unit is not None
            ref = action.unit.config.image
            if action.pull or resolve_image(ref, images) is None:
                images[ref] = images.get(ref, f"sha256:pulled-{ref}")
            containers[action.name] = LiveContainer(
                id=f"new-{action.name}",
                name=action.name,
                state="running",
                image=ref,
                image_id=resolve_image(ref, images) or "",
                labels=MappingProxyType(dict(action.unit.labels)),
            )
        else:
            containers[action.name] = dataclasses.replace(
                containers[action.name], state="running", health="healthy"
            )
    return ObservedState(tuple(containers.values()), MappingProxyType(images))


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_applying_a_plan_leaves_nothing_to_do(data: st.DataObject) -> None:
    desired = data.draw(units())
    before = data.draw(live(desired))
    after = carry_out(plan(desired, before), before)
    second = plan(desired, after)
    assert second.actions == ()
    assert not any(
        c.name.endswith(ownership.SWAP_SUFFIX) for c in after.containers if ownership.is_managed(c.labels)
    )
    assert {s.state for s in second.statuses} <= {State.IN_SYNC, State.CONFLICT}
    # Only containers monop owns were touched.
    strangers = [c for c in before.containers if not ownership.is_managed(c.labels)]
    assert all(c in after.containers for c in strangers)
