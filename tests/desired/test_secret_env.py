"""`secretEnvFrom`: secrets read from a root-only file outside the desired tree, never quoted back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState, Severity
from monop.reconcile.plan import unit

SECRET = "s3cr3t-value-from-file"
SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: vault
spec:
  image: localhost/vault:1
  env:
    SHARED: from-env
  secretEnvFrom: {files}
"""


def tree(tmp_path: Path, files: str) -> Path:
    desired = tmp_path / "desired"
    desired.mkdir(exist_ok=True)
    (desired / "vault.yaml").write_text(SERVICE.format(files=files))
    return desired


def env_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidDesiredState) as err:
        load(path)
    return [str(p) for p in err.value.problems if p.severity is Severity.ERROR]


def test_values_from_the_file_reach_the_container_and_env_wins(tmp_path: Path) -> None:
    first = env_file(tmp_path / "etc" / "a.env", f"# comment\n\nDB_URL={SECRET}=x\nSHARED=from-file\n")
    second = env_file(tmp_path / "etc" / "b.env", "PLAIN_LOOKING=abcd-1234\n", mode=0o400)
    state = load(tree(tmp_path, f"[{first}, {second}]"))
    made = unit(state.resources[0])
    assert dict(made.config.env) == {
        "DB_URL": f"{SECRET}=x",  # literal to the end of the line, as podman --env-file
        "SHARED": "from-env",
        "PLAIN_LOOKING": "abcd-1234",
    }
    # Every value from the file is a secret, whatever its variable is called.
    assert SECRET not in made.labels["monop.dev/spec"]
    assert "abcd-1234" not in made.labels["monop.dev/spec"]
    assert SECRET not in repr(state)


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        (
            f"TOKEN={SECRET}\n",
            0o644,
            "group or others may read or write it (mode 0644); it holds secrets: chmod 600",
        ),
        (f"TOKEN={SECRET}\n", 0o640, "group or others may read or write it (mode 0640)"),
        (f"TOKEN={SECRET}\n{SECRET}\n", 0o600, ":2: not a NAME=VALUE line"),
        (f"{SECRET} X=1\n", 0o600, ":1: the part before '=' is not an environment variable name"),
        (f"A=1\nA={SECRET}\n", 0o600, ":2: A is given again (first on line 1)"),
    ],
)
def test_a_bad_secret_file_is_a_located_error_that_quotes_no_value(
    tmp_path: Path, text: str, mode: int, says: str
) -> None:
    path = env_file(tmp_path / "etc" / "vault.env", text, mode)
    desired = tree(tmp_path, str(path))
    [problem] = problems_of(desired)
    assert problem.startswith(f"{desired}/vault.yaml:9: BusinessService/vault: spec.secretEnvFrom[0]: {path}")
    assert says in problem
    assert SECRET not in problem


def test_a_secret_file_inside_the_desired_tree_or_relative_or_missing_is_refused(tmp_path: Path) -> None:
    inside = env_file(tmp_path / "desired" / "secrets" / "vault.env", f"TOKEN={SECRET}\n")
    assert problems_of(tree(tmp_path, str(inside))) == [
        f"{tmp_path}/desired/vault.yaml:9: BusinessService/vault: spec.secretEnvFrom[0]: {inside}: "
        "inside the desired tree; keep secrets outside it (and out of git)"
    ]
    assert problems_of(tree(tmp_path, "secrets/vault.env")) == [
        f"{tmp_path}/desired/vault.yaml:9: BusinessService/vault: spec.secretEnvFrom: "
        "'secrets/vault.env' must be an absolute path outside the desired tree"
    ]
    assert problems_of(tree(tmp_path, "/nonexistent/vault.env")) == [
        f"{tmp_path}/desired/vault.yaml:9: BusinessService/vault: spec.secretEnvFrom[0]: "
        "/nonexistent/vault.env: cannot read: No such file or directory"
    ]


def test_validate_refuses_a_world_readable_secret_file(tmp_path: Path) -> None:
    path = env_file(tmp_path / "etc" / "vault.env", f"TOKEN={SECRET}\n", mode=0o644)
    desired = tree(tmp_path, str(path))
    done = subprocess.run(
        [sys.executable, "-m", "monop", "validate", str(desired)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert (
        f"vault.yaml:9: BusinessService/vault: spec.secretEnvFrom[0]: {path}: group or others" in done.stderr
    )
    assert SECRET not in done.stdout + done.stderr


def test_a_directory_named_as_a_secret_file_is_a_located_error(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "etc" / "secrets"
    secrets_dir.mkdir(parents=True)
    assert problems_of(tree(tmp_path, str(secrets_dir))) == [
        f"{tmp_path}/desired/vault.yaml:9: BusinessService/vault: spec.secretEnvFrom[0]: "
        f"{secrets_dir}: not a regular file"
    ]
