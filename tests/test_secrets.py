"""Secrets as values: which values are secret, how they are masked, how a change still shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monop import secrets
from monop.reconcile.diff import spec_reasons
from monop.reconcile.plan import unit_secrets
from monop.runtime import ownership
from monop.runtime.container import ContainerConfig, Healthcheck


def config(**fields: object) -> ContainerConfig:
    return ContainerConfig(name="vault", image="localhost/vault:1", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "secret"),
    [
        ({"env": (("MYSQL_PWD", "pwd-value-1"),)}, "pwd-value-1"),
        ({"env": (("API_TOKEN", "tok-value-2"),)}, "tok-value-2"),
        ({"env": (("DATABASE_URL", "postgres://app:url-pass-3@db/app"),)}, "url-pass-3"),
        ({"env": (("REPO", "https://ghp-token-4@github.com/o/r.git"),)}, "ghp-token-4"),
        ({"args": ("--password=arg-pass-5",)}, "arg-pass-5"),
        ({"args": ("--web.auth-token", "two-item-6", "-v")}, "two-item-6"),
        ({"command": ("sh", "-c", "MYSQL_PWD=shell-pwd-7 mysql")}, "shell-pwd-7"),
        (
            {"healthcheck": Healthcheck(("CMD-SHELL", "curl -H 'Authorization: Bearer hc-bearer-8' x"))},
            "hc-bearer-8",
        ),
        (
            {"healthcheck": Healthcheck(("CMD", "curl", "-H", "Authorization: Basic hc-basic-9", "x"))},
            "hc-basic-9",
        ),
        ({"args": ("--client-secret", "sec-10")}, "sec-10"),
    ],
)
def test_each_kind_of_secret_is_found_and_kept_out_of_the_spec_label(
    fields: dict[str, object], secret: str
) -> None:
    made = config(**fields)
    found = unit_secrets(made)
    assert secret in found.values
    label = ownership.labels("BusinessService", made, "h", {}, None, found)[ownership.SPEC]
    assert secret not in label
    assert "<secret sha256:" in label


@pytest.mark.parametrize(
    ("env", "not_secret"),
    [
        (("PWD", "/srv/app"), "/srv/app"),  # the working directory, not a password
        (("PASSWORD_FILE", "/run/secrets/db"), "/run/secrets/db"),  # where a secret is, not the secret
        (("PORT", "9100"), "9100"),
    ],
)
def test_names_that_only_look_secret_are_left_alone(env: tuple[str, str], not_secret: str) -> None:
    assert not_secret not in unit_secrets(config(env=(env,))).values


def test_a_secret_is_masked_wherever_it_appears_again() -> None:
    found = secrets.collect([("DB_PASSWORD", "hunter2-xyz")])
    text = "connect --mirror-of=hunter2-xyz to db (password hunter2-xyz)"
    assert found.redact(text) == "connect --mirror-of=<secret> to db (password <secret>)"
    # A common word as a secret's value is not searched for everywhere, only masked where it stands.
    common = secrets.collect([("AUTH_ENABLED", "true")])
    assert common.redact("--allow_dynamic_housekeeping=true") == "--allow_dynamic_housekeeping=true"


def test_patterns_mask_secrets_nobody_declared() -> None:
    nothing = secrets.Secrets()
    assert (
        nothing.redact(
            "fetch https://u:p4ss@git.example.org/r.git: Authorization: Bearer abc.def --token=t0k"
        )
        == "fetch https://u:<secret>@git.example.org/r.git: Authorization: Bearer <secret> --token=<secret>"
    )
    assert (
        nothing.redact("plain text --housekeeping_interval=30s") == "plain text --housekeeping_interval=30s"
    )


@pytest.mark.parametrize(
    ("shell", "shown"),
    [
        # A variable reference names a secret without holding it: the command stays readable.
        ("echo token=$API_TOKEN; exit 1", "echo token=$API_TOKEN; exit 1"),
        ("curl -H 'Authorization: Bearer ${TOKEN}' x", "curl -H 'Authorization: Bearer ${TOKEN}' x"),
        # Shell punctuation ends a word, and so the value it holds.
        ("(exit code 1: token=hunter2), 1 in a row", "(exit code 1: token=<secret>), 1 in a row"),
        ("PASSWORD=hunter2;exit 1", "PASSWORD=<secret>;exit 1"),
        ("API_KEY=abc&&run", "API_KEY=<secret>&&run"),
    ],
)
def test_shell_text_masks_values_not_references(shell: str, shown: str) -> None:
    assert secrets.Secrets().redact(shell) == shown


def test_a_changed_secret_is_drift_shown_without_its_value() -> None:
    def record(**fields: object) -> dict[str, object]:
        made = config(**fields)
        stored = ownership.record(made, {}, unit_secrets(made))
        return json.loads(json.dumps(stored))  # as read back from the label

    before = record(env=(("DB_PASSWORD", "old-pass-1"),), args=("--password=old-arg-1", "-v"))
    after = record(env=(("DB_PASSWORD", "new-pass-2"),), args=("--password=new-arg-2",))
    shown = [str(r) for r in spec_reasons(before, after)]
    assert shown == [
        'args: ["--password=<secret>", "-v"] -> ["--password=<secret>"]',
        "env DB_PASSWORD: <secret changed>",
    ]
    only_secret = record(env=(("DB_PASSWORD", "new-pass-2"),), args=("--password=other-3", "-v"))
    assert [str(r) for r in spec_reasons(before, only_secret)] == [
        "args: <secret changed>",
        "env DB_PASSWORD: <secret changed>",
    ]


@pytest.mark.parametrize(
    ("url", "public", "user", "password"),
    [
        ("https://ada:p%40ss@git.example.org/r.git", "https://git.example.org/r.git", "ada", "p@ss"),
        ("https://ghp_token@github.com/o/r.git", "https://github.com/o/r.git", "ghp_token", None),
        ("ssh://git@host/r.git", "ssh://git@host/r.git", None, None),
        ("git@github.com:o/r.git", "git@github.com:o/r.git", None, None),
        ("/srv/stack", "/srv/stack", None, None),
    ],
)
def test_userinfo_is_split_off_a_git_url(
    url: str, public: str, user: str | None, password: str | None
) -> None:
    assert secrets.split_userinfo(url) == (public, user, password)


def test_the_log_carries_no_remembered_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from monop import log

    secrets.remember(secrets.collect([("SESSION_KEY", "remembered-4242")]))
    log.configure(json=True)
    try:
        log.get(resource="BusinessService/vault").error(
            "container_create_failed", error="exec --key remembered-4242 failed", url="http://u:pw-99@h/"
        )
    finally:
        log.configure()
    err = capsys.readouterr().err
    assert "remembered-4242" not in err and "pw-99" not in err
    assert '"error": "exec --key <secret> failed"' in err
