"""One tree of errors: each with its operation and location, and `terminal` when only a person can help."""

from __future__ import annotations

import pytest

from monop import errors
from monop.daemon.reconciler import podman_operation
from monop.errors import ActionError, GitError, MonopError, PodmanError, PodmanUnavailable


def test_every_error_class_is_a_monop_error_drawn_in_the_tree() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == errors.__name__
    ]
    assert len(classes) >= 9
    for cls in classes:
        assert issubclass(cls, MonopError)
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} is not drawn in monop.errors"


def test_the_old_homes_still_export_them() -> None:
    from monop.daemon.statestore import AlreadyRunning, StateDirUnusable
    from monop.desired.git import GitError as FromGit
    from monop.prometheus.rules import PrometheusUnreachable
    from monop.reconcile.execute import ActionError as FromExecute
    from monop.runtime.podman import PodmanError as FromPodman

    assert (FromGit, FromPodman, FromExecute) == (GitError, PodmanError, ActionError)
    assert (AlreadyRunning, StateDirUnusable, PrometheusUnreachable) == (
        errors.AlreadyRunning,
        errors.StateDirUnusable,
        errors.PrometheusUnreachable,
    )


@pytest.mark.parametrize(
    ("operation", "message", "terminal"),
    [
        ("pull", "invalid reference format: repository name must be lowercase", True),
        ("pull", "initializing source docker://x:1: reading manifest 1 in x: manifest unknown", True),
        ("pull", "reading manifest 1 in quay.io/x/y: name unknown: repository not found", True),
        (
            "pull",
            'pinging container registry localhost: Get "https://localhost/v2/": connection refused',
            False,
        ),
        ("pull", "net/http: TLS handshake timeout", False),
        ("create", "invalid reference format", True),
        (
            "create",
            "invalid config provided: cannot set hostname when running in the host UTS namespace",
            True,
        ),
        ("create", "localhost/monop-test/nope:1: image not known", False),
        ("start", "rootlessport listen tcp 0.0.0.0:8080: bind: address already in use", False),
        ("start", "invalid argument", False),
    ],
)
def test_terminal_is_what_no_retry_can_fix(operation: str, message: str, terminal: bool) -> None:
    error = PodmanError(operation, "web", message, 500)
    assert error.terminal is terminal
    assert (error.operation, error.location, str(error)) == (operation, "web", f"{operation} web: {message}")
    wrapped = ActionError(f"{error}; the previous container runs again", cause=error)
    assert wrapped.terminal is terminal
    assert (wrapped.operation, wrapped.location) == (operation, "web")


def test_the_failed_operation_is_the_podman_errors_own() -> None:
    assert podman_operation(PodmanError("rename", "web", "no such container")) == "rename"
    assert podman_operation(ActionError("x", cause=PodmanError("init", "web_monop-new", "boom"))) == "init"
    assert podman_operation(ActionError("did not keep running", operation="start", location="web")) is None
    assert not PodmanUnavailable("cannot reach Podman").terminal
    assert GitError("git fetch x: refused", operation="fetch", location="x").operation == "fetch"


def test_a_redacted_error_keeps_its_type_and_fields() -> None:
    error = PodmanError("create", "web", "exec: --password=hunter22: not found", 500)
    clean = error.redacted(lambda text: text.replace("hunter22", "<secret>"))
    assert type(clean) is PodmanError and clean is not error
    assert str(clean) == "create web: exec: --password=<secret>: not found"
    assert (clean.operation, clean.status) == ("create", 500)
    assert error.redacted(lambda text: text) is error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PodmanError("pull", "x:1", "manifest unknown"), "ImagePullFailed"),
        (PodmanError("pull", "x:1", "connection refused"), "ImagePullFailed"),
        (PodmanError("create", "web", "invalid config provided: no"), "InvalidSpec"),
        (PodmanError("create", "web", "image not known"), "CreateFailed"),
        (PodmanError("start", "web", "address already in use"), "StartFailed"),
        (ActionError("x", cause=PodmanError("create", "web", "invalid argument")), "InvalidSpec"),
        (ActionError("did not keep running", operation="start"), "StartFailed"),
        (GitError("git fetch x: refused", operation="fetch"), "GitOperationFailed"),
        (PodmanUnavailable("cannot reach Podman"), "PodmanUnavailable"),
    ],
)
def test_each_error_has_a_camel_case_reason(error: MonopError, reason: str) -> None:
    assert error.reason == reason
