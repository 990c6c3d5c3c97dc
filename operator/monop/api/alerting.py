"""AlertReceiver and AlertRouting: Alertmanager's receivers, routes and inhibit rules as resources.

The fields are those of the Prometheus Operator's `AlertmanagerConfig` (monitoring.coreos.com
v1alpha1), in its camelCase: `matchers: [{name, value, matchType}]`, `groupBy`, `groupWait`,
`groupInterval`, `repeatInterval`, `continue`, `webhookConfigs`, `emailConfigs`,
`slackConfigs`, each with `sendResolved`, and `inhibitRules: [{sourceMatch, targetMatch,
equal}]`. Each AlertReceiver is one Alertmanager receiver and one first-level route (routes in
the order of their names, as the operator orders AlertmanagerConfigs); the one AlertRouting
names the default receiver, the root route's grouping, the inhibit rules and template files.

Secrets (a webhook URL with a token, a Slack URL, an SMTP password) are never written in the
desired tree: a `SecretRef` names a file (`{file: /etc/monop/secrets/slack-url}`) or an
environment variable of monop's (`{env: SLACK_URL}`) instead of the operator's Kubernetes Secret.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from monop.api.duration import Duration, format_duration
from monop.api.resources import Document, Strict

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

MatchType = Literal["=", "!=", "=~", "!~"]


def _label_name(value: str) -> str:
    if not _LABEL_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a label name (letters, digits and '_', not starting with a digit)"
        )
    return value


class Matcher(Strict):
    """One label matcher: `{name: severity, value: critical}`; `matchType` `=` (default), `!=`, `=~`, `!~`."""

    name: str = Field(description="Label name, e.g. severity.")
    value: str = Field("", description="Label value; a regular expression (RE2, anchored) for =~ and !~.")
    match_type: MatchType = Field("=", alias="matchType", description="=, !=, =~ or !~.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _label_name(value)

    @model_validator(mode="after")
    def _regex(self) -> Matcher:
        if self.match_type in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as err:
                raise ValueError(f"value {self.value!r} is not a regular expression: {err}") from None
        return self

    @property
    def is_regex(self) -> bool:
        return self.match_type in ("=~", "!~")

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an alert with `labels` passes: a missing label is the empty string, as in Alertmanager."""
        got = labels.get(self.name, "")
        hit = re.fullmatch(self.value, got) is not None if self.is_regex else got == self.value
        return hit if self.match_type in ("=", "=~") else not hit

    def to_alertmanager(self) -> str:
        """`severity="critical"`, as Alertmanager's `matchers` take (and print) it."""
        return f"{self.name}{self.match_type}{_quote(self.value)}"

    def __str__(self) -> str:
        return self.to_alertmanager()


def _quote(value: str) -> str:
    # Go's strconv.Quote for what a label value holds: backslash, quote and control characters escaped.
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


class SecretRef(Strict):
    """Where a secret is: a file (`{file: /etc/monop/secrets/x}`) or an environment variable of monop's."""

    file: str | None = Field(None, description="Absolute path of a file holding only the secret.")
    env: str | None = Field(None, description="Name of an environment variable of monop's.")

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of file or env")
        if self.file is not None and not self.file.startswith("/"):
            raise ValueError(f"file {self.file!r} is not an absolute path")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError(f"env {self.env!r} is not an environment variable name")
        return self


class WebhookConfig(Strict):
    """Alertmanager's webhook: it POSTs the alerts as JSON; it takes no title or text."""

    url: str | None = Field(None, description="http(s) URL; one without a secret in it (else urlSecret).")
    url_secret: SecretRef | None = Field(
        None, alias="urlSecret", description="The URL, when it holds a token: from a file or the environment."
    )
    send_resolved: bool = Field(True, alias="sendResolved", description="Also notify when resolved.")
    max_alerts: int = Field(
        0, ge=0, le=2**31 - 1, alias="maxAlerts", description="Alerts per message at most; 0: all."
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("give exactly one of url or urlSecret")
        return self


class EmailConfig(Strict):
    """Alertmanager's email_config; the password from `authPassword`, never written here."""

    to: str = Field(min_length=1, description="Recipient address(es), comma-separated.")
    from_: str = Field(alias="from", min_length=1, description="Sender address.")
    smarthost: str = Field(min_length=1, description="SMTP server as host:port.")
    auth_username: str | None = Field(None, alias="authUsername")
    auth_password: SecretRef | None = Field(None, alias="authPassword")
    auth_identity: str | None = Field(None, alias="authIdentity")
    require_tls: bool | None = Field(None, alias="requireTLS")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers (Subject: ...).")
    html: str | None = Field(None, description="Go template of the HTML body.")
    text: str | None = Field(None, description="Go template of the text body.")
    send_resolved: bool = Field(False, alias="sendResolved")

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"{value!r} is not host:port (for example smtp.example.org:587)")
        return value


class SlackConfig(Strict):
    """Alertmanager's slack_config (Mattermost and Rocket.Chat take the same payload)."""

    api_url: SecretRef = Field(alias="apiURL", description="The incoming-webhook URL: a secret.")
    channel: str | None = None
    username: str | None = None
    title: str | None = Field(None, description="Go template: {{ .CommonAnnotations.summary }}.")
    text: str | None = Field(None, description="Go template.")
    send_resolved: bool = Field(False, alias="sendResolved")


class Grouping(Strict):
    group_by: tuple[str, ...] | None = Field(
        None, alias="groupBy", description="Labels to group by; ['...'] groups by all labels."
    )
    group_wait: Duration | None = Field(None, alias="groupWait")
    group_interval: Duration | None = Field(None, alias="groupInterval")
    repeat_interval: Duration | None = Field(None, alias="repeatInterval")

    @field_validator("group_by")
    @classmethod
    def _labels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name != "...":
                _label_name(name)
        return value

    def route_fields(self, *, camel: bool = False) -> dict[str, Any]:
        """The grouping and timing set here, as a route takes them: Alertmanager's `group_by`,
        `group_wait`, ... (alertmanager.yml), or with `camel` the Prometheus Operator's `groupBy`,
        `groupWait`, ... (an AlertmanagerConfig's route). Durations as Prometheus writes them."""
        out: dict[str, Any] = {}
        for name in ("group_by", "group_wait", "group_interval", "repeat_interval"):
            value = getattr(self, name)
            if value is None:
                continue
            key = type(self).model_fields[name].alias if camel else name
            out[key or name] = list(value) if name == "group_by" else format_duration(value)
        return out


class AlertReceiverSpec(Grouping):
    matchers: tuple[Matcher, ...] = Field(
        (), description="Which alerts this receiver takes; all must match. None: every alert."
    )
    continue_: bool = Field(
        False, alias="continue", description="Let later receivers see the alerts this one took, too."
    )
    webhook_configs: tuple[WebhookConfig, ...] = Field((), alias="webhookConfigs")
    email_configs: tuple[EmailConfig, ...] = Field((), alias="emailConfigs")
    slack_configs: tuple[SlackConfig, ...] = Field((), alias="slackConfigs")


class InhibitRule(Strict):
    """Mute alerts matching `targetMatch` while one matching `sourceMatch` fires, with equal `equal` labels."""

    source_match: tuple[Matcher, ...] = Field(alias="sourceMatch", min_length=1)
    target_match: tuple[Matcher, ...] = Field(alias="targetMatch", min_length=1)
    equal: tuple[str, ...] = Field((), description="Labels source and target must share.")

    @field_validator("equal")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _label_name(name)
        return value


class AlertRoutingSpec(Grouping):
    receiver: str = Field(
        description="The default receiver: an AlertReceiver's name; takes what no route does."
    )
    inhibit_rules: tuple[InhibitRule, ...] = Field((), alias="inhibitRules")
    templates: tuple[str, ...] = Field(
        (), description="Notification template files (Go templates), relative to this file or absolute."
    )
    resolve_timeout: Duration | None = Field(None, alias="resolveTimeout")


class AlertReceiverResource(Document):
    """One Alertmanager receiver and the route that leads to it; its name is the receiver's."""

    kind: Literal["AlertReceiver"]
    spec: AlertReceiverSpec


class AlertRoutingResource(Document):
    """The Alertmanager config's root: default receiver, grouping, inhibit rules, templates (one per state)."""

    kind: Literal["AlertRouting"]
    spec: AlertRoutingSpec


ALERTING_KINDS: dict[str, type[Strict]] = {
    "AlertReceiver": AlertReceiverResource,
    "AlertRouting": AlertRoutingResource,
}
INTEGRATIONS = (
    ("webhookConfigs", "webhook_configs"),
    ("emailConfigs", "email_configs"),
    ("slackConfigs", "slack_configs"),
)
"""(field in the resource, key in alertmanager.yml) of each integration."""
