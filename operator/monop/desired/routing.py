"""What `amtool check-config` accepts and still loses notifications by: an analysis of the routing tree.

Pure: it reads the AlertReceivers, the AlertRouting and the desired alert rules, and reports,
each at its resource and line,

- a receiver no alert can reach: its matchers contradict each other, an earlier route without
  `continue` catches every alert it would take, or no desired alert rule carries what it asks;
- a matcher with `=` whose value looks like a regular expression (`.*`, `|`, `[`): matched literally;
- an inhibit rule whose `equal` labels neither its source nor its target alerts carry: both
  sides then have the label empty, equal, and every target alert is muted.

Alertmanager's routes are tried in order and the first match without `continue` wins; a
missing label is matched as the empty string. Both are modelled as Alertmanager does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from monop.api.alerting import Matcher
from monop.api.rules import AlertRuleGroupResource, Rule
from monop.desired.alerting import receiver_of, receivers, routing, routing_of
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity

FieldPath = tuple[str | int, ...]
_REGEX_HINTS = (".*", ".+", "|", "[", "(", "^", "$", "\\d", "\\w")
_LITERAL = re.compile(r"^[\w\- :/@,=]*$")
_AGGREGATIONS = (
    "sum|avg|min|max|count|stddev|stdvar|group|topk|bottomk|quantile|count_values|limitk|limit_ratio"
)
_AGG = re.compile(rf"\b(?:{_AGGREGATIONS})\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\(")
_TRAILING = re.compile(r"\s*(by|without)\s*\(([^)]*)\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "inf",
    "nan",
}


@dataclass(frozen=True)
class Alert:
    """What the analysis knows of an alert a desired rule raises: static labels, and those its expr may carry."""

    name: str
    labels: dict[str, str]
    expr_labels: frozenset[str] | None  # None: any (a selector's labels pass through)

    def may_carry(self, label: str) -> bool:
        return (
            label == "alertname"
            or label in self.labels
            or self.expr_labels is None
            or label in self.expr_labels
        )

    def may_match(self, matchers: Sequence[Matcher]) -> bool:
        """False only when the static labels prove no instance of this alert matches."""
        for m in matchers:
            if m.name == "alertname":
                if not m.matches({"alertname": self.name}):
                    return False
            elif m.name in self.labels:
                if not m.matches(self.labels):
                    return False
            elif self.expr_labels is not None and m.name not in self.expr_labels and not m.matches({}):
                return False  # the label is surely absent, and absent does not match
        return True


def alerts_of(groups: Sequence[LoadedResource]) -> list[Alert]:
    out: list[Alert] = []
    for loaded in groups:
        group = loaded.resource
        if not isinstance(group, AlertRuleGroupResource):
            continue
        out += [_alert(rule) for rule in group.spec.rules if rule.alert]
    return out


def _alert(rule: Rule) -> Alert:
    return Alert(rule.alert or "", dict(rule.labels), output_labels(rule.expr))


def output_labels(expr: str) -> frozenset[str] | None:
    """The labels `expr`'s result can carry, when its aggregations say (`sum by (a) (...)`); else None.

    Conservative: a selector left outside every aggregation, or a `without`, gives None.
    """
    rest, labels, pos = "", set(), 0
    while True:
        match = _AGG.search(expr, pos)
        if match is None:
            rest += expr[pos:]
            break
        rest += expr[pos : match.start()]
        end = _closing(expr, match.end() - 1)
        if end is None:
            return None
        clause, names = match.group(1), match.group(2)
        trailing = _TRAILING.match(expr, end + 1)
        if trailing is not None:
            clause, names = trailing.group(1), trailing.group(2)
            end = trailing.end() - 1
        if clause == "without":
            return None
        labels |= {n.strip() for n in (names or "").split(",") if n.strip()}
        pos = end + 1
    rest = re.sub(r"\b(on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", rest)
    rest = re.sub(r"\bvector\s*\(\s*[\d.]+\s*\)", " ", rest)
    if any(
        word.lower() not in _KEYWORDS
        for word in _IDENT.findall(re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", " ", rest))
    ):
        return None
    return frozenset(labels)


def _closing(text: str, open_at: int) -> int | None:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def values_of(matcher: Matcher) -> list[str] | None:
    """The values a positive matcher admits when they are few and literal (`a`, `a|b`), else None."""
    if matcher.match_type == "=":
        return [matcher.value]
    if matcher.match_type == "=~":
        parts = matcher.value.split("|")
        if all(_LITERAL.match(p) for p in parts):
            return parts
    return None


def implies(narrow: Sequence[Matcher], wide: Sequence[Matcher]) -> bool:
    """Whether every label set matching all of `narrow` surely matches all of `wide` too."""
    return all(_implied(narrow, m) for m in wide)


def _implied(narrow: Sequence[Matcher], wide: Matcher) -> bool:
    if wide.match_type == "=~" and wide.value in (".*", "(.*)"):
        return True
    for m in narrow:
        if m.name != wide.name:
            continue
        values = values_of(m)
        if values is not None and all(wide.matches({m.name: v}) for v in values):
            return True
        if m == wide:
            return True
    return False


def contradiction(matchers: Sequence[Matcher]) -> tuple[Matcher, Matcher] | None:
    """Two matchers no label set passes together (`severity="a"` and `severity="b"`), or None."""
    for first in matchers:
        values = values_of(first)
        if values is None:
            continue
        for second in matchers:
            if second is first or second.name != first.name:
                continue
            if not any(second.matches({first.name: v}) for v in values):
                return first, second
    return None


def analyse(alerting: Sequence[LoadedResource], rule_groups: Sequence[LoadedResource] = ()) -> list[Problem]:
    """Every way the routing tree loses or mutes notifications, each at its resource and line."""
    problems: list[Problem] = []
    root = routing(alerting)
    alerts = alerts_of(rule_groups)
    default = routing_of(root).spec.receiver if root is not None else None
    earlier: list[LoadedResource] = []
    for loaded in receivers(alerting):
        spec = receiver_of(loaded).spec
        for i, m in enumerate(spec.matchers):
            problems += _regex_literal(loaded, ("spec", "matchers", i), m)
        if loaded.name == default and not spec.matchers:
            continue  # the root's receiver: it takes what no route does
        clash = contradiction(spec.matchers)
        if clash is not None:
            a, b = clash
            problems.append(
                _at(
                    loaded,
                    ("spec", "matchers"),
                    f"no alert can reach this receiver: {a} and {b} never hold together",
                )
            )
        else:
            shadow = next((e for e in earlier if implies(spec.matchers, receiver_of(e).spec.matchers)), None)
            if shadow is not None:
                said = ", ".join(map(str, receiver_of(shadow).spec.matchers)) or "no matchers: every alert"
                problems.append(
                    _at(
                        loaded,
                        ("spec", "matchers"),
                        f"no alert can reach this receiver: the route of {shadow.key} ({shadow.file}:{shadow.line}; "
                        f"{said}) comes first (routes go by name), takes every alert this one would, "
                        "and has no continue: set continue: true there, or narrow its matchers",
                    )
                )
            elif alerts and not any(a.may_match(spec.matchers) for a in alerts):
                problems.append(
                    _at(
                        loaded,
                        ("spec", "matchers"),
                        "no alert rule of the desired state raises an alert these matchers take "
                        f"({', '.join(map(str, spec.matchers))}); "
                        f"the rules' labels: {_labels_said(alerts, spec.matchers)}",
                        Severity.WARNING,
                    )
                )
        if not spec.continue_:
            earlier.append(loaded)
    if root is not None:
        problems += _inhibits(root, alerts)
    return problems


def _labels_said(alerts: Sequence[Alert], matchers: Sequence[Matcher]) -> str:
    names = sorted({m.name for m in matchers})
    seen = sorted({f"{n}={a.labels[n]}" for a in alerts for n in names if n in a.labels})
    return ", ".join(seen) or "none of " + ", ".join(names)


def _regex_literal(loaded: LoadedResource, field: FieldPath, m: Matcher) -> list[Problem]:
    if m.match_type not in ("=", "!=") or not any(h in m.value for h in _REGEX_HINTS):
        return []
    regex = "=~" if m.match_type == "=" else "!~"
    return [
        _at(
            loaded,
            field,
            f"{m} compares with the literal text {m.value!r}, which looks like a regular expression: "
            f"for a regex write matchType: {regex!r}",
            Severity.WARNING,
        )
    ]


def _inhibits(root: LoadedResource, alerts: Sequence[Alert]) -> list[Problem]:
    problems = []
    for i, rule in enumerate(routing_of(root).spec.inhibit_rules):
        for side, matchers in (("sourceMatch", rule.source_match), ("targetMatch", rule.target_match)):
            for j, m in enumerate(matchers):
                problems += _regex_literal(root, ("spec", "inhibitRules", i, side, j), m)
        sources = [a for a in alerts if a.may_match(rule.source_match)]
        targets = [a for a in alerts if a.may_match(rule.target_match)]
        for j, label in enumerate(rule.equal):
            if _carried(label, rule.source_match, sources) or _carried(label, rule.target_match, targets):
                continue
            # Proven by the desired rules when they raise alerts on both sides; else by the matchers alone.
            proven = bool(sources and targets)
            why = (
                f"(source: {_names(sources)}; target: {_names(targets)})"
                if proven
                else "(no desired alert rule tells otherwise, and neither side's matchers name it)"
            )
            problems.append(
                _at(
                    root,
                    ("spec", "inhibitRules", i, "equal", j),
                    f"neither the source nor the target alerts carry label {label!r} {why}, so it is "
                    "empty on both, always equal, and this rule mutes every target alert while a source fires",
                    Severity.ERROR if proven else Severity.WARNING,
                )
            )
    return problems


def _carried(label: str, matchers: Sequence[Matcher], alerts: Sequence[Alert]) -> bool:
    if label == "alertname" or any(m.name == label and not m.matches({}) for m in matchers):
        return True
    return any(a.may_carry(label) for a in alerts)


def _names(alerts: Sequence[Alert]) -> str:
    return ", ".join(sorted({a.name for a in alerts})) or "no desired rule"


def _at(
    loaded: LoadedResource, field: FieldPath, message: str, severity: Severity = Severity.ERROR
) -> Problem:
    return Problem(loaded.file, loaded.line_of(*field), loaded.key, dotted(field), message, severity)
