"""The `policy` setting refuses privileged containers, host paths outside its list, added
capabilities and devices, as located errors: at `validate`, `apply` and the daemon's load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService

SEED_POLICY = {"allowed_host_paths": ["/sys", "/proc"], "allowed_devices": ["/dev/nvidia*"]}


def monop(*args: str, policy: object = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if policy is not None:
        env["MONOP_POLICY"] = json.dumps(policy)
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def located(result: subprocess.CompletedProcess[str]) -> list[tuple[str, int | None, str | None, str | None]]:
    report = json.loads(result.stdout)
    return [
        (Path(p["file"]).name, p["line"], p["resource"], p["field"])
        for p in report["problems"]
        if p["severity"] == "error"
    ]


def exporter(tree: Path, name: str, spec: str) -> None:
    tree.mkdir(parents=True, exist_ok=True)
    (tree / f"{name}.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: Exporter\n"
        f"metadata:\n  name: {name}\nspec:\n  image: docker.io/prom/node-exporter:v1.8.2\n"
        f"  ports: ['127.0.0.1:9100:9100']\n{spec}"
    )


def test_the_seed_stack_under_a_policy_is_refused_field_by_field(repo: Path) -> None:
    assert monop("validate", "--json", str(repo / "desired")).returncode == 0  # no policy: as before
    result = monop("validate", "--json", str(repo / "desired"), policy=SEED_POLICY)
    assert result.returncode == 1
    assert located(result) == [
        ("cadvisor.yaml", 17, "CAdvisor/cadvisor", "spec.privileged"),
        ("cadvisor.yaml", 17, "CAdvisor/cadvisor", "spec.volumes[0].hostPath"),
        ("cadvisor.yaml", 17, "CAdvisor/cadvisor", "spec.volumes[1].hostPath"),
        ("cadvisor.yaml", 17, "CAdvisor/cadvisor", "spec.volumes[3].hostPath"),
        ("cadvisor.yaml", 17, "CAdvisor/cadvisor", "spec.volumes[4].hostPath"),
        ("node-exporter.yaml", 15, "Exporter/node-exporter", "spec.volumes[0].hostPath"),
        # Prometheus's and Alertmanager's data, and monop's own rule, target and Alertmanager
        # directories, mounted by Prometheus and Alertmanager
        ("prometheus.yaml", 28, "BusinessService/prometheus", "spec.volumes[0].hostPath"),
        ("prometheus.yaml", 30, "BusinessService/prometheus", "spec.volumes[2].hostPath"),
        ("prometheus.yaml", 31, "BusinessService/prometheus", "spec.volumes[3].hostPath"),
        ("prometheus.yaml", 57, "BusinessService/alertmanager", "spec.volumes[0].hostPath"),
        ("prometheus.yaml", 58, "BusinessService/alertmanager", "spec.volumes[1].hostPath"),
    ]
    messages = [p["message"] for p in json.loads(result.stdout)["problems"] if p["severity"] == "error"]
    assert messages[0].startswith("runs privileged (the CAdvisor default), which is root on the host")
    assert "/run/podman/podman.sock" in messages[3]
    # What the team decides to allow, it allows.
    everything = {"allow_privileged": True, "allowed_host_paths": ["/"], "allowed_devices": ["/dev/nvidia*"]}
    assert monop("validate", str(repo / "desired"), policy=everything).returncode == 0


def test_host_paths_are_judged_after_dots_and_symlinks_and_tree_files_are_allowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "escape").symlink_to("/etc")
    tree = tmp_path / "desired"
    (tree / "conf").mkdir(parents=True)
    (tree / "conf" / "exporter.yml").write_text("a: 1\n")
    volumes = [
        f"{data}/sub:/data:ro",  # allowed
        f"{data}/../../etc:/etc2:ro",  # /etc, written to look as if under data
        f"{data}/escape:/etc3:ro",  # a symlink inside data to /etc
        "conf/exporter.yml:/etc/exporter.yml:ro",  # a file of the desired tree
    ]
    exporter(tree, "paths", "  volumes:\n" + "".join(f"    - {v}\n" for v in volumes))
    result = monop("validate", "--json", str(tree), policy={"allowed_host_paths": [str(data)]})
    assert located(result) == [
        ("paths.yaml", 10, "Exporter/paths", "spec.volumes[1].hostPath"),
        ("paths.yaml", 11, "Exporter/paths", "spec.volumes[2].hostPath"),
    ]


def test_capabilities_and_devices_only_as_the_policy_lists_them(tmp_path: Path) -> None:
    spec = (
        "  capabilities:\n    add: [net_raw, SYS_ADMIN]\n    drop: [ALL]\n"
        "  devices:\n    - /dev/nvidia0:/dev/nvidia0:rwm\n    - /dev/kmsg\n"
    )
    exporter(tmp_path, "caps", spec)
    policy = {"allowed_capabilities": ["CAP_NET_RAW"], "allowed_devices": ["/dev/nvidia*"]}
    result = monop("validate", "--json", str(tmp_path), policy=policy)
    assert result.returncode == 1
    assert located(result) == [
        ("caps.yaml", 9, "Exporter/caps", "spec.capabilities.add[1]"),
        ("caps.yaml", 13, "Exporter/caps", "spec.devices[1]"),
    ]
    assert (
        monop(
            "validate",
            str(tmp_path),
            policy={**policy, "allowed_capabilities": ["ALL"], "allowed_devices": ["/dev/*"]},
        ).returncode
        == 0
    )


def test_a_wrong_policy_is_a_clear_settings_error(tmp_path: Path) -> None:
    exporter(tmp_path, "x", "")
    result = monop("validate", str(tmp_path), policy={"allowed_host_paths": ["srv"]})
    assert result.returncode == 2
    assert result.stderr.strip() == "monop: setting policy.allowed_host_paths: 'srv' is not an absolute path"
    config = tmp_path / "config.yaml"
    config.write_text("policy:\n  allow_privilege: true\n")
    result = monop("--config", str(config), "validate", str(tmp_path))
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"monop: setting policy.allow_privilege (in {config}): unknown setting",
    )


@pytest.mark.podman
def test_apply_and_the_daemon_refuse_what_the_policy_refuses(
    tmp_path: Path, podman: object, podman_service: PodmanService
) -> None:
    from monop_testbed import images

    tree = tmp_path / "desired"
    tree.mkdir()
    (tree / "root.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\nmetadata:\n  name: rooted\n"
        f"spec:\n  image: {images.METRICS}\n  privileged: true\n  scrape: {{port: 19580}}\n"
        '  env: {PORT: "19580"}\n  ports: ["127.0.0.1:19580:19580"]\n'
    )
    policy = json.dumps({"allowed_host_paths": []})
    env = {
        **os.environ,
        "MONOP_PODMAN_URL": podman_service.url,
        "MONOP_POLICY": policy,
        "MONOP_STATE_DIR": str(tmp_path / "apply"),
    }
    applied = subprocess.run(
        [sys.executable, "-m", "monop", "apply", "-d", str(tree)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert applied.returncode != 0
    assert "nothing was changed" in applied.stderr
    assert (
        "root.yaml:7: BusinessService/rooted: spec.privileged: runs privileged, which is root"
        in applied.stderr
    )
    assert podman_service.containers() == []
    daemon = DaemonProcess(podman_service.url, tree, tmp_path / "state", extra_env={"MONOP_POLICY": policy})
    with daemon:
        rejected = daemon.wait_event("desired_state_rejected")
        assert any("spec.privileged" in str(problem) for problem in rejected["problems"])
        assert podman_service.containers() == []
        # The fix is applied at the next save, as any valid edit.
        (tree / "root.yaml").write_text(
            (tree / "root.yaml").read_text().replace("privileged: true", "privileged: false")
        )
        daemon.wait_event("container_created", timeout=60)


def test_secret_files_only_from_where_the_policy_allows(tmp_path: Path) -> None:
    """A committer could otherwise hand any root-only env file (monop's own git.env) to a container."""
    etc = tmp_path / "etc"
    for name in ("team-a.env", "git.env"):
        (etc / "secrets").mkdir(parents=True, exist_ok=True)
        path = etc / "secrets" / name if name != "git.env" else etc / name
        path.write_text("TOKEN=x\n")
        path.chmod(0o600)
    desired = tmp_path / "desired"
    exporter(desired, "app", f"  secretEnvFrom: [{etc}/secrets/team-a.env, {etc}/git.env]\n")
    result = monop(
        "validate", "--json", str(desired), policy={"allowed_secret_files": [str(etc / "secrets")]}
    )
    assert result.returncode == 1
    assert located(result) == [("app.yaml", 8, "Exporter/app", "spec.secretEnvFrom[1]")]
    assert "policy.allowed_secret_files" in result.stdout
