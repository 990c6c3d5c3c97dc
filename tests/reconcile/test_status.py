"""Sync, health and conditions computed from what the planner and the daemon know."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monop.reconcile.states import State
from monop.reconcile.status import (
    READY,
    RECONCILING,
    STALLED,
    Condition,
    HealthStatus,
    Observation,
    Sync,
    evaluate,
    transitions,
)

T0, T1 = 1_000.0, 1_060.0


@pytest.mark.parametrize(
    ("seen", "sync", "health", "ready"),
    [
        (Observation(State.IN_SYNC, running=True), Sync.SYNCED, HealthStatus.HEALTHY, ("True", "InSync")),
        (
            Observation(State.IN_SYNC, running=True, starting=True),
            Sync.SYNCED,
            HealthStatus.PROGRESSING,
            ("Unknown", "Progressing"),
        ),
        (
            Observation(State.IN_SYNC, running=True, target_down="target down for 3m"),
            Sync.SYNCED,
            HealthStatus.DEGRADED,
            ("False", "TargetDown"),
        ),
        (
            Observation(State.MISSING, "no container"),
            Sync.OUT_OF_SYNC,
            HealthStatus.MISSING,
            ("False", "Missing"),
        ),
        (Observation(State.STOPPED), Sync.OUT_OF_SYNC, HealthStatus.DEGRADED, ("False", "Stopped")),
        (
            Observation(State.DRIFTED, "image: a -> b", running=True),
            Sync.OUT_OF_SYNC,
            HealthStatus.HEALTHY,
            ("False", "Drifted"),
        ),
        (
            Observation(State.DRIFTED, "image: a -> b", running=True, reconciling="retrying: port taken"),
            Sync.OUT_OF_SYNC,
            HealthStatus.HEALTHY,
            ("False", "Drifted"),
        ),
        (
            # As the daemon sees a crash loop: the planner's state, and the wait as Reconciling.
            Observation(State.CRASH_LOOP, "exited (code 1)", reconciling="CrashLoopBackOff, next in 20s"),
            Sync.SYNCED,
            HealthStatus.DEGRADED,
            ("False", "CrashLoopBackOff"),
        ),
        (
            Observation(State.MISSING, "no container", reconciling="retrying: create failed"),
            Sync.OUT_OF_SYNC,
            HealthStatus.MISSING,
            ("False", "Missing"),
        ),
        (
            Observation(State.UNHEALTHY, running=True),
            Sync.SYNCED,
            HealthStatus.DEGRADED,
            ("False", "Unhealthy"),
        ),
        (Observation(State.CRASH_LOOP), Sync.SYNCED, HealthStatus.DEGRADED, ("False", "CrashLoopBackOff")),
        (
            Observation(State.ORPHAN, running=True),
            Sync.OUT_OF_SYNC,
            HealthStatus.HEALTHY,
            ("False", "Drifted"),
        ),
        (Observation(State.CONFLICT), Sync.UNKNOWN, HealthStatus.UNKNOWN, ("False", "Conflict")),
        (
            Observation(State.FAILED, stalled="image never pulls", stalled_reason="ImagePullFailed"),
            Sync.OUT_OF_SYNC,
            HealthStatus.DEGRADED,
            ("False", "ImagePullFailed"),
        ),
        (
            Observation(State.DRIFTED, running=True, suspended=True),
            Sync.OUT_OF_SYNC,
            HealthStatus.SUSPENDED,
            ("False", "Suspended"),
        ),
    ],
)
def test_axes_and_ready(seen: Observation, sync: Sync, health: HealthStatus, ready: tuple[str, str]) -> None:
    status = evaluate(seen, (), T0)
    assert (status.sync, status.health) == (sync, health)
    assert (status.ready.status, status.ready.reason) == ready
    assert status.ready.last_transition == T0


def test_reconciling_and_stalled_appear_only_while_true() -> None:
    working = evaluate(Observation(State.MISSING, reconciling="creating"), (), T0)
    assert [c.type for c in working.conditions] == [READY, RECONCILING]
    stuck = evaluate(
        Observation(State.FAILED, stalled="manifest unknown", stalled_reason="ImagePullFailed"),
        working.conditions,
        T1,
    )
    assert [c.type for c in stuck.conditions] == [READY, STALLED]
    assert stuck.conditions[1].reason == "ImagePullFailed"
    done = evaluate(Observation(State.IN_SYNC, running=True), stuck.conditions, T1)
    assert [c.type for c in done.conditions] == [READY]


def test_transition_time_changes_only_with_the_status() -> None:
    drifted = evaluate(Observation(State.DRIFTED, "image", running=True), (), T0)
    stopped = evaluate(Observation(State.STOPPED, "exited"), drifted.conditions, T1)
    assert stopped.ready.reason == "Stopped"
    assert stopped.ready.last_transition == T0  # False before, False now
    synced = evaluate(Observation(State.IN_SYNC, running=True), stopped.conditions, T1 + 5)
    assert synced.ready.last_transition == T1 + 5


def test_condition_json_round_trips_in_rfc3339() -> None:
    condition = Condition(READY, "False", "Drifted", "image: a -> b", 1_764_542_467.0)
    data = condition.to_json()
    assert data["lastTransitionTime"] == "2025-11-30T22:41:07Z"
    assert Condition.from_json(data) == condition
    assert Condition.from_json({**data, "status": "maybe"}) is None
    assert Condition.from_json({**data, "lastTransitionTime": 12}) is None


def test_events_are_the_changes_of_ready() -> None:
    first = evaluate(Observation(State.IN_SYNC, running=True), (), T0)
    assert transitions((), first) == []  # first seen in sync: no news
    drifted = evaluate(Observation(State.DRIFTED, "image: a -> b", running=True), first.conditions, T1)
    [warning] = transitions(first.conditions, drifted)
    assert (warning.type, warning.reason, warning.message) == ("Warning", "Drifted", "image: a -> b")
    assert transitions(drifted.conditions, drifted) == []  # nothing changed, nothing said
    fixing = evaluate(
        Observation(State.DRIFTED, reconciling="recreating", running=True), drifted.conditions, T1
    )
    assert transitions(drifted.conditions, fixing) == []
    fixed = evaluate(Observation(State.IN_SYNC, running=True), fixing.conditions, T1)
    [normal] = transitions(fixing.conditions, fixed)
    assert (normal.type, normal.reason) == ("Normal", "InSync")


states = st.builds(
    Observation,
    state=st.sampled_from(list(State)),
    message=st.text(max_size=20),
    running=st.booleans(),
    reconciling=st.none() | st.text(min_size=1, max_size=10),
    stalled=st.none() | st.text(min_size=1, max_size=10),
    suspended=st.booleans(),
    target_down=st.none() | st.text(min_size=1, max_size=10),
    starting=st.booleans(),
)


@given(states, states)
def test_every_status_is_well_formed(before: Observation, now: Observation) -> None:
    old = evaluate(before, (), T0)
    new = evaluate(now, old.conditions, T1)
    assert new.conditions[0].type == READY
    assert len({c.type for c in new.conditions}) == len(new.conditions)
    assert all(c.reason and c.reason[0].isupper() and " " not in c.reason for c in new.conditions)
    assert (new.ready.status == "True") == (
        now.state is State.IN_SYNC and not (now.suspended or now.stalled or now.target_down or now.starting)
    )
    for condition in new.conditions:
        assert condition.last_transition in (T0, T1)
