"""Secrets in a real container, under a real `monop run`: the container gets them, nothing else does.

One container carries every kind of secret monop knows: a secret-named variable, MYSQL_PWD,
a DATABASE_URL with a password, `--password=` and `--token VALUE` arguments, an
`Authorization: Bearer` header in its healthcheck, a repeat of a secret in an argument,
and a variable from a `secretEnvFrom` file. None of their text may appear in the
container's labels, `monop plan`, `monop status --json`, the daemon's log or its state files.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop_testbed import images
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19720
SECRETS = {
    "name": "namesecret-2w9q",
    "mysql": "mysqlpwd-7c3v",
    "url": "urlpass-4k8d",
    "arg": "argpass-5m1z",
    "token": "argtoken-6p2x",
    "bearer": "bearer-7r5t",
    "file": "filesecret-1a4b",
}
CHANGED = {"name": "namesecret-new-8h3j", "file": "filesecret-new-9g6f"}

SPEC = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: vault
spec:
  image: {image}
  env:
    PORT: "{port}"
    METRICS: "{metrics}"
    DB_PASSWORD: "{name}"
    MYSQL_PWD: "{mysql}"
    DATABASE_URL: "postgres://app:{url}@db.internal:5432/app"
  args: ["--password={arg}", "--token", "{token}", "--mirror-of={name}"]
  healthcheck:
    test: "wget -q -O- --header 'Authorization: Bearer {bearer}' http://127.0.0.1:{port}/healthz"
    interval: 1h
{env_from}  ports: ["127.0.0.1:{port}:{port}"]
"""


def write_desired(tree: Path, env_file: Path | None, metrics: str = "app_up 1", **secrets: str) -> None:
    tree.mkdir(parents=True, exist_ok=True)
    values = {**SECRETS, **secrets}
    env_from = f"  secretEnvFrom: {env_file}\n" if env_file else ""
    (tree / "vault.yaml").write_text(
        SPEC.format(image=images.METRICS, port=PORT, metrics=metrics, env_from=env_from, **values)
    )


def write_env_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# secrets of the vault service\nFILE_API_KEY_VALUE={value}\nSHARED_WITH=nobody\n")
    path.chmod(0o600)


def inspect(service: PodmanService, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(service.podman("inspect", name, "--format", "json").stdout)[0]
    return data


def env(service: PodmanService, name: str) -> dict[str, str]:
    """The container's environment; empty while there is no such container (mid-recreate)."""
    done = service.podman("inspect", name, "--format", "json", check=False)
    if done.returncode != 0:
        return {}
    return dict(item.partition("=")[::2] for item in json.loads(done.stdout)[0]["Config"]["Env"])


def leaked(text: str, values: object) -> list[str]:
    return [v for v in values if v in text]  # type: ignore[attr-defined]


@pytest.fixture
def secret_daemon(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> Iterator[tuple[DaemonProcess, Path, Path]]:
    env_file = tmp_path / "etc" / "vault.env"
    write_env_file(env_file, SECRETS["file"])
    desired = tmp_path / "desired"
    write_desired(desired, env_file)
    with DaemonProcess(podman_service.url, desired, tmp_path / "state") as daemon:
        daemon.wait_ready()
        wait_for(
            lambda: podman_service.podman("ps", "-q", "--filter", "name=vault").stdout.strip(),
            60,
            "the daemon to create vault",
        )
        yield daemon, desired, env_file


def test_secrets_reach_the_container_and_nothing_else(
    secret_daemon: tuple[DaemonProcess, Path, Path], podman_service: PodmanService, tmp_path: Path
) -> None:
    daemon, desired, env_file = secret_daemon
    values = list(SECRETS.values()) + list(CHANGED.values())

    # The container has every real value.
    live = env(podman_service, "vault")
    assert live["DB_PASSWORD"] == SECRETS["name"]
    assert live["MYSQL_PWD"] == SECRETS["mysql"]
    assert live["DATABASE_URL"] == f"postgres://app:{SECRETS['url']}@db.internal:5432/app"
    assert live["FILE_API_KEY_VALUE"] == SECRETS["file"]
    config = inspect(podman_service, "vault")["Config"]
    assert isinstance(config, dict)
    assert SECRETS["arg"] in " ".join(config["Cmd"]) and SECRETS["token"] in config["Cmd"]
    # ... and its labels none.
    labels = json.dumps(config["Labels"])
    assert leaked(labels, SECRETS.values()) == []
    spec = json.loads(config["Labels"]["monop.dev/spec"])
    assert spec["args"][0].startswith("--password=<secret sha256:")

    # A changed desired state, seen by `plan` and `status --json` before it is applied.
    changed = tmp_path / "changed"
    write_env_file(tmp_path / "etc2" / "vault.env", CHANGED["file"])
    write_desired(changed, tmp_path / "etc2" / "vault.env", metrics="app_up 2", name=CHANGED["name"])
    plan = subprocess.run(
        [sys.executable, "-m", "monop", "plan", "-d", str(changed)],
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=60,
    )
    assert plan.returncode == 1, plan.stderr
    assert leaked(plan.stdout + plan.stderr, values) == []
    assert "env DB_PASSWORD: <secret changed>" in plan.stdout
    assert "env FILE_API_KEY_VALUE: <secret changed>" in plan.stdout
    assert "args: <secret changed>" in plan.stdout
    status = daemon.monop("status", "--json", "-d", str(changed))
    assert status.returncode == 1, status.stderr
    assert leaked(status.stdout + status.stderr, values) == []
    assert "<secret changed>" in status.stdout

    # The change applied by the daemon: the desired file, then the secret file (on SIGHUP).
    write_desired(desired, env_file, metrics="app_up 2", name=CHANGED["name"])
    wait_for(lambda: env(podman_service, "vault").get("DB_PASSWORD") == CHANGED["name"], 60, "new password")
    write_env_file(env_file, CHANGED["file"])
    daemon.send(signal.SIGHUP)
    wait_for(
        lambda: env(podman_service, "vault").get("FILE_API_KEY_VALUE") == CHANGED["file"],
        60,
        "the secret file's new value in the container",
    )
    recreated = daemon.wait_event("container_recreated", resource="BusinessService/vault")
    assert "env DB_PASSWORD: <secret changed>" in recreated["reason"]
    labels = json.dumps(inspect(podman_service, "vault")["Config"]["Labels"])  # type: ignore[index]
    assert leaked(labels, values) == []

    daemon.stop()
    log = "\n".join(json.dumps(line) for line in daemon.logs)
    assert "container_recreated" in log
    assert leaked(log, values) == []
    for path in daemon.state_dir.rglob("*"):
        if path.is_file():
            assert leaked(path.read_text(errors="replace"), values) == [], path


def test_state_files_are_private_and_prometheus_files_readable(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    write_desired(tmp_path / "desired", None)
    with DaemonProcess(podman_service.url, tmp_path / "desired", tmp_path / "state") as daemon:
        daemon.wait_ready()
        daemon.wait_event("container_created", resource="BusinessService/vault")
        labels = json.dumps(inspect(podman_service, "vault")["Config"]["Labels"])  # type: ignore[index]
    assert leaked(labels, SECRETS.values()) == []
    state = daemon.state_dir
    wait_for(lambda: (state / "file_sd").is_dir() and any((state / "file_sd").iterdir()), 30, "sd files")

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    # Prometheus's file_sd directory lies inside: the state directory lets it pass, not list.
    assert mode(state) == 0o711
    assert mode(state / "status.json") == 0o600
    assert mode(state / "monop.lock") == 0o600
    assert mode(state / "file_sd") == 0o755
    assert {mode(p) for p in (state / "file_sd").iterdir()} == {0o644}
