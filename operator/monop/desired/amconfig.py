"""alertmanager.yml from the AlertReceivers and the AlertRouting, and amtool's verdict on it, located.

`render()` writes the config in Alertmanager 0.25's format. `check_config()` runs Debian's
`amtool check-config` on exactly what would be written; amtool names only a line of a file
nobody wrote (or no line at all), so a refused config is checked again receiver by receiver,
then integration by integration, and each refusal is said at the resource and field it is about.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from monop.api.alerting import (
    INTEGRATIONS,
    AlertRoutingResource,
    EmailConfig,
    InhibitRule,
    SlackConfig,
    WebhookConfig,
)
from monop.api.duration import format_duration
from monop.desired.alerting import (
    FieldPath,
    at,
    known_secrets,
    receiver_of,
    receivers,
    routing,
    routing_of,
    template_path,
)
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity
from monop.secrets import MARK, Secrets

HEADER = (
    "# Written by monop from the desired state (AlertReceiver, AlertRouting); edit those, not this file.\n"
)

# --- rendering -----------------------------------------------------------------------------------


def render(alerting: Sequence[LoadedResource], *, reveal: bool = False) -> str:
    """alertmanager.yml for the desired receivers; secrets monop read are `<secret>` unless `reveal`.

    Only the revealed text is written for Alertmanager; the other is what a person may see.
    """
    return HEADER + yaml.safe_dump(
        config(alerting, reveal=reveal), sort_keys=False, width=10_000, allow_unicode=True
    )


def config(alerting: Sequence[LoadedResource], *, reveal: bool = False) -> dict[str, Any]:
    """The config as a mapping, in Alertmanager's keys."""
    root = routing(alerting)
    spec = routing_of(root).spec if root is not None else None
    out: dict[str, Any] = {}
    if spec is not None and spec.resolve_timeout is not None:
        out["global"] = {"resolve_timeout": format_duration(spec.resolve_timeout)}
    route: dict[str, Any] = {"receiver": spec.receiver if spec is not None else _NOWHERE}
    if spec is not None:
        route.update(spec.route_fields())
    routes = []
    for loaded in receivers(alerting):
        receiver = receiver_of(loaded)
        if spec is not None and receiver.name == spec.receiver and not receiver.spec.matchers:
            # The default receiver takes what no route does, at the root (a catch-all route would
            # shadow the others): its own grouping and timing are the root's.
            route.update(receiver.spec.route_fields())
            continue
        child: dict[str, Any] = {"receiver": receiver.name}
        if receiver.spec.matchers:
            child["matchers"] = [m.to_alertmanager() for m in receiver.spec.matchers]
        child.update(receiver.spec.route_fields())
        if receiver.spec.continue_:
            child["continue"] = True
        routes.append(child)
    if routes:
        route["routes"] = routes
    out["route"] = route
    out["receivers"] = [_receiver(loaded, reveal) for loaded in receivers(alerting)]
    if spec is None:
        out["receivers"].append({"name": _NOWHERE})
    if spec is not None and spec.inhibit_rules:
        out["inhibit_rules"] = [_inhibit(rule) for rule in spec.inhibit_rules]
    if root is not None and spec is not None and spec.templates:
        out["templates"] = [str(template_path(root, t)) for t in spec.templates]
    return out


_NOWHERE = "monop-no-default-receiver"  # only when there is no AlertRouting, which check() refuses


def _inhibit(rule: InhibitRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source_matchers": [m.to_alertmanager() for m in rule.source_match],
        "target_matchers": [m.to_alertmanager() for m in rule.target_match],
    }
    if rule.equal:
        out["equal"] = list(rule.equal)
    return out


def _receiver(loaded: LoadedResource, reveal: bool) -> dict[str, Any]:
    spec = receiver_of(loaded).spec
    out: dict[str, Any] = {"name": loaded.name}

    def secret(field: FieldPath) -> str:
        return loaded.secret_env.get(dotted(field), "") if reveal else MARK

    hooks = [_webhook(h, i, secret) for i, h in enumerate(spec.webhook_configs)]
    mails = [_email(m, i, secret) for i, m in enumerate(spec.email_configs)]
    slacks = [_slack(s, i, secret) for i, s in enumerate(spec.slack_configs)]
    for key, items in (("webhook_configs", hooks), ("email_configs", mails), ("slack_configs", slacks)):
        if items:
            out[key] = items
    return out


def _webhook(hook: WebhookConfig, i: int, secret: Any) -> dict[str, Any]:
    url = hook.url if hook.url is not None else secret(("spec", "webhookConfigs", i, "urlSecret"))
    out: dict[str, Any] = {"url": url, "send_resolved": hook.send_resolved}
    if hook.max_alerts:
        out["max_alerts"] = hook.max_alerts
    return out


def _email(mail: EmailConfig, i: int, secret: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "to": mail.to,
        "from": mail.from_,
        "smarthost": mail.smarthost,
        "send_resolved": mail.send_resolved,
    }
    for key, value in (("auth_username", mail.auth_username), ("auth_identity", mail.auth_identity)):
        if value is not None:
            out[key] = value
    if mail.auth_password is not None:
        if mail.auth_password.file is not None:
            out["auth_password_file"] = mail.auth_password.file
        else:
            out["auth_password"] = secret(("spec", "emailConfigs", i, "authPassword"))
    if mail.require_tls is not None:
        out["require_tls"] = mail.require_tls
    if mail.headers:
        out["headers"] = dict(mail.headers)
    for key, value in (("html", mail.html), ("text", mail.text)):
        if value is not None:
            out[key] = value
    return out


def _slack(slack: SlackConfig, i: int, secret: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"send_resolved": slack.send_resolved}
    if slack.api_url.file is not None:
        out["api_url_file"] = slack.api_url.file
    else:
        out["api_url"] = secret(("spec", "slackConfigs", i, "apiURL"))
    for key, value in (
        ("channel", slack.channel),
        ("username", slack.username),
        ("title", slack.title),
        ("text", slack.text),
    ):
        if value is not None:
            out[key] = value
    return out


# --- amtool --------------------------------------------------------------------------------------


def amtool_check(text: str) -> str | None:
    """amtool's refusal of a config's text (one line per complaint), None when it passes.

    Raises FileNotFoundError when amtool is not installed.
    """
    amtool = shutil.which("amtool")
    if amtool is None:
        raise FileNotFoundError("amtool")
    with tempfile.TemporaryDirectory(prefix="monop-am-") as tmp:
        path = Path(tmp) / "alertmanager.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it may hold secrets
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            done = subprocess.run(
                [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"amtool could not run: {err}"
    if done.returncode == 0:
        return None
    return clean_amtool(done.stdout + done.stderr, str(path))


def clean_amtool(output: str, path: str) -> str:
    """amtool's complaint without its banner and its temporary file's name."""
    lines = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith(("amtool: error: failed to validate", "Found:", "- ")):
            continue
        if re.match(r"^Checking '.*'\s+SUCCESS$", line):
            continue
        line = re.sub(r"^Checking '.*?'\s+FAILED:\s*", "", line).removeprefix("FAILED: ")
        line = line.replace(path, "alertmanager.yml")
        if line and line != "yaml: unmarshal errors:":
            lines.append(line)
    return "; ".join(lines) or "amtool check-config failed"


def check_config(alerting: Sequence[LoadedResource]) -> list[Problem]:
    """amtool's refusals of the config monop would write, each at the resource and integration it is about.

    Without amtool, one warning says the config was not checked.
    """
    if not alerting:
        return []
    secrets = known_secrets(alerting)
    try:
        problem = amtool_check(render(alerting, reveal=True))
    except FileNotFoundError:
        first = alerting[0]
        return [
            Problem(
                first.file,
                None,
                None,
                None,
                "amtool is not installed (Debian: prometheus-alertmanager), so the Alertmanager config was not checked",
                Severity.WARNING,
            )
        ]
    if problem is None:
        return []
    found = _bisect(alerting, secrets)
    if found:
        return found
    first = routing(alerting) or alerting[0]
    return [at(first, (), f"amtool: {secrets.redact(problem)}")]


def _bisect(alerting: Sequence[LoadedResource], secrets: Secrets) -> list[Problem]:
    """amtool on each receiver alone, then each of its integrations alone: who it refuses, where."""
    problems = []
    root = routing(alerting)
    for loaded in receivers(alerting):
        alone = _alone(loaded)
        problem = amtool_check(render(alone, reveal=True))
        if problem is None:
            continue
        located = False
        for field, key in INTEGRATIONS:
            for i in range(len(getattr(receiver_of(loaded).spec, key))):
                one = _alone(loaded, (key, i))
                again = amtool_check(render(one, reveal=True))
                if again is not None:
                    problems.append(
                        at(loaded, ("spec", field, i), f"amtool: {secrets.redact(_unlined(again))}")
                    )
                    located = True
        if not located:
            problems.append(at(loaded, ("spec",), f"amtool: {secrets.redact(_unlined(problem))}"))
    if root is not None and not problems:
        names = [_stub(r) for r in receivers(alerting)]
        problem = amtool_check(render([root, *names], reveal=True))
        if problem is not None:
            problems.append(
                at(root, _routing_field(root, problem), f"amtool: {secrets.redact(_unlined(problem))}")
            )
    return problems


def _routing_field(root: LoadedResource, message: str) -> FieldPath:
    """`spec.templates[i]` when amtool's message names that template file, else `spec`."""
    for i, template in enumerate(routing_of(root).spec.templates):
        if f"template: {Path(template).name}:" in message or str(template_path(root, template)) in message:
            return ("spec", "templates", i)
    return ("spec",)


def _unlined(message: str) -> str:
    # Lines of monop's own rendering mean nothing to the user; the problem is located instead.
    return re.sub(r"\bline \d+: ", "", message)


def _alone(loaded: LoadedResource, only: tuple[str, int] | None = None) -> list[LoadedResource]:
    """A receiver as the whole config (its own default), optionally with one integration only."""
    receiver = receiver_of(loaded)
    spec = receiver.spec.model_copy(update={"matchers": ()})
    if only is not None:
        key, index = only
        spec = spec.model_copy(
            update={k: (getattr(spec, k)[index],) if k == key else () for _, k in INTEGRATIONS}
        )
    root = AlertRoutingResource.model_validate(
        {
            "apiVersion": receiver.api_version,
            "kind": "AlertRouting",
            "metadata": {"name": "x"},
            "spec": {"receiver": receiver.name},
        }
    )
    one = dataclasses.replace(loaded, resource=receiver.model_copy(update={"spec": spec}))  # type: ignore[arg-type]
    return [dataclasses.replace(loaded, resource=root), one]  # type: ignore[arg-type]


def _stub(loaded: LoadedResource) -> LoadedResource:
    receiver = receiver_of(loaded)
    empty = receiver.spec.model_copy(update={k: () for _, k in INTEGRATIONS})
    return dataclasses.replace(loaded, resource=receiver.model_copy(update={"spec": empty}))  # type: ignore[arg-type]
