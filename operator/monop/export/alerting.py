"""AlertRuleGroups as PrometheusRules (monitoring.coreos.com/v1), the AlertReceivers and the
AlertRouting as one AlertmanagerConfig (monitoring.coreos.com/v1alpha1).

monop's alerting kinds already use the AlertmanagerConfig's field names; what differs is where
a secret is: monop reads a file or its own environment, the operator a Kubernetes Secret. Each
`SecretRef` becomes a `{name, key}` reference to a Secret named after the receiver, listed as
needed with where its value is; the value itself is never read into the export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monop.api.alerting import (
    AlertReceiverResource,
    AlertRoutingResource,
    EmailConfig,
    Matcher,
    SecretRef,
    SlackConfig,
    WebhookConfig,
)
from monop.api.rules import AlertRuleGroupResource
from monop.desired.state import LoadedResource
from monop.export.model import Manifest, Part, SecretNeeded
from monop.export.pods import PODMAN_HOST
from monop.export.workloads import MONITORING, metadata, resource_annotations, resource_labels

ALERTMANAGER_CONFIG = "monitoring.coreos.com/v1alpha1"


def rule_group(loaded: LoadedResource, namespace: str | None) -> Part:
    """A PrometheusRule holding the one group; its promtool tests stay behind."""
    group = loaded.resource
    assert isinstance(group, AlertRuleGroupResource)
    part = Part(loaded.key, loaded.file, loaded.line)
    labels = resource_labels(loaded, part)
    body = group.to_prometheus()
    if group.spec.tests:
        part.left(
            "spec.tests",
            "a PrometheusRule has no unit tests: run them with `promtool test rules` in CI",
            loaded.line_of("spec", "tests"),
        )
    annotations = resource_annotations(loaded, part)
    part.manifests.append(
        {
            "apiVersion": MONITORING,
            "kind": "PrometheusRule",
            "metadata": metadata(group.metadata.name, namespace, labels, annotations),
            "spec": body,
        }
    )
    return part


def alertmanager_config(alerting: Sequence[LoadedResource], namespace: str | None) -> Part | None:
    """One AlertmanagerConfig for the AlertRouting and every AlertReceiver; None when there are none."""
    root = next((x for x in alerting if isinstance(x.resource, AlertRoutingResource)), None)
    receivers = sorted(
        (x for x in alerting if isinstance(x.resource, AlertReceiverResource)), key=lambda x: x.name
    )
    if root is None:
        return None  # the loader refuses receivers without a routing
    routing = root.resource
    assert isinstance(routing, AlertRoutingResource)
    part = Part(root.key, root.file, root.line)
    part.comments.append(
        "Name this AlertmanagerConfig in the Alertmanager's spec.alertmanagerConfiguration.name: it is "
        "then the root of the config, its routes not limited to this namespace."
    )
    spec = routing.spec
    route: Manifest = {"receiver": spec.receiver, **spec.route_fields(camel=True)}
    routes = []
    for loaded in receivers:
        receiver = loaded.resource
        assert isinstance(receiver, AlertReceiverResource)
        if receiver.name == spec.receiver and not receiver.spec.matchers:
            route.update(
                receiver.spec.route_fields(camel=True)
            )  # the default takes what no route does, at the root
            continue
        child: Manifest = {"receiver": receiver.name}
        if receiver.spec.matchers:
            child["matchers"] = [_matcher(m) for m in receiver.spec.matchers]
        child.update(receiver.spec.route_fields(camel=True))
        if receiver.spec.continue_:
            child["continue"] = True
        routes.append(child)
    if routes:
        route["routes"] = routes
    body: Manifest = {"route": route, "receivers": [_receiver(x, part) for x in receivers]}
    if spec.inhibit_rules:
        body["inhibitRules"] = [
            {
                "sourceMatch": [_matcher(m) for m in rule.source_match],
                "targetMatch": [_matcher(m) for m in rule.target_match],
                **({"equal": list(rule.equal)} if rule.equal else {}),
            }
            for rule in spec.inhibit_rules
        ]
    if spec.templates:
        part.left(
            "spec.templates",
            "an AlertmanagerConfig takes no template files: put them in the Alertmanager's configMaps",
            root.line_of("spec", "templates"),
        )
    if spec.resolve_timeout is not None:
        part.left(
            "spec.resolveTimeout",
            "set it in the Alertmanager's spec.alertmanagerConfiguration.global.resolveTimeout",
            root.line_of("spec", "resolveTimeout"),
        )
    labels = resource_labels(root, part)
    annotations = resource_annotations(root, part)
    part.manifests.append(
        {
            "apiVersion": ALERTMANAGER_CONFIG,
            "kind": "AlertmanagerConfig",
            "metadata": metadata(routing.metadata.name, namespace, labels, annotations),
            "spec": body,
        }
    )
    return part


def _matcher(matcher: Matcher) -> Manifest:
    return {"name": matcher.name, "value": matcher.value, "matchType": matcher.match_type}


def _receiver(loaded: LoadedResource, part: Part) -> Manifest:
    receiver = loaded.resource
    assert isinstance(receiver, AlertReceiverResource)
    out: Manifest = {"name": receiver.name}

    def secret(ref: SecretRef, key: str, field: str) -> Manifest:
        name = f"{receiver.name}-receiver"
        where = f"{loaded.file}:{loaded.line_of('spec', *_path(field))}"
        source = f"the file {ref.file}" if ref.file else f"monop's environment variable {ref.env}"
        part.secrets.append(
            SecretNeeded(receiver.key, name, key, f"{field}: {source} ({where})", file=ref.file, env=ref.env)
        )
        return {"name": name, "key": key}

    for i, hook in enumerate(receiver.spec.webhook_configs):
        if hook.url is not None and PODMAN_HOST in hook.url:
            part.left(
                f"spec.webhookConfigs[{i}].url",
                f"{PODMAN_HOST} is Podman's name for the host, which a pod cannot resolve: "
                "name the receiver's Service or address instead",
                loaded.line_of("spec", "webhookConfigs", i, "url"),
                source=(loaded.key, loaded.file),
                kept=True,
            )
    hooks = [_webhook(h, i, secret) for i, h in enumerate(receiver.spec.webhook_configs)]
    mails = [_email(m, i, secret) for i, m in enumerate(receiver.spec.email_configs)]
    slacks = [_slack(s, i, secret) for i, s in enumerate(receiver.spec.slack_configs)]
    for key, items in (("webhookConfigs", hooks), ("emailConfigs", mails), ("slackConfigs", slacks)):
        if items:
            out[key] = items
    return out


def _path(field: str) -> tuple[str | int, ...]:
    # "spec.webhookConfigs[0].urlSecret" -> ("webhookConfigs", 0, "urlSecret")
    out: list[str | int] = []
    for piece in field.removeprefix("spec.").replace("]", "").split("."):
        name, _, index = piece.partition("[")
        out.append(name)
        if index:
            out.append(int(index))
    return tuple(out)


def _webhook(hook: WebhookConfig, i: int, secret: Any) -> Manifest:
    out: Manifest = {}
    if hook.url_secret is not None:
        out["urlSecret"] = secret(hook.url_secret, f"webhook-{i}-url", f"spec.webhookConfigs[{i}].urlSecret")
    else:
        out["url"] = hook.url
    out["sendResolved"] = hook.send_resolved
    if hook.max_alerts:
        out["maxAlerts"] = hook.max_alerts
    return out


def _email(mail: EmailConfig, i: int, secret: Any) -> Manifest:
    out: Manifest = {"to": mail.to, "from": mail.from_, "smarthost": mail.smarthost}
    if mail.auth_username is not None:
        out["authUsername"] = mail.auth_username
    if mail.auth_password is not None:
        out["authPassword"] = secret(
            mail.auth_password, f"email-{i}-password", f"spec.emailConfigs[{i}].authPassword"
        )
    if mail.auth_identity is not None:
        out["authIdentity"] = mail.auth_identity
    if mail.require_tls is not None:
        out["requireTLS"] = mail.require_tls
    if mail.headers:
        out["headers"] = [{"key": k, "value": v} for k, v in mail.headers.items()]
    for key, value in (("html", mail.html), ("text", mail.text)):
        if value is not None:
            out[key] = value
    out["sendResolved"] = mail.send_resolved
    return out


def _slack(slack: SlackConfig, i: int, secret: Any) -> Manifest:
    out: Manifest = {"apiURL": secret(slack.api_url, f"slack-{i}-api-url", f"spec.slackConfigs[{i}].apiURL")}
    for key, value in (
        ("channel", slack.channel),
        ("username", slack.username),
        ("title", slack.title),
        ("text", slack.text),
    ):
        if value is not None:
            out[key] = value
    out["sendResolved"] = slack.send_resolved
    return out
