"""The planner's third input: crash loops, restarts asked for, suspended and stalled resources.

Every decision is in the plan, so `monop plan` shows what the daemon will do: a held-back action
is listed as deferred, and the executor skips it.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.reconcile.test_plan import make_unit, observed, running

from monop.reconcile.diff import Reason
from monop.reconcile.holds import CrashLoopHold, Deferred, Holds, Stall
from monop.reconcile.plan import RESTARTS, plan
from monop.reconcile.states import ActionKind, State
from monop.runtime import ownership
from monop.runtime.observed import LiveContainer

NOW = 1_700_000_000.0
WEB = make_unit()
EXITED = dataclasses.replace(running(WEB), state="exited", exit_code=1)
RUNNING = running(WEB)
DRIFTED = dataclasses.replace(
    running(WEB), labels=MappingProxyType({**WEB.labels, ownership.SPEC_HASH: "other"})
)
ORPHAN = dataclasses.replace(
    running(make_unit("old")),
    labels=MappingProxyType(dict(make_unit("old").labels)),
)


def loop(wait: float, restarts: int = 3) -> dict[str, CrashLoopHold]:
    return {WEB.key: CrashLoopHold(NOW + wait, restarts)}


TARGET_DOWN = Reason("target 127.0.0.1:8080 down for 3m: connection refused")


@pytest.mark.parametrize(
    ("container", "holds", "state", "shown"),
    [
        # A crash loop defers a start until its time, and the state says why it stays down.
        (
            EXITED,
            Holds(NOW, crash_loops=loop(7)),
            State.CRASH_LOOP,
            "[1] start BusinessService/web deferred: CrashLoopBackOff, next in 7s",
        ),
        (
            EXITED,
            Holds(NOW, crash_loops=loop(6.2)),
            State.CRASH_LOOP,
            "[1] start BusinessService/web deferred: CrashLoopBackOff, next in 7s",
        ),
        (
            EXITED,
            Holds(NOW, crash_loops=loop(150)),
            State.CRASH_LOOP,
            "[1] start BusinessService/web deferred: CrashLoopBackOff, next in 2m30s",
        ),
        # Its time has come: the start goes now, still shown as in the loop.
        (
            EXITED,
            Holds(NOW, crash_loops=loop(0)),
            State.CRASH_LOOP,
            "[1] start BusinessService/web: state: exited (code 1) -> running",
        ),
        # A crash loop spaces out starts, not a recreate for a changed spec.
        (
            DRIFTED,
            Holds(NOW, crash_loops=loop(7)),
            State.DRIFTED,
            "[1] recreate BusinessService/web: spec hash: other -> " + WEB.spec_hash,
        ),
        # A restart asked for from outside the container list (its target is down).
        (
            RUNNING,
            Holds(NOW, restarts={WEB.key: TARGET_DOWN}),
            State.IN_SYNC,
            "[1] restart BusinessService/web: target 127.0.0.1:8080 down for 3m: connection refused",
        ),
        (
            RUNNING,
            Holds(NOW, restarts={WEB.key: TARGET_DOWN}, crash_loops=loop(20)),
            State.IN_SYNC,
            "[1] restart BusinessService/web deferred: CrashLoopBackOff, next in 20s",
        ),
        # ... but only of a running container in sync: a stopped one is started anyway.
        (
            EXITED,
            Holds(NOW, restarts={WEB.key: TARGET_DOWN}),
            State.STOPPED,
            "[1] start BusinessService/web: state: exited (code 1) -> running",
        ),
        # Suspended: no action, the state as observed.
        (
            EXITED,
            Holds(NOW, suspended=frozenset({WEB.key})),
            State.STOPPED,
            "[1] start BusinessService/web deferred: Suspended",
        ),
        (RUNNING, Holds(NOW, suspended=frozenset({WEB.key})), State.IN_SYNC, "nothing to do"),
        # Stalled at this spec: waits for a person; a changed spec is tried again.
        (
            None,
            Holds(NOW, stalled={WEB.key: Stall(WEB.spec_hash, "pull x: invalid reference format")}),
            State.STALLED,
            "[1] create BusinessService/web deferred: Stalled, pull x: invalid reference format",
        ),
        (
            None,
            Holds(NOW, stalled={WEB.key: Stall("an older spec", "pull x: invalid reference format")}),
            State.MISSING,
            "[1] create BusinessService/web: no container",
        ),
    ],
)
def test_holds_decide_with_the_plan(
    container: LiveContainer | None, holds: Holds, state: State, shown: str
) -> None:
    result = plan([WEB], observed(*([container] if container else [])), holds=holds)
    assert [s.state for s in result.statuses] == [state]
    assert str(result) == shown


def test_a_deferred_action_is_in_the_plan_but_not_runnable() -> None:
    result = plan([WEB], observed(EXITED), holds=Holds(NOW, crash_loops=loop(7)))
    [action] = result.actions
    assert action.kind is ActionKind.START
    assert action.deferred is not None and action.deferred.reason is Deferred.CRASH_LOOP
    assert action.deferred.until == NOW + 7
    assert result.runnable == ()
    [status] = result.statuses
    assert status.hold == action.deferred


def test_a_suspended_orphan_is_not_removed_and_keeps_its_target() -> None:
    result = plan([], observed(ORPHAN), holds=Holds(NOW, suspended=frozenset({"BusinessService/old"})))
    assert str(result) == "[1] remove BusinessService/old deferred: Suspended"
    assert result.kept_orphans == {"BusinessService/old"}
    [status] = result.statuses
    assert status.state is State.ORPHAN and status.hold is not None


def test_without_holds_the_plan_is_as_before() -> None:
    assert plan([WEB], observed(EXITED), holds=Holds(NOW)) == plan([WEB], observed(EXITED))


UNITS = [make_unit(name) for name in ("a", "b", "c", "d")]
SHAPES = {
    "missing": lambda u: None,
    "running": running,
    "exited": lambda u: dataclasses.replace(running(u), state="exited", exit_code=1),
    "drifted": lambda u: dataclasses.replace(
        running(u), labels=MappingProxyType({**u.labels, ownership.SPEC_HASH: "other"})
    ),
}
keys = st.sampled_from([u.key for u in UNITS])


@given(
    shapes=st.lists(st.sampled_from(sorted(SHAPES)), min_size=4, max_size=4),
    loops=st.dictionaries(keys, st.floats(-600, 600)),
    restarts=st.sets(keys),
    suspended=st.sets(keys),
    stalled=st.sets(keys),
)
def test_holds_only_add_restarts_and_defer(
    shapes: list[str], loops: dict[str, float], restarts: set[str], suspended: set[str], stalled: set[str]
) -> None:
    containers = [c for u, shape in zip(UNITS, shapes, strict=True) if (c := SHAPES[shape](u)) is not None]
    holds = Holds(
        NOW,
        crash_loops={k: CrashLoopHold(NOW + wait, 3) for k, wait in loops.items()},
        restarts=dict.fromkeys(restarts, TARGET_DOWN),
        suspended=frozenset(suspended),
        stalled={k: Stall(next(u.spec_hash for u in UNITS if u.key == k), "boom") for k in stalled},
    )
    bare = plan(UNITS, observed(*containers))
    held = plan(UNITS, observed(*containers), holds=holds)
    assert [s.key for s in held.statuses] == [s.key for s in bare.statuses]
    planned = {a.key: a.kind for a in held.actions}
    # Every action the bare plan makes is still planned, as the same kind (perhaps deferred) ...
    assert {a.key: a.kind for a in bare.actions}.items() <= planned.items()
    # ... and the only one added is a restart asked for, of a container in sync.
    for key in planned.keys() - {a.key for a in bare.actions}:
        assert planned[key] is ActionKind.RESTART and key in restarts
    for action in held.runnable:
        assert action.key not in suspended and action.key not in stalled
        loop = holds.crash_loops.get(action.key)
        assert loop is None or action.kind not in RESTARTS or loop.until <= NOW
    assert str(held) == str(plan(UNITS, observed(*containers), holds=holds))  # deterministic
