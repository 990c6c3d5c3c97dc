"""The vector selectors of a PromQL expression, found by a real parser (`promql-parser`, Prometheus's grammar).

Each selector that must match series for the rule to mean anything is returned; the ones a
rule writes to match nothing on purpose are left out, as Cloudflare's pint leaves them out:
inside `absent()` / `absent_over_time()`, the plain selector on the right of `unless`, and a side of `or`
whose other side is a constant (`... or vector(0)`, `... or -vector(1)`): neither side of it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum

import promql_parser

ABSENT = frozenset({"absent", "absent_over_time"})
NAME_LABEL = "__name__"


class Op(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    RE = "=~"
    NOT_RE = "!~"


# promql_parser.MatchOp is not hashable: its members are told apart by their names.
_OPS = {
    "MatchOp.Equal": Op.EQUAL,
    "MatchOp.NotEqual": Op.NOT_EQUAL,
    "MatchOp.Re": Op.RE,
    "MatchOp.NotRe": Op.NOT_RE,
}


@dataclass(frozen=True)
class Matcher:
    """One label matcher, `name OP "value"`, the value as PromQL reads it (unescaped)."""

    name: str
    op: Op
    value: str

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{escape(self.value)}"'

    @property
    def equality(self) -> str | None:
        """The one value this matcher requires (`=`), else None."""
        return self.value if self.op is Op.EQUAL else None


@dataclass(frozen=True)
class Selector:
    """A vector selector: its metric name (None when it has none, or a regex on `__name__`) and matchers."""

    metric: str | None
    matchers: tuple[Matcher, ...]  # without the metric name's own `__name__="..."`
    # Seconds before the evaluation the rule reads this selector's samples from, beyond the
    # instant's own lookback: its range, offset and enclosing subqueries' (`increase(x[1h])`: 3600).
    # The longest when a selector is written twice; not part of what makes two selectors the same.
    window: float = field(default=0.0, compare=False)

    def __str__(self) -> str:
        inner = ",".join(str(m) for m in self.matchers)
        if self.metric is None:
            return "{" + inner + "}"
        return self.metric + ("{" + inner + "}" if inner else "")

    def label(self, name: str) -> str | None:
        """The value an `=` matcher requires of label `name`, or None."""
        return next((m.value for m in self.matchers if m.name == name and m.op is Op.EQUAL), None)


def escape(value: str) -> str:
    """`value` as the inside of a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selectors(expr: str) -> list[Selector]:
    """The selectors of `expr` that should match series, each once, in the order written.

    Raises ValueError (the parser's message) when `expr` is not PromQL.
    """
    found: list[Selector] = []
    _visit(promql_parser.parse(expr), found, 0.0)
    unique: dict[Selector, Selector] = {}
    for selector in found:
        seen = unique.get(selector)
        if seen is None or selector.window > seen.window:
            unique[selector] = selector if seen is None else replace(seen, window=selector.window)
    return list(unique.values())


def _seconds(delta: timedelta | None) -> float:
    """A range or offset in seconds; a negative offset (reading ahead) adds nothing."""
    return max(0.0, delta.total_seconds()) if delta is not None else 0.0


def _visit(node: object, found: list[Selector], window: float) -> None:
    # `@` pins a selector to a fixed time; it is asked about as if evaluated now, like the rest.
    if isinstance(node, promql_parser.VectorSelector):
        found.extend(_selectors(node, window + _seconds(node.offset)))
    elif isinstance(node, promql_parser.MatrixSelector):
        inner = node.vector_selector
        found.extend(_selectors(inner, window + _seconds(node.range) + _seconds(inner.offset)))
    elif isinstance(node, promql_parser.Call):
        if node.func.name in ABSENT:
            return  # absent(x) is written to fire when x matches nothing
        for arg in node.args:
            _visit(arg, found, window)
    elif isinstance(node, promql_parser.BinaryExpr):
        op = str(node.op)
        if op == "unless" and _bare(node.rhs):
            _visit(node.lhs, found, window)  # `a unless b`: b matching nothing is the usual case
        elif op == "or" and (_constant(node.rhs) or _constant(node.lhs)):
            return  # `x or vector(0)`: x may match nothing, on purpose; the constant has no series
        else:
            _visit(node.lhs, found, window)
            _visit(node.rhs, found, window)
    elif isinstance(node, promql_parser.SubqueryExpr):
        _visit(node.expr, found, window + _seconds(node.range) + _seconds(node.offset))
    elif isinstance(
        node,
        promql_parser.AggregateExpr | promql_parser.ParenExpr | promql_parser.UnaryExpr,
    ):
        _visit(node.expr, found, window)
        if isinstance(node, promql_parser.AggregateExpr) and node.param is not None:
            _visit(node.param, found, window)
    # NumberLiteral, StringLiteral: no series


def _bare(node: object) -> bool:
    """A plain selector (in parentheses or not): `a unless b` tests b's presence; `a unless b > 5`
    tests its value, which needs b to exist, so b is asked for then (as pint does)."""
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return isinstance(node, promql_parser.VectorSelector)


def _constant(node: object) -> bool:
    """A side of `or` made of numbers and `vector(N)` only: it selects no series."""
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    if isinstance(node, promql_parser.NumberLiteral):
        return True
    if isinstance(node, promql_parser.Call) and node.func.name == "vector":
        return True
    if isinstance(node, promql_parser.UnaryExpr):
        return _constant(node.expr)
    # `x or vector(0) > 5` reads as `x or (vector(0) > 5)`: still no series on that side.
    return isinstance(node, promql_parser.BinaryExpr) and _constant(node.lhs) and _constant(node.rhs)


def _selectors(node: promql_parser.VectorSelector, window: float) -> list[Selector]:
    """One Selector per alternative: `x{a="1" or b="2"}` matches either set of matchers."""
    groups = node.matchers.or_matchers or [node.matchers.matchers]
    out = []
    for group in groups:
        matchers = [Matcher(m.name, _OPS[str(m.op)], m.value) for m in group]
        metric = node.name
        if metric is None:
            named = [m for m in matchers if m.name == NAME_LABEL and m.op is Op.EQUAL]
            if len(named) == 1:
                metric = named[0].value
        rest = tuple(
            m for m in matchers if not (m.name == NAME_LABEL and m.op is Op.EQUAL and m.value == metric)
        )
        out.append(Selector(metric, rest, window))
    return out
