"""The planner after a recreate was interrupted at each step: what `<name>_monop-new` beside
(or instead of) `<name>` leads to. Pure: the containers are built by hand."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from tests.reconcile.test_plan import make_unit, observed, running

from monop.reconcile.plan import Unit, plan
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.observed import LiveContainer

OLD = make_unit(env=(("V", "1"),))
NEW = make_unit(env=(("V", "2"),))
TEMP = "web_monop-new"


def pending(state: str = "running", unit: Unit = NEW, **fields: object) -> LiveContainer:
    """The replacement the executor makes: the unit's labels, under the swap name."""
    return running(unit, id="id-new", name=TEMP, state=state, **fields)


@pytest.mark.parametrize(
    ("step", "containers", "expected", "leftover"),
    [
        (
            "created, old still running",
            [running(OLD), pending("created")],
            f'[1] recreate BusinessService/web: env V: "1" -> "2"; left over from an interrupted recreate: {TEMP}',
            "id-new",
        ),
        (
            "created, old stopped",
            [running(OLD, state="exited", exit_code=137), pending("created")],
            f'[1] recreate BusinessService/web: env V: "1" -> "2"; left over from an interrupted recreate: {TEMP}',
            "id-new",
        ),
        (
            "started, old stopped",
            [running(OLD, state="exited", exit_code=137), pending()],
            f"[1] complete BusinessService/web: an interrupted recreate left its replacement running as {TEMP}",
            "id-new",
        ),
        (
            "started, old removed",
            [pending()],
            f"[1] complete BusinessService/web: an interrupted recreate left its replacement running as {TEMP}",
            "id-new",
        ),
        (
            "failed start, replacement exited, old removed",
            [pending("exited", exit_code=1)],
            f"[1] create BusinessService/web: no container; left over from an interrupted recreate: {TEMP}",
            "id-new",
        ),
        (
            "the desired state went back to the old spec",
            [running(NEW, id="id-web"), pending(unit=OLD)],
            f"[1] remove BusinessService/web: left over from an interrupted recreate: {TEMP}",
            None,
        ),
    ],
)
def test_an_interrupted_swap_is_finished_or_undone(
    step: str, containers: list[LiveContainer], expected: str, leftover: str | None
) -> None:
    result = plan([NEW], observed(*containers))
    assert str(result) == expected, step
    [action] = result.actions
    assert action.leftover == leftover
    if action.kind is ActionKind.REMOVE:
        assert action.container_id == "id-new"
    assert [s.key for s in result.statuses] == ["BusinessService/web"]  # no orphan row for it


def test_a_replacement_still_running_the_old_one_is_not_completed() -> None:
    # The old container runs: completing would stop nothing but would leave two; recreate instead.
    result = plan([NEW], observed(running(OLD), pending()))
    assert [a.kind for a in result.actions] == [ActionKind.RECREATE]


def test_a_stranger_under_the_swap_name_is_never_touched() -> None:
    stranger = dataclasses.replace(pending(), labels=MappingProxyType({}))
    result = plan([NEW], observed(running(NEW), stranger))
    assert result.actions == () and [s.state for s in result.statuses] == [State.IN_SYNC]


def test_the_replacement_of_a_resource_no_longer_desired_is_an_orphan() -> None:
    other = make_unit("other")
    result = plan([other], observed(running(other), pending()))
    assert str(result) == "[1] remove BusinessService/web: no longer desired"
    assert result.actions[0].name == TEMP and ownership.swapping_for(TEMP, NEW.labels) == "web"
