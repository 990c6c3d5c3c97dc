"""The selectors of a rule's PromQL that the dead-selector check asks for, found by promql-parser."""

from __future__ import annotations

import pytest

from monop.desired.selectors import Matcher, Op, Selector, selectors


@pytest.mark.parametrize(
    ("expr", "wanted"),
    [
        ("nvidia_gpu_temperature_celsius > 80", ["nvidia_gpu_temperature_celsius"]),
        ("(a_bytes / b_bytes) * 100 > 90", ["a_bytes", "b_bytes"]),
        (
            '100 - avg by(instance) (irate(node_cpu_seconds_total{mode="idle"}[5m]))',
            ['node_cpu_seconds_total{mode="idle"}'],
        ),
        ("max_over_time(foo[5m:1m]) + foo", ["foo"]),  # each selector once
        ('topk(3, count_values("v", z))', ["z"]),
        ('x{a="1" or b="2"}', ['x{a="1"}', 'x{b="2"}']),
        ('{__name__="q", a="b\\"c"}', ['q{a="b\\"c"}']),
        ('{__name__=~"node_.*", job="n"}', ['{__name__=~"node_.*",job="n"}']),
        # Written to match nothing: never asked for.
        ("sum(rate(errors_total[5m])) or vector(0)", []),
        ("(sum(rate(errors_total[5m])) or vector(0)) > 5", []),
        ("errors_total or vector(0) > 5", []),
        ("vector(1) or errors_total", []),
        ('absent(up{job="a"})', []),
        ("absent_over_time(up[5m])", []),
        ("a unless on(instance) b", ["a"]),
        ("a unless (b)", ["a"]),
        ("a unless b > 5", ["a", "b"]),  # b's value is compared: b must exist (pint does the same)
        # An `or` of two selectors: both must mean something.
        ("a or b", ["a", "b"]),
    ],
)
def test_selectors_asked_for(expr: str, wanted: list[str]) -> None:
    assert [str(s) for s in selectors(expr)] == wanted


def test_matchers_are_read_with_their_operators() -> None:
    [selector] = selectors('m{a="1", b!="2", c=~"3.*", d!~"4"}')
    assert selector == Selector(
        "m",
        (
            Matcher("a", Op.EQUAL, "1"),
            Matcher("b", Op.NOT_EQUAL, "2"),
            Matcher("c", Op.RE, "3.*"),
            Matcher("d", Op.NOT_RE, "4"),
        ),
    )
    assert selector.label("a") == "1" and selector.label("c") is None


def test_not_promql_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="braces"):
        selectors("foo{")


@pytest.mark.parametrize(
    ("expr", "window"),
    [
        ("gone_metric > 0", 0.0),
        ("increase(gone_metric[1h]) > 0", 3600.0),
        ('changes(gone_metric{a="1"}[30m]) > 0', 1800.0),
        ("gone_metric offset 10m", 600.0),
        ("rate(gone_metric[5m] offset 10m)", 900.0),
        ("max_over_time(rate(gone_metric[5m])[1h:1m] offset 2m)", 300.0 + 3600.0 + 120.0),
        ("gone_metric offset -5m", 0.0),  # reads ahead: nothing older is needed
        ("gone_metric + rate(gone_metric[2h])", 7200.0),  # the longest of the two
        ("rate(gone_metric[2h]) + gone_metric", 7200.0),
    ],
)
def test_a_selector_carries_how_far_back_its_rule_reads(expr: str, window: float) -> None:
    [selector] = selectors(expr)
    assert selector.window == window
