"""AlertReceivers and the AlertRouting: their secrets, and the checks Alertmanager does not make.

`check()` refuses, each at its file and line, what Alertmanager accepts and then loses
notifications by: a Go template with single braces (sent as written), a receiver URL pointing
at a port the desired state publishes as a metrics endpoint, a secret written into the desired
tree. `resolve_secrets()` reads the secrets monop itself must write into alertmanager.yml.
The config itself is monop.desired.amconfig; the routing analysis, monop.desired.routing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from monop.api.alerting import (
    AlertReceiverResource,
    AlertRoutingResource,
    SecretRef,
)
from monop.api.resources import ResourceBase
from monop.api.targets import TargetError, targets
from monop.desired import policy as host_policy
from monop.desired.secretenv import read_secret_text
from monop.desired.state import LoadedResource
from monop.desired.yamldoc import dotted
from monop.errors import Problem, Severity
from monop.secrets import Secrets, is_secret_name, split_userinfo

FieldPath = tuple[str | int, ...]
HEADER = (
    "# Written by monop from the desired state (AlertReceiver, AlertRouting); edit those, not this file.\n"
)

# A Go template action written with single braces: `{ range .Alerts }`, `{ .Annotations.summary }`.
_SINGLE = re.compile(
    r"(?<!\{)\{(?!\{)\s*(?P<body>(?:range|end|if|else|with|template|define|block|printf|len|index|"
    r"toUpper|toLower|title|join|safeHtml|reReplaceAll|\.|\$)[^{}\n]*?)\s*\}(?!\})"
)
# Mattermost's and Rocket.Chat's incoming webhooks: `/hooks/<a long random key>`.
_HOOK_TOKEN = re.compile(r"/hooks/[A-Za-z0-9_-]{16,}")
_LOCAL_HOSTS = {
    "localhost",
    "127.0.0.1",
    "::1",
    "0.0.0.0",
    "host.containers.internal",
    "host.docker.internal",
}


def template_path(root: LoadedResource, template: str) -> Path:
    """Where a template file of the AlertRouting is, as an absolute path: the file is read by
    amtool and Alertmanager from elsewhere (a config in another directory), so a path relative
    to the resource's file would find nothing there."""
    path = Path(template)
    return path if path.is_absolute() else (root.base_dir / path).absolute()


def receivers(alerting: Sequence[LoadedResource]) -> list[LoadedResource]:
    """The AlertReceivers, in route order (by name)."""
    found = [r for r in alerting if isinstance(r.resource, AlertReceiverResource)]
    return sorted(found, key=lambda r: r.name)


def routing(alerting: Sequence[LoadedResource]) -> LoadedResource | None:
    return next((r for r in alerting if isinstance(r.resource, AlertRoutingResource)), None)


def receiver_of(loaded: LoadedResource) -> AlertReceiverResource:
    resource = loaded.resource
    assert isinstance(resource, AlertReceiverResource)
    return resource


def routing_of(loaded: LoadedResource) -> AlertRoutingResource:
    resource = loaded.resource
    assert isinstance(resource, AlertRoutingResource)
    return resource


# --- secrets -------------------------------------------------------------------------------------


def secret_fields(receiver: AlertReceiverResource) -> list[tuple[FieldPath, SecretRef, bool]]:
    """`(field, ref, alertmanager_reads_file)` of each secret of a receiver.

    Alertmanager 0.25 reads `api_url_file` (Slack) and `auth_password_file` (email) itself;
    a webhook's URL it takes only inline, so monop reads that file and writes the URL.
    """
    spec = receiver.spec
    out: list[tuple[FieldPath, SecretRef, bool]] = []
    for i, hook in enumerate(spec.webhook_configs):
        if hook.url_secret is not None:
            out.append((("spec", "webhookConfigs", i, "urlSecret"), hook.url_secret, False))
    for i, slack in enumerate(spec.slack_configs):
        out.append((("spec", "slackConfigs", i, "apiURL"), slack.api_url, True))
    for i, mail in enumerate(spec.email_configs):
        if mail.auth_password is not None:
            out.append((("spec", "emailConfigs", i, "authPassword"), mail.auth_password, True))
    return out


class SecretError(ValueError):
    """A secret monop cannot read; the message names the file or variable, never a value."""


def read_secret_file(path: Path) -> str:
    """The secret a file holds (one trailing newline dropped); the file as `secretEnvFrom` wants it.

    A regular file owned by root or monop's user, mode 0600 or 0400, at most 64 KiB of UTF-8.
    Raises SecretError.
    """
    text = read_secret_text(path, "a secret", SecretError)
    text = text.removesuffix("\n").removesuffix("\r")
    if not text or "\n" in text:
        raise SecretError(f"{path}: should hold the secret alone, on one line")
    return text


def resolve_secrets(
    loaded: LoadedResource, root: Path, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[Problem]]:
    """The secrets monop itself reads for a receiver, by dotted field (`spec.webhookConfigs[0].urlSecret`).

    Files Alertmanager reads itself are not read here. Problems name the file or the variable,
    never a value.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(loaded.resource, AlertReceiverResource):
        return {}, []
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for field, ref, alertmanager_reads in secret_fields(loaded.resource):
        try:
            if ref.env is not None:
                value = environ.get(ref.env)
                if not value:
                    raise SecretError(f"environment variable {ref.env} is not set (or empty) for monop")
                values[dotted(field)] = value
            elif ref.file is not None:
                path = Path(ref.file)
                if path.resolve().is_relative_to(root.resolve()):
                    raise SecretError(
                        f"{ref.file}: inside the desired tree; keep secrets outside it (and out of git)"
                    )
                if not alertmanager_reads:
                    values[dotted(field)] = read_secret_file(path)
        except SecretError as err:
            problems.append(Problem(loaded.file, loaded.line_of(*field), loaded.key, dotted(field), str(err)))
    return values, problems


def known_secrets(alerting: Sequence[LoadedResource]) -> Secrets:
    """Every secret value monop read for the alerting resources, to mask wherever it might reappear.

    A URL with credentials is masked in the forms Go prints it too: with the password as `***`
    (net/http's errors), and without its user info or credentials at all.
    """
    values = {v for r in alerting for v in r.secret_env.values()}
    return Secrets(frozenset(values | {form for v in values for form in _printed_forms(v)}))


def _printed_forms(url: str) -> set[str]:
    public, user, password = split_userinfo(url.strip())
    if user is None and password is None:
        return set()
    parts = urlsplit(url.strip())
    userinfo, _, host = parts.netloc.rpartition("@")
    name = userinfo.partition(":")[0]
    starred = parts._replace(netloc=f"{name}:***@{host}").geturl()
    # The password; or the user name when it is the only credential (a token given as one).
    alone = password if password else user
    return {public, starred, *([alone] if alone else [])}


# --- checks --------------------------------------------------------------------------------------


def check(
    alerting: Sequence[LoadedResource],
    containers: Sequence[LoadedResource],
    *,
    default_address: str,
    policy: host_policy.Policy | None = None,
) -> list[Problem]:
    """Every problem of the alerting resources Alertmanager would not report, each at its line."""
    problems: list[Problem] = []
    problems += _structure(alerting)
    metrics = _metrics_ports(containers, default_address)
    for loaded in alerting:
        for field, text in _templates_in(loaded):
            problems += _braces(loaded, field, text)
        if isinstance(loaded.resource, AlertReceiverResource):
            problems += _inline_secrets(loaded)
            problems += _metrics_urls(loaded, metrics, default_address)
            problems += _policy(loaded, policy)
    return problems


def at(
    loaded: LoadedResource, field: FieldPath, message: str, severity: Severity = Severity.ERROR
) -> Problem:
    return Problem(loaded.file, loaded.line_of(*field), loaded.key, dotted(field) or None, message, severity)


def _structure(alerting: Sequence[LoadedResource]) -> list[Problem]:
    problems: list[Problem] = []
    roots = [r for r in alerting if isinstance(r.resource, AlertRoutingResource)]
    names: dict[str, LoadedResource] = {}
    for loaded in receivers(alerting):
        first = names.setdefault(loaded.name, loaded)
        if first is not loaded:
            problems.append(
                at(
                    loaded,
                    ("metadata", "name"),
                    f"receiver {loaded.name!r} is also defined at {first.file}:{first.line}",
                )
            )
    for extra in roots[1:]:
        problems.append(
            at(
                extra,
                ("kind",),
                f"a desired state has one AlertRouting; {roots[0].key} is at {roots[0].file}:{roots[0].line}",
            )
        )
    if not roots:
        if names:
            first = receivers(alerting)[0]
            problems.append(
                at(
                    first,
                    ("kind",),
                    "AlertReceivers need an AlertRouting naming the default receiver (spec.receiver), "
                    "which takes the alerts no receiver's matchers take",
                )
            )
        return problems
    root = roots[0]
    default = routing_of(root).spec.receiver
    if default not in names:
        known = ", ".join(sorted(names)) or "none"
        problems.append(
            at(root, ("spec", "receiver"), f"no AlertReceiver is named {default!r} (receivers: {known})")
        )
    for i, template in enumerate(routing_of(root).spec.templates):
        path = template_path(root, template)
        if not (path.parent.exists() and any(path.parent.glob(path.name))):
            problems.append(
                at(root, ("spec", "templates", i), f"no template file {template} (looked for {path})")
            )
    return problems


def _templates_in(loaded: LoadedResource) -> list[tuple[FieldPath, str]]:
    """Every field holding a Go template, and the text of template files."""
    out: list[tuple[FieldPath, str]] = []
    resource = loaded.resource
    if isinstance(resource, AlertReceiverResource):
        for i, slack in enumerate(resource.spec.slack_configs):
            for name in ("channel", "username", "title", "text"):
                value = getattr(slack, name)
                if value is not None:
                    out.append((("spec", "slackConfigs", i, name), value))
        for i, mail in enumerate(resource.spec.email_configs):
            for name in ("html", "text", "to"):
                value = getattr(mail, name)
                if value is not None:
                    out.append((("spec", "emailConfigs", i, name), value))
            for header, value in mail.headers.items():
                out.append((("spec", "emailConfigs", i, "headers", header), value))
    elif isinstance(resource, AlertRoutingResource):
        for i, template in enumerate(resource.spec.templates):
            path = template_path(loaded, template)
            for file in sorted(path.parent.glob(path.name)) if path.parent.exists() else []:
                try:
                    out.append((("spec", "templates", i), file.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError):
                    continue  # amtool says what is wrong with the file
    return out


def single_braces(text: str) -> list[tuple[str, str]]:
    """`(as written, as meant)` for each Go template action written with single braces."""
    return [(m.group(0), "{{ " + m.group("body").strip() + " }}") for m in _SINGLE.finditer(text)]


def fix_braces(text: str) -> str:
    """`text` with each single-brace action doubled: `{ .X }` -> `{{ .X }}`."""
    return _SINGLE.sub(lambda m: "{{ " + m.group("body").strip() + " }}", text)


def _braces(loaded: LoadedResource, field: FieldPath, text: str) -> list[Problem]:
    found = single_braces(text)
    if not found:
        return []
    written, meant = found[0]
    more = f" ({len(found)} such actions here; fixed: {fix_braces(text)!r})" if len(found) > 1 else ""
    return [
        at(
            loaded,
            field,
            f"Go templates need double braces: {meant}; {written} is sent as written{more}",
        )
    ]


def _inline_secrets(loaded: LoadedResource) -> list[Problem]:
    problems = []
    for i, hook in enumerate(receiver_of(loaded).spec.webhook_configs):
        if hook.url is None:
            continue
        field = ("spec", "webhookConfigs", i, "url")
        why = url_secret(hook.url)
        if why is not None:
            problems.append(
                at(
                    loaded,
                    field,
                    f"this URL holds a secret ({why}); keep it out of the desired tree: put the URL "
                    "in a file (mode 0600) and write urlSecret: {file: PATH}, or {env: NAME}",
                )
            )
        problems += _url_shape(loaded, field, hook.url)
    return problems


def url_secret(url: str) -> str | None:
    """What in `url` is a secret (a password, a token parameter, a Slack hook), or None."""
    _, user, password = split_userinfo(url)
    if password or user:
        return "its user or password"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_name(name) or name.lower() in ("sig", "signature", "code"):
            return f"the {name} parameter"
    if parts.hostname == "hooks.slack.com" or _HOOK_TOKEN.search(parts.path):
        return "an incoming-webhook path, which is its own credential"
    return None


def _url_shape(loaded: LoadedResource, field: FieldPath, url: str) -> list[Problem]:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as err:
        return [at(loaded, field, f"not a URL: {err}")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [at(loaded, field, "should be an http:// or https:// URL with a host")]
    return []


def _metrics_ports(
    containers: Sequence[LoadedResource], default_address: str
) -> dict[int, tuple[LoadedResource, str, FieldPath]]:
    """Host port -> (resource, job, field) of each desired metrics endpoint."""
    out: dict[int, tuple[LoadedResource, str, FieldPath]] = {}
    for loaded in containers:
        if not isinstance(loaded.resource, ResourceBase):
            continue
        try:
            found = targets(loaded.resource, default_address)
        except TargetError:
            continue
        for target in found:
            out.setdefault(target.port, (loaded, target.job, target.field))
    return out


def _metrics_urls(
    loaded: LoadedResource, metrics: dict[int, tuple[LoadedResource, str, FieldPath]], default_address: str
) -> list[Problem]:
    problems = []
    for i, hook in enumerate(receiver_of(loaded).spec.webhook_configs):
        field: FieldPath = ("spec", "webhookConfigs", i, "url" if hook.url is not None else "urlSecret")
        url = hook.url if hook.url is not None else loaded.secret_env.get(dotted(field))
        if not url:
            continue
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        host = (parts.hostname or "").lower()
        hit = metrics.get(port)
        if hit is None or host not in (_LOCAL_HOSTS | {default_address.lower()}):
            continue
        other, job, target_field = hit
        shown = "the URL in urlSecret" if hook.url is None else url
        problems.append(
            at(
                loaded,
                field,
                f"{shown} points at host port {port}, which {other.key} publishes as its metrics "
                f"endpoint (scraped as job {job}, {other.file}:{other.line_of(*target_field)}): "
                "it serves /metrics, not alerts; point it at the receiver's own port",
            )
        )
    return problems


def _policy(loaded: LoadedResource, policy: host_policy.Policy | None) -> list[Problem]:
    if policy is None:
        return []
    problems = []
    for field, ref, _ in secret_fields(receiver_of(loaded)):
        if ref.file is not None and not host_policy._allowed_path(ref.file, policy.allowed_secret_files):
            allowed = ", ".join(policy.allowed_secret_files) or "empty"
            problems.append(
                at(
                    loaded,
                    (*field, "file"),
                    f"secret file {ref.file} is not in policy.allowed_secret_files ({allowed}); reading it is refused",
                )
            )
    return problems
