"""AlertReceivers and the AlertRouting as `monop validate` reads them: the seed's mistakes, secrets, amtool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monop.desired.amconfig import render
from monop.desired.loader import load
from monop.desired.policy import Policy
from monop.errors import InvalidDesiredState, Problem, Severity

REPO = Path(__file__).resolve().parents[2]

ROUTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata:
  name: alertmanager
spec:
  receiver: {default}
"""

# The seed's two receivers, written as AlertReceivers the way a user copying them would.
SEED = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: critical-alerts
spec:
  matchers: [{name: severity, value: critical}]
  webhookConfigs:
    - url: 'http://host.containers.internal:9999/webhook/critical'
      sendResolved: true
      title: 'CRITICAL: { range .Alerts }{ .Annotations.summary }{ end }'
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: warning-alerts
spec:
  matchers: [{name: severity, value: warning}]
  webhookConfigs:
    - url: 'http://host.containers.internal:9999/webhook/warning'
      sendResolved: true
  slackConfigs:
    - apiURL: {env: MONOP_TEST_SLACK_URL}
      title: 'WARNING: { range .Alerts }{ .Annotations.summary }{ end }'
"""


def line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[nth]


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(InvalidDesiredState) as caught:
        load(path, check_rules=True, **kwargs)  # type: ignore[arg-type]
    return [p for p in caught.value.problems if p.severity is Severity.ERROR]


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> str:
    url = "https://chat.example.org/hooks/abcdefSECRET"
    monkeypatch.setenv("MONOP_TEST_SLACK_URL", url)
    return url


def test_the_seeds_three_mistakes_are_caught_at_their_lines(tmp_path: Path, slack_env: str) -> None:
    (tmp_path / "business.yaml").write_text((REPO / "desired" / "business.yaml").read_text())
    text = ROUTING.format(default="warning-alerts") + SEED
    (tmp_path / "receivers.yaml").write_text(text)
    found = {(p.line, p.field): p.message for p in problems_of(tmp_path)}

    # 1. webhook_configs has no title: refused at its line, as Alertmanager refuses it.
    title = (line_of(text, "title:"), "spec.webhookConfigs[0]")
    assert "unknown field 'title'" in found[title]
    # 2. Single braces: Go templates print them as written.
    slack_title = (line_of(text, "title:", 1), "spec.slackConfigs[0].title")
    assert found[slack_title].startswith("Go templates need double braces: {{ range .Alerts }}")
    # 3. Port 9999 is business-metrics' metrics endpoint, not a receiver.
    port = (line_of(text, ":9999/webhook/warning"), "spec.webhookConfigs[0].url")
    assert "host port 9999" in found[port] and "BusinessService/business-metrics" in found[port]
    assert "business.yaml:" in found[port]
    assert len(found) == 3, found
    assert slack_env not in str(found)


def test_a_template_file_with_single_braces_is_refused_at_the_templates_entry(tmp_path: Path) -> None:
    (tmp_path / "ops.tmpl").write_text('{{ define "ops.title" }}{ .CommonLabels.alertname }{{ end }}\n')
    url = "http://127.0.0.1:5001/x"
    text = ROUTING.format(default="ops") + "  templates: [ops.tmpl]\n" + RECEIVER_OK.format(url=url)
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert (problem.line, problem.field) == (line_of(text, "templates:"), "spec.templates[0]")
    assert "{{ .CommonLabels.alertname }}" in problem.message


RECEIVER_OK = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: ops
spec:
  webhookConfigs:
    - url: {url}
"""


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://alice:hunter22@hooks.example.org/alert", "its user or password"),
        ("https://hooks.example.org/alert?token=abc123", "the token parameter"),
        ("https://hooks.slack.com/services/T000/B000/XXXX", "incoming-webhook"),
        ("https://chat.example.org/hooks/x8fk2m9q0a7b3c5d", "incoming-webhook"),
    ],
)
def test_a_secret_written_into_a_url_is_refused(tmp_path: Path, url: str, what: str) -> None:
    text = ROUTING.format(default="ops") + RECEIVER_OK.format(url=url)
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert (problem.line, problem.field) == (line_of(text, "- url:"), "spec.webhookConfigs[0].url")
    assert what in problem.message and "urlSecret" in problem.message


def secret_receiver(path: str) -> str:
    return (
        ROUTING.format(default="ops")
        + f"""---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: ops
spec:
  webhookConfigs:
    - urlSecret: {{file: {path}}}
"""
    )


def test_a_secret_file_must_be_private_and_outside_the_tree(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    secret = tmp_path / "hook-url"
    secret.write_text("http://127.0.0.1:5001/hook?token=s3cr3t-value\n")
    os.chmod(secret, 0o644)
    text = secret_receiver(str(secret))
    (desired / "alerting.yaml").write_text(text)
    [problem] = problems_of(desired)
    assert problem.field == "spec.webhookConfigs[0].urlSecret"
    assert problem.line == line_of(text, "urlSecret")
    assert "chmod 600" in problem.message and "s3cr3t" not in problem.message

    os.chmod(secret, 0o600)
    state = load(desired, check_rules=True)
    assert "s3cr3t-value" not in render(state.alerting)  # what a person sees
    assert "s3cr3t-value" in render(state.alerting, reveal=True)  # what Alertmanager reads
    assert "s3cr3t" not in repr(state.alerting)

    inside = desired / "url.txt"
    inside.write_text("http://127.0.0.1:5001/x\n")
    os.chmod(inside, 0o600)
    (desired / "alerting.yaml").write_text(secret_receiver(str(inside)))
    [problem] = problems_of(desired)
    assert "inside the desired tree" in problem.message


def test_the_policy_decides_which_secret_files_may_be_read(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    secret = tmp_path / "hook-url"
    secret.write_text("http://127.0.0.1:5001/hook\n")
    os.chmod(secret, 0o600)
    (desired / "alerting.yaml").write_text(secret_receiver(str(secret)))
    [problem] = problems_of(desired, policy=Policy(allowed_secret_files=("/etc/monop/secrets",)))
    assert problem.field == "spec.webhookConfigs[0].urlSecret.file"
    assert "policy.allowed_secret_files" in problem.message
    load(desired, policy=Policy(allowed_secret_files=(str(tmp_path),)))


def test_an_unset_environment_variable_is_said_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONOP_TEST_SLACK_URL", raising=False)
    text = ROUTING.format(default="ops") + RECEIVER_SLACK
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert problem.field == "spec.slackConfigs[0].apiURL"
    assert "MONOP_TEST_SLACK_URL is not set" in problem.message


RECEIVER_SLACK = """\
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: ops
spec:
  slackConfigs:
    - apiURL: {env: MONOP_TEST_SLACK_URL}
      channel: '#ops'
"""


def test_amtools_refusal_without_a_line_is_put_at_the_integration_and_never_shows_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONOP_TEST_SLACK_URL", "http://bad host/SECRETPART")
    text = ROUTING.format(default="ops") + RECEIVER_SLACK
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert (problem.line, problem.field) == (line_of(text, "apiURL"), "spec.slackConfigs[0]")
    assert problem.message.startswith("amtool: ")
    assert "SECRETPART" not in problem.message


def test_receivers_need_a_routing_that_names_one_of_them(tmp_path: Path) -> None:
    (tmp_path / "alerting.yaml").write_text(
        RECEIVER_OK.format(url="http://127.0.0.1:5001/x").removeprefix("---\n")
    )
    [problem] = problems_of(tmp_path)
    assert "AlertRouting" in problem.message
    text = ROUTING.format(default="opz") + RECEIVER_OK.format(url="http://127.0.0.1:5001/x")
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert (problem.line, problem.field) == (line_of(text, "receiver: opz"), "spec.receiver")
    assert "no AlertReceiver is named 'opz'" in problem.message


def test_the_repositorys_desired_state_renders_a_config_amtool_accepts() -> None:
    state = load(REPO / "desired", check_rules=True)
    names = {r.name for r in state.alerting}
    assert {"critical-alerts", "warning-alerts"} <= names
    assert not [p for p in state.warnings if p.resource and p.resource.startswith("Alert")]


def test_every_integration_renders_what_amtool_accepts_with_file_secrets_left_to_alertmanager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONOP_TEST_SMTP_PASSWORD", "hunter2-smtp")
    text = (
        ROUTING.format(default="ops")
        + """\
  resolveTimeout: 5m
  inhibitRules:
    - sourceMatch: [{name: severity, value: critical}]
      targetMatch: [{name: severity, value: warning}]
      equal: [instance]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: ops
spec:
  groupBy: ['...']
  webhookConfigs:
    - {url: "http://127.0.0.1:5001/ops", sendResolved: false, maxAlerts: 10}
  emailConfigs:
    - to: ops@example.org
      from: alertmanager@example.org
      smarthost: smtp.example.org:587
      authUsername: alertmanager
      authPassword: {env: MONOP_TEST_SMTP_PASSWORD}
      headers: {Subject: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }}'}
    - to: oncall@example.org
      from: alertmanager@example.org
      smarthost: smtp.example.org:587
      authUsername: alertmanager
      authPassword: {file: /etc/monop/secrets/smtp-password}
  slackConfigs:
    - apiURL: {file: /etc/monop/secrets/slack-url}
      channel: '#ops'
      title: '{{ .CommonAnnotations.summary }}'
      sendResolved: true
"""
    )
    (tmp_path / "alerting.yaml").write_text(text)
    state = load(tmp_path, check_rules=True)  # amtool check-config passes on the revealed config
    shown, written = render(state.alerting), render(state.alerting, reveal=True)
    assert "hunter2-smtp" not in shown and "hunter2-smtp" in written
    # Alertmanager 0.25 reads these files itself: their paths are written, never their content.
    assert "api_url_file: /etc/monop/secrets/slack-url" in written
    assert "auth_password_file: /etc/monop/secrets/smtp-password" in written
    assert "group_by:\n    - '...'" in written or "- '...'" in written


def test_a_template_is_checked_when_the_tree_is_named_by_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """amtool runs on a config in a directory of its own: a relative template path matched nothing there."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "ops.tmpl").write_text('{{ define "ops.title" }}{{ if }}{{ end }}\n')
    text = (
        ROUTING.format(default="ops")
        + "  templates: [ops.tmpl]\n"
        + RECEIVER_OK.format(url="http://127.0.0.1:5001/x")
    )
    (tmp_path / "tree" / "alerting.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    [problem] = problems_of(Path("tree"))
    assert problem.message == "amtool: template: ops.tmpl:1: missing value for if"
    assert render(load(Path("tree")).alerting).count(str(tmp_path / "tree" / "ops.tmpl")) == 1


def test_a_template_amtool_cannot_parse_is_put_at_the_routing(tmp_path: Path) -> None:
    (tmp_path / "ops.tmpl").write_text('{{ define "ops.title" }}{{ if }}{{ end }}\n')
    url = "http://127.0.0.1:5001/x"
    text = ROUTING.format(default="ops") + "  templates: [ops.tmpl]\n" + RECEIVER_OK.format(url=url)
    (tmp_path / "alerting.yaml").write_text(text)
    [problem] = problems_of(tmp_path)
    assert (problem.resource, problem.field) == ("AlertRouting/alertmanager", "spec.templates[0]")
    assert problem.line == line_of(text, "templates:")
    assert problem.message == "amtool: template: ops.tmpl:1: missing value for if"
