"""Durations in Prometheus's grammar: units largest first, each once, whole numbers; and promtool agrees."""

import shutil
import subprocess
from pathlib import Path

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
        ("90m", 5400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1s500ms", 1.5),
        ("2d", 172800),
        ("1w", 604800),
        ("1y", 31536000),
        ("1y2w3d4h5m6s7ms", 31536000 + 2 * 604800 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6.007),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_parses_prometheus_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a duration (examples: 30s, 1m30s, 1h30m, 500ms, 1d)"),
        ("30", "'30' is not a duration (examples: 30s, 1m30s, 1h30m, 500ms, 1d); add a unit (30s)"),
        ("s", "'s' is not a duration"),
        ("1m-5s", "'1m-5s' is not a duration"),
        ("10 s", "'10 s' is not a duration"),
        (" 30s", "' 30s' is not a duration"),
        ("1x", "'1x' is not a duration"),
        ("1M", "'1M' is not a duration"),
        ("1h 30m", "'1h 30m' is not a duration"),
        ("30s1m", "'30s1m': units go from the largest to the smallest, each once (write 1m30s)"),
        ("1h1h", "'1h1h': units go from the largest to the smallest, each once (write 2h)"),
        ("500ms1s", "'500ms1s': units go from the largest to the smallest, each once (write 1s500ms)"),
        ("1.5s", "'1.5s': Prometheus takes whole numbers (write 1s500ms)"),
        ("0.5m", "'0.5m': Prometheus takes whole numbers (write 30s)"),
    ],
)
def test_refuses_what_prometheus_refuses_and_says_how_to_write_it(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value).startswith(message)


def test_settings_take_a_decimal_number_before_a_unit() -> None:
    assert parse_duration("0.3s", fractions=True) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="largest to the smallest"):
        parse_duration("0.3s1m", fractions=True)


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "1m30s"), (0.5, "500ms"), (0, "0s"), (3600, "1h"), (15, "15s")]
)
def test_formats_the_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == pytest.approx(ms / 1000)


# What a person may write; monop's verdict must be promtool's (Prometheus's own parser).
PROMTOOL_TABLE = [
    "30s", "1m30s", "1h30m", "90m", "500ms", "1s500ms", "1d", "1w", "1y", "2d12h", "0", "0s", "00s",
    "1y2w3d4h5m6s7ms", "30s1m", "1h1h", "500ms1s", "1d1w", "1.5s", "0.5m", "30", "1M", "1H",
    "10 s", " 30s", "30s ", "1h 30m", "-1s", "+1s", "1us", "1ns", "s", "ms", "1m-5s", "1x",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) is needed")
def test_promtool_agrees_on_every_duration_of_the_table(tmp_path: Path) -> None:
    disagree = []
    for text in PROMTOOL_TABLE:
        rules = tmp_path / "rules.yml"
        rules.write_text(f'groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: "{text}"\n')
        result = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, check=False)
        try:
            parse_duration(text)
            monop = True
        except ValueError:
            monop = False
        if monop != (result.returncode == 0):
            disagree.append((text, monop, result.stdout.decode() + result.stderr.decode()))
    assert disagree == []
