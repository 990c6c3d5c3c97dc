"""The planner, table by table: every state a resource can be in, and the action that fixes it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import pytest

from monop.reconcile.plan import Unit, plan
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig, PortMapping
from monop.runtime.expand import spec_hash
from monop.runtime.observed import LiveContainer, ObservedState

IMAGE = "localhost/monop-test/metrics:1"
IMAGE_ID = "sha256:" + "a" * 64


def make_unit(name: str = "web", kind: str = "BusinessService", **fields: object) -> Unit:
    fields.setdefault("image", IMAGE)
    config = ContainerConfig(name=name, **fields)  # type: ignore[arg-type]
    digest = spec_hash(config)
    return Unit(f"{kind}/{name}", kind, config, digest, ownership.labels(kind, config, digest, {}))


def running(unit: Unit, **fields: object) -> LiveContainer:
    """The container monop would have created for `unit`, running."""
    base = LiveContainer(
        id=f"id-{unit.name}",
        name=unit.name,
        state="running",
        image=unit.config.image,
        image_id=IMAGE_ID,
        labels=MappingProxyType(dict(unit.labels)),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def observed(*containers: LiveContainer, images: Mapping[str, str] | None = None) -> ObservedState:
    return ObservedState(containers, MappingProxyType(images if images is not None else {IMAGE: IMAGE_ID}))


def test_in_sync_needs_nothing() -> None:
    web = make_unit()
    result = plan([web], observed(running(web)))
    assert [s.state for s in result.statuses] == [State.IN_SYNC]
    assert str(result) == "nothing to do"


def test_missing_is_created() -> None:
    result = plan([make_unit()], observed())
    assert [s.state for s in result.statuses] == [State.MISSING]
    assert str(result) == "[1] create BusinessService/web: no container"


def test_missing_image_is_pulled_before_create_unless_never() -> None:
    assert str(plan([make_unit()], observed(images={}))) == (
        "[1] create BusinessService/web (pull image first): no container"
    )
    never = make_unit(pull_policy="Never")
    assert not plan([never], observed(images={})).actions[0].pull
    always = make_unit(pull_policy="Always")
    assert plan([always], observed()).actions[0].pull


@pytest.mark.parametrize(
    ("state", "exit_code", "action", "reason"),
    [
        ("exited", 137, ActionKind.START, "state: exited (code 137) -> running"),
        ("created", None, ActionKind.START, "state: created -> running"),
        ("stopped", None, ActionKind.START, "state: stopped -> running"),
        ("paused", None, ActionKind.UNPAUSE, "state: paused -> running"),
        ("dead", None, ActionKind.RECREATE, "state: dead -> running"),
    ],
)
def test_stopped_containers_are_started(
    state: str, exit_code: int | None, action: ActionKind, reason: str
) -> None:
    web = make_unit()
    result = plan([web], observed(running(web, state=state, exit_code=exit_code)))
    assert [s.state for s in result.statuses] == [State.STOPPED]
    assert [(a.kind, [str(r) for r in a.reasons]) for a in result.actions] == [(action, [reason])]


def test_unhealthy_is_restarted() -> None:
    web = make_unit()
    result = plan([web], observed(running(web, health="unhealthy")))
    assert [s.state for s in result.statuses] == [State.UNHEALTHY]
    assert str(result) == "[1] restart BusinessService/web: health: unhealthy -> healthy"


def test_starting_health_is_not_drift() -> None:
    web = make_unit()
    assert plan([web], observed(running(web, health="starting"))).actions == ()


@pytest.mark.parametrize(
    ("old", "new", "reasons"),
    [
        (
            {"env": (("METRICS_PORT", "9999"),)},
            {"env": (("METRICS_PORT", "9998"),)},
            ['env METRICS_PORT: "9999" -> "9998"'],
        ),
        (
            {"env": (("API_TOKEN", "a"),)},
            {"env": (("API_TOKEN", "b"),)},
            ["env API_TOKEN: <secret changed>"],
        ),
        (
            {},
            {"image": "localhost/monop-test/metrics:2"},
            ['image: "localhost/monop-test/metrics:1" -> "localhost/monop-test/metrics:2"'],
        ),
        ({}, {"args": ("--port=8083",)}, ['args: (unset) -> ["--port=8083"]']),
        ({}, {"command": ("/bin/sh",)}, ['command: (unset) -> ["/bin/sh"]']),
        ({}, {"ports": (PortMapping(9999, 9999),)}, ["ports: [] -> [9999:9999/tcp]"]),
        ({}, {"network": "host"}, ['network: "bridge" -> "host"']),
        ({}, {"privileged": True}, ["privileged: false -> true"]),
        ({}, {"cap_add": ("CAP_NET_ADMIN",)}, ['capabilities.add: [] -> ["CAP_NET_ADMIN"]']),
        ({}, {"user": "65534"}, ['user: (unset) -> "65534"']),
        ({}, {"restart_policy": "always"}, ['restartPolicy: "no" -> "always"']),
        ({}, {"labels": (("team", "a"),)}, ['labels team: (unset) -> "a"']),
        ({}, {"memory_bytes": 1024}, ["limits.memory: (unset) -> 1024"]),
        ({}, {"cpus": 0.5}, ["limits.cpus: (unset) -> 0.5"]),
    ],
)
def test_spec_drift_names_each_field(
    old: dict[str, object], new: dict[str, object], reasons: list[str]
) -> None:
    before, after = make_unit(**old), make_unit(**new)
    result = plan([after], observed(running(before)))
    assert [s.state for s in result.statuses] == [State.DRIFTED]
    [action] = result.actions
    assert action.kind is ActionKind.RECREATE
    assert [str(r) for r in action.reasons] == reasons


def test_pull_policy_alone_is_not_drift() -> None:
    before, after = make_unit(), make_unit(pull_policy="Always")
    assert plan([after], observed(running(before))).statuses[0].state is State.IN_SYNC


def test_a_tag_that_moved_to_another_image_is_drift() -> None:
    web = make_unit()
    moved = "sha256:" + "b" * 64
    result = plan([web], observed(running(web), images={IMAGE: moved}))
    assert str(result) == f"[1] recreate BusinessService/web: image ID of {IMAGE}: {'a' * 12} -> {'b' * 12}"


def test_changed_mounted_file_content_is_drift() -> None:
    config = ContainerConfig(name="prom", image=IMAGE)

    def with_file(digest: str) -> Unit:
        spec = spec_hash(config, [digest])
        labels = ownership.labels("Exporter", config, spec, {"/d/prometheus.yml": digest * 8})
        return Unit("Exporter/prom", "Exporter", config, spec, labels)

    result = plan([with_file("d2")], observed(running(with_file("d1"))))
    assert (
        str(result)
        == "[1] recreate Exporter/prom: file /d/prometheus.yml: content d1d1d1d1 -> content d2d2d2d2"
    )


def test_a_container_monop_does_not_own_is_a_conflict_and_left_alone() -> None:
    web = make_unit()
    stranger = LiveContainer(id="x", name="web", state="exited", image="other:1")
    result = plan([web], observed(stranger))
    assert [s.state for s in result.statuses] == [State.CONFLICT]
    assert result.actions == ()


def test_orphans_are_removed_unless_pruning_is_off_and_strangers_are_never() -> None:
    gone = make_unit("gone", "Exporter")
    stranger = LiveContainer(id="s", name="someone-elses", state="running")
    result = plan([], observed(running(gone), stranger))
    assert [(s.key, s.state) for s in result.statuses] == [("Exporter/gone", State.ORPHAN)]
    assert str(result) == "[1] remove Exporter/gone: no longer desired"
    assert plan([], observed(running(gone)), prune=False).actions == ()


def test_actions_are_ordered_removals_first_then_by_kind_and_key() -> None:
    a, b, c = make_unit("a"), make_unit("b"), make_unit("c", env=(("X", "1"),))
    orphan = make_unit("z", "Exporter")
    live = observed(running(orphan), running(make_unit("c")), running(b, state="exited", exit_code=0))
    assert str(plan([c, b, a], live)) == "\n".join(
        [
            "[1] remove Exporter/z: no longer desired",
            '[2] recreate BusinessService/c: env X: (unset) -> "1"',
            "[3] create BusinessService/a: no container",
            "[4] start BusinessService/b: state: exited (code 0) -> running",
        ]
    )


def test_a_label_without_a_readable_record_still_shows_the_hash_change() -> None:
    web = make_unit()
    labels = {**web.labels, ownership.SPEC_HASH: "0" * 16, ownership.SPEC: "not json"}
    result = plan([web], observed(running(web, labels=MappingProxyType(labels))))
    assert str(result) == f"[1] recreate BusinessService/web: spec hash: {'0' * 16} -> {web.spec_hash}"
