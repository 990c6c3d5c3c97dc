"""AlertRuleGroup: a Prometheus rule group as a resource, written by monop as a rule file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from monop.api.alerting import ALERTING_KINDS
from monop.api.duration import Duration, format_duration
from monop.api.grafana import GRAFANA_KINDS
from monop.api.resources import KINDS, Document, Labels, MetricName, Strict


class Rule(Strict):
    """One alerting rule (`alert`) or recording rule (`record`), as Prometheus writes them."""

    alert: str | None = Field(None, description="Alert name; or `record` for a recording rule.")
    record: MetricName | None = Field(None, description="Name of the series a recording rule writes.")
    expr: str = Field(min_length=1, description="PromQL; single or double quotes inside, as you like.")
    for_: Duration | None = Field(None, alias="for", description="How long it must hold before firing.")
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _alert_or_record(self) -> Rule:
        if (self.alert is None) == (self.record is None):
            raise ValueError("a rule has exactly one of alert or record")
        if self.record is not None and (self.for_ is not None or self.annotations):
            raise ValueError("a recording rule takes no for or annotations")
        return self

    def to_prometheus(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert} if self.alert else {"record": self.record}
        out["expr"] = self.expr
        if self.for_ is not None:
            out["for"] = format_duration(self.for_)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


class InputSeries(Strict):
    """One input series of a unit test: `{series: 'up{job="a"}', values: '0x10'}` (promtool's form)."""

    series: str = Field(min_length=1)
    values: str = Field(description="Expanding notation: '1+1x10', '0 1 _ stale'.")


class ExpectedAlert(Strict):
    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)


class AlertRuleTest(Strict):
    eval_time: Duration
    alertname: str = Field(min_length=1)
    exp_alerts: tuple[ExpectedAlert, ...] = ()


class ExpectedSample(Strict):
    labels: str
    value: float


class PromqlExprTest(Strict):
    expr: str = Field(min_length=1)
    eval_time: Duration
    exp_samples: tuple[ExpectedSample, ...] = ()


class RuleTest(Strict):
    """One `promtool test rules` test group, in promtool's own (snake_case) form, run on this group."""

    name: str | None = None
    interval: Duration | None = Field(None, description="Step of the input series; promtool's default 1m.")
    input_series: tuple[InputSeries, ...] = ()
    alert_rule_test: tuple[AlertRuleTest, ...] = ()
    promql_expr_test: tuple[PromqlExprTest, ...] = ()
    external_labels: dict[str, str] = Field(default_factory=dict)

    def to_promtool(self) -> dict[str, Any]:
        """The test as promtool's test file holds it (durations as Prometheus writes them)."""
        out: dict[str, Any] = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        return out


class AlertRuleGroupSpec(Strict):
    interval: Duration | None = Field(
        None, description="Evaluation interval; Prometheus's global default when unset."
    )
    rules: tuple[Rule, ...]
    tests: tuple[RuleTest, ...] = Field(
        (), description="Unit tests in promtool's form, run by `promtool test rules` at validate."
    )

    @field_validator("rules")
    @classmethod
    def _not_empty(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        # Here rather than min_length, which also complains when an item is invalid.
        if not value:
            raise ValueError("a group needs at least one rule")
        return value


class AlertRuleGroupResource(Document):
    """A Prometheus rule group; its name is the group's name and its file's."""

    kind: Literal["AlertRuleGroup"]
    spec: AlertRuleGroupSpec

    def to_prometheus(self) -> dict[str, Any]:
        """The content of its rule file: `groups: [{name, interval, rules}]`."""
        group: dict[str, Any] = {"name": self.name}
        if self.spec.interval is not None:
            group["interval"] = format_duration(self.spec.interval)
        group["rules"] = [rule.to_prometheus() for rule in self.spec.rules]
        return {"groups": [group]}


# Every kind the loader reads: the container kinds, rule groups, (monop.api.alerting) Alertmanager's,
# and (monop.api.grafana) Grafana's.
ALL_KINDS: dict[str, type[Strict]] = {
    **KINDS,
    "AlertRuleGroup": AlertRuleGroupResource,
    **ALERTING_KINDS,
    **GRAFANA_KINDS,
}
