"""Per-key backoff and crash-loop tracking, on a fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monop.controller.backoff import Backoff, CrashLoop
from monop.controller.clock import FakeClock


def test_backoff_doubles_from_one_second_to_five_minutes_and_resets() -> None:
    backoff = Backoff(FakeClock())
    assert [backoff.failure("a") for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff.failure("b") == 1  # keys do not share a delay
    backoff.success("a")
    assert (backoff.attempts("a"), backoff.next_at("a"), backoff.failure("a")) == (0, None, 1)


@given(st.integers(min_value=1, max_value=200))
def test_backoff_is_monotone_and_capped(failures: int) -> None:
    backoff = Backoff(FakeClock())
    delays = [backoff.failure("k") for _ in range(failures)]
    assert delays == sorted(delays) and max(delays) <= 300


def test_three_restarts_within_the_window_is_a_crash_loop_with_doubling_delays() -> None:
    clock = FakeClock()
    loop = CrashLoop(clock)
    key = "Exporter/x"
    for _ in range(2):
        loop.record_restart(key)
        assert loop.delay(key) == 0
    loop.record_restart(key)
    assert loop.in_loop(key) and loop.delay(key) == 10
    waits = []
    for _ in range(7):
        wait = loop.delay(key)
        waits.append(wait)
        clock._now += wait  # the daemon waits, then restarts
        loop.record_restart(key)
    assert waits == [10, 20, 40, 80, 160, 300, 300]


def test_restarts_spread_beyond_the_window_never_loop() -> None:
    clock = FakeClock()
    loop = CrashLoop(clock, window=300)
    for _ in range(10):
        loop.record_restart("k")
        clock._now += 200
    assert not loop.in_loop("k") and loop.delay("k") == 0


def test_staying_up_forgives_the_loop() -> None:
    clock = FakeClock()
    loop = CrashLoop(clock, stable=60)
    for _ in range(3):
        loop.record_restart("k")
    started = clock.wall()
    clock._now += 30
    loop.observed_running("k", started)
    assert loop.in_loop("k")
    clock._now += 31
    loop.observed_running("k", started)
    assert not loop.in_loop("k") and loop.restarts("k") == 0


def test_crash_loop_survives_a_daemon_restart() -> None:
    clock = FakeClock()
    loop = CrashLoop(clock)
    for _ in range(4):
        loop.record_restart("k")
    restored = CrashLoop(clock)
    restored.restore(loop.to_json())
    assert restored.delay("k") == loop.delay("k") == 20
    restored.restore({"bad": {"restarts": "x"}})
    assert not restored.in_loop("bad")
