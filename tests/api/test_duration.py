"""Durations as Prometheus and Go write them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monop.api.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1m0s", 60),
        ("1m30s", 90),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("2d", 172800),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_parses_prometheus_and_go_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "s", "1m-5s", "10 s", "1x", "m1", "1h 30m"])
def test_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "1m30s"), (0.5, "500ms"), (0, "0s"), (3600, "1h"), (15, "15s")]
)
def test_formats_the_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == pytest.approx(ms / 1000)
