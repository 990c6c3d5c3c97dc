"""`monop apply`, `plan` and `status` against a real Podman: converge, repair, prune, leave strangers alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monop_testbed import images
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman


def monop(podman_service: PodmanService, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONOP_PODMAN_URL": podman_service.url}
    return subprocess.run(
        [sys.executable, "-m", "monop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def ids(podman_service: PodmanService) -> dict[str, str]:
    return {c["Names"][0]: c["Id"][:12] for c in podman_service.containers()}


def table_rows(stdout: str) -> list[str]:
    """The rows of `monop status`'s table: after the header, before the blank line and the daemon line."""
    table, _, daemon = stdout.partition("\n\n")
    assert daemon.startswith("daemon: ")
    return table.splitlines()[1:]


@pytest.fixture
def tree(tmp_path: Path, podman: object) -> Path:
    desired = tmp_path / "desired"
    for i, name in enumerate(["alpha", "beta", "gamma"]):
        write_service(desired, name, 19200 + i)
    return desired


@pytest.fixture(autouse=True)
def own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's apply writes its Prometheus target files into its own directory."""
    monkeypatch.setenv("MONOP_SD_DIR", str(tmp_path / "file_sd"))
    monkeypatch.setenv("MONOP_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("MONOP_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_converge_from_empty_then_nothing_to_do(
    tree: Path, podman_service: PodmanService, own_files: Path
) -> None:
    first = monop(podman_service, "apply", "-d", str(tree))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines if not line.startswith("updated ")) == [
        "create BusinessService/alpha",
        "create BusinessService/beta",
        "create BusinessService/gamma",
    ]
    # What Prometheus is to scrape is written too, as the daemon would.
    assert sorted(line for line in lines if line.startswith("updated ")) == [
        f"updated {own_files}/file_sd/{job}.json" for job in ("alpha", "beta", "gamma", "monop")
    ]
    assert set(ids(podman_service)) == {"alpha", "beta", "gamma"}
    second = monop(podman_service, "apply", "-d", str(tree))
    assert (second.returncode, second.stdout) == (0, "nothing to do: everything is in sync\n")
    status = monop(podman_service, "status", "-d", str(tree), "--json")
    assert status.returncode == 0
    assert {r["name"]: r["state"] for r in json.loads(status.stdout)["resources"]} == dict.fromkeys(
        ["alpha", "beta", "gamma"], "InSync"
    )


def test_one_changed_env_var_recreates_exactly_that_container(
    tree: Path, podman_service: PodmanService
) -> None:
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    before = ids(podman_service)
    beta = tree / "beta.yaml"
    beta.write_text(beta.read_text().replace("app_up 1", "app_up 2"))
    plan = monop(podman_service, "plan", "-d", str(tree))
    assert (plan.returncode, plan.stdout) == (
        1,
        '[1] recreate BusinessService/beta: env METRICS: "app_up 1" -> "app_up 2"\n',
    )
    status = monop(podman_service, "status", "-d", str(tree))
    assert status.returncode == 1
    assert [line.split()[:3] for line in table_rows(status.stdout)] == [
        ["BusinessService", "alpha", "InSync"],
        ["BusinessService", "beta", "Drifted"],
        ["BusinessService", "gamma", "InSync"],
    ]
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    after = ids(podman_service)
    assert after["alpha"] == before["alpha"] and after["gamma"] == before["gamma"]
    assert after["beta"] != before["beta"]
    env = podman_service.podman("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", "beta").stdout
    assert "METRICS=app_up 2" in env.splitlines()


def test_a_killed_container_is_started_again(tree: Path, podman_service: PodmanService) -> None:
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    podman_service.podman("kill", "gamma")
    wait_for(
        lambda: "exited" in podman_service.podman("inspect", "-f", "{{.State.Status}}", "gamma").stdout,
        10,
        "gamma to exit",
    )
    plan = monop(podman_service, "plan", "-d", str(tree))
    assert plan.stdout.startswith("[1] start BusinessService/gamma: state: exited (code 137) -> running")
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    assert podman_service.podman("inspect", "-f", "{{.State.Status}}", "gamma").stdout.strip() == "running"


def test_a_removed_resource_is_pruned_unless_told_not_to(tree: Path, podman_service: PodmanService) -> None:
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    (tree / "gamma.yaml").unlink()
    kept = monop(podman_service, "apply", "--no-prune", "-d", str(tree))
    assert kept.returncode == 1  # the orphan is still there, so not in sync
    assert "gamma" in ids(podman_service)
    pruned = monop(podman_service, "apply", "-d", str(tree))
    assert pruned.returncode == 0
    assert pruned.stdout.startswith("remove BusinessService/gamma: ok")
    assert set(ids(podman_service)) == {"alpha", "beta"}


def test_a_container_monop_does_not_own_is_reported_and_left_alone(
    tree: Path, podman_service: PodmanService
) -> None:
    podman_service.podman("run", "-d", "--name", "beta", images.BUSYBOX, "sleep", "600")
    stranger = ids(podman_service)["beta"]
    result = monop(podman_service, "apply", "-d", str(tree))
    assert result.returncode == 1
    assert (
        "BusinessService/beta: Conflict: a container named beta exists that monop does not manage"
        in result.stderr
    )
    assert ids(podman_service)["beta"] == stranger
    assert (
        podman_service.podman("inspect", "-f", "{{.Config.Image}}", "beta").stdout.strip() == images.BUSYBOX
    )
    status = monop(podman_service, "status", "-d", str(tree))
    assert [line.split()[2] for line in table_rows(status.stdout)] == ["InSync", "Conflict", "InSync"]


def test_a_missing_image_fails_that_unit_only(tree: Path, podman_service: PodmanService) -> None:
    write_service(tree, "broken", 19299, image="localhost/monop-test/absent:1").write_text(
        (tree / "broken.yaml").read_text().replace("  env:", "  pullPolicy: Never\n  env:")
    )
    result = monop(podman_service, "apply", "-d", str(tree), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    outcomes = {a["resource"]: a for a in report["actions"]}
    assert outcomes["BusinessService/broken"]["ok"] is False
    assert (
        "image localhost/monop-test/absent:1 is not present and pullPolicy is Never"
        in outcomes["BusinessService/broken"]["error"]
    )
    assert all(a["ok"] for key, a in outcomes.items() if key != "BusinessService/broken")
    assert set(ids(podman_service)) == {"alpha", "beta", "gamma"}


def test_a_failed_pull_on_recreate_leaves_the_old_container_running(
    tree: Path, podman_service: PodmanService
) -> None:
    assert monop(podman_service, "apply", "-d", str(tree)).returncode == 0
    before = ids(podman_service)["alpha"]
    # No registry is reachable, so this pull fails, as a typo'd tag would.
    write_service(tree, "alpha", 19200, image="localhost/monop-test/metrics:does-not-exist")
    result = monop(podman_service, "apply", "-d", str(tree))
    assert result.returncode == 1
    assert "recreate BusinessService/alpha: FAILED" in result.stdout
    assert ids(podman_service)["alpha"] == before
    assert podman_service.podman("inspect", "-f", "{{.State.Status}}", "alpha").stdout.strip() == "running"


def test_podman_unreachable_is_one_line_and_exit_3(tree: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MONOP_PODMAN_URL": f"unix://{tmp_path}/nothing.sock"}
    for command in ("status", "get", "describe", "plan", "diff", "apply"):
        args = [command, "BusinessService/alpha"] if command == "describe" else [command]
        result = subprocess.run(
            [sys.executable, "-m", "monop", *args, "-d", str(tree)], capture_output=True, text=True, env=env
        )
        assert result.returncode == 3, command
        assert result.stderr.splitlines() == [
            f"monop: cannot reach Podman at unix://{tmp_path}/nothing.sock: [Errno 2] No such file or directory"
        ]


def test_an_invalid_desired_state_is_never_applied(tree: Path, podman_service: PodmanService) -> None:
    write_service(tree, "bad", 99999)
    result = monop(podman_service, "apply", "-d", str(tree))
    assert result.returncode == 1
    assert "host port 99999 is not in 1..65535" in result.stderr
    assert ids(podman_service) == {}


def test_apply_writes_rule_files_and_refuses_a_broken_group(
    tree: Path, podman_service: PodmanService, own_files: Path
) -> None:
    group = "apiVersion: monop.dev/v1alpha1\nkind: AlertRuleGroup\nmetadata: {{name: g}}\nspec:\n  rules:\n    - {{alert: A, expr: '{expr}'}}\n"
    (tree / "rules.yaml").write_text(group.format(expr="up == == 0"))
    broken = monop(podman_service, "apply", "-d", str(tree))
    assert broken.returncode == 1
    assert "AlertRuleGroup/g: Rejected: " in broken.stderr and "parse error" in broken.stderr
    assert not (own_files / "rules" / "g.yml").exists()
    (tree / "rules.yaml").write_text(group.format(expr="up == 0"))
    fixed = monop(podman_service, "apply", "-d", str(tree))
    assert fixed.returncode == 0, fixed.stderr
    assert f"updated {own_files}/rules/g.yml" in fixed.stdout.splitlines()
    status = monop(podman_service, "status", "-d", str(tree), "--json")
    assert json.loads(status.stdout)["ruleGroups"] == [{"name": "g", "state": "Written", "error": None}]
