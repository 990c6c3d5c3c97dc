"""A git repository as the desired state: real repositories, a real daemon, real Podman."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monop.daemon.webhook import signature
from monop_testbed.daemon import DaemonProcess
from monop_testbed.desired import write_service
from monop_testbed.faults import FaultRecord
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

PORT = 19500
SECRET = "s3cret"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Ops",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Ops",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}


class Repo:
    """A user's working repository with desired/ in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.desired = path / "desired"
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **GIT_ENV},
        )
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")


def label(service: PodmanService, name: str, key: str) -> str:
    out = service.podman("inspect", name, "--format", "json").stdout
    return json.loads(out)[0]["Config"]["Labels"].get(key, "")


def ids(service: PodmanService) -> dict[str, str]:
    return {c["Names"][0]: c["Id"][:12] for c in service.containers()}


def env_of(service: PodmanService, name: str) -> str | None:
    done = service.podman("inspect", name, "--format", "json", check=False)
    if done.returncode != 0:
        return None
    env = dict(item.partition("=")[::2] for item in json.loads(done.stdout)[0]["Config"]["Env"])
    return env.get("METRICS")


@pytest.fixture
def repo(tmp_path: Path, podman: object) -> Repo:
    r = Repo(tmp_path / "work")
    write_service(r.desired, "alpha", PORT, metrics="app_up 1")
    write_service(r.desired, "beta", PORT + 1, metrics="app_up 1")
    r.first = r.commit("alpha and beta")  # type: ignore[attr-defined]
    return r


def daemon_for(url: str, service: PodmanService, tmp_path: Path, state: str = "state") -> DaemonProcess:
    env = {
        "MONOP_GIT_URL": url,
        "MONOP_GIT_BRANCH": "main",
        "MONOP_GIT_PATH": "desired",
        "MONOP_GIT_FETCH_INTERVAL": "1h",  # only the ref watch and the webhook trigger fetches here
        "MONOP_WEBHOOK_SECRET": SECRET,
    }
    return DaemonProcess(service.url, tmp_path / "unused", tmp_path / state, extra_env=env)


@pytest.fixture
def following(repo: Repo, podman_service: PodmanService, tmp_path: Path) -> Iterator[DaemonProcess]:
    with daemon_for(str(repo.path), podman_service, tmp_path) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
        yield daemon


def test_a_commit_changing_one_env_var_recreates_exactly_that_container(
    repo: Repo, following: DaemonProcess, podman_service: PodmanService
) -> None:
    before = ids(podman_service)
    write_service(repo.desired, "beta", PORT + 1, metrics="app_up 2")
    second = repo.commit("beta reports 2")
    wait_for(lambda: env_of(podman_service, "beta") == "app_up 2", 30, "beta recreated from the commit")
    wait_for(lambda: len(ids(podman_service)) == 2, 30, "both containers present")
    after = ids(podman_service)
    assert after["alpha"] == before["alpha"] and after["beta"] != before["beta"]
    assert label(podman_service, "beta", "monop.dev/revision") == second
    assert label(podman_service, "alpha", "monop.dev/revision") == repo.first  # type: ignore[attr-defined]
    # monop never wrote to the user's repository.
    assert repo.git("status", "--porcelain") == ""
    _, shown = following.status()
    assert shown["daemon"]["git"]["applied"]["revision"] == second


def test_an_invalid_commit_is_rejected_and_the_next_valid_one_resumes(
    repo: Repo, following: DaemonProcess, podman_service: PodmanService
) -> None:
    before = ids(podman_service)
    text = (repo.desired / "beta.yaml").read_text()
    (repo.desired / "beta.yaml").write_text(text.replace(f":{PORT + 1}:", ":99999:"))
    (repo.desired / "alpha.yaml").unlink()  # in the same commit: must not be removed either
    bad = repo.commit("oops")
    rejected = following.wait_event("desired_state_rejected", revision=bad)
    assert rejected["author"] == "Ada Ops <ada@example.org>"
    assert any(p.startswith(f"{bad[:12]}:desired/beta.yaml:") and "99999" in p for p in rejected["problems"])
    assert ids(podman_service) == before
    assert following.metric("monop_desired_state_valid") == 0
    _, shown = following.status()
    assert shown["daemon"]["git"]["rejected"]["revision"] == bad

    write_service(repo.desired, "beta", PORT + 1, metrics="app_up 3")
    fixed = repo.commit("fix the port")
    wait_for(lambda: env_of(podman_service, "beta") == "app_up 3", 30, "beta from the fix")
    wait_for(lambda: set(ids(podman_service)) == {"beta"}, 30, "alpha removed by the fix")
    results = [(e["revision"], e["result"]) for e in history(following)]
    assert results[-3:] == [(repo.first, "applied"), (bad, "rejected"), (fixed, "applied")]  # type: ignore[attr-defined]


def history(daemon: DaemonProcess) -> list[dict[str, object]]:
    """`monop history`, oldest first."""
    done = daemon.monop("history", "--json")
    assert done.returncode == 0, done.stderr
    return list(reversed(json.loads(done.stdout)))


def test_rollback_holds_an_earlier_revision_until_resume(
    repo: Repo, following: DaemonProcess, podman_service: PodmanService
) -> None:
    write_service(repo.desired, "beta", PORT + 1, metrics="app_up 2")
    repo.commit("beta reports 2")
    wait_for(lambda: env_of(podman_service, "beta") == "app_up 2", 30, "beta at the second commit")

    done = following.monop("rollback")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"holding at {repo.first[:12]} (alpha and beta)")  # type: ignore[attr-defined]
    wait_for(lambda: env_of(podman_service, "beta") == "app_up 1", 30, "beta back at the first commit")
    _, shown = following.status()
    assert shown["daemon"]["git"]["held"] == repo.first  # type: ignore[attr-defined]

    write_service(repo.desired, "beta", PORT + 1, metrics="app_up 3")
    third = repo.commit("beta reports 3")
    following.wait_event("git_ref_changed")
    wait_for(
        lambda: following.status()[1]["daemon"]["git"]["newest"]["revision"] == third,
        30,
        "the new commit seen",
    )
    assert env_of(podman_service, "beta") == "app_up 1"  # held: the new commit waits

    assert following.monop("rollback", "--release").returncode == 0
    wait_for(lambda: env_of(podman_service, "beta") == "app_up 3", 30, "beta follows the branch again")
    assert [e["result"] for e in history(following)][-2:] == ["rollback", "applied"]


def test_the_webhook_fetches_only_when_signed(
    repo: Repo, podman_service: PodmanService, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    with daemon_for(f"file://{remote}", podman_service, tmp_path) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
        write_service(repo.desired, "beta", PORT + 1, metrics="app_up 2")
        pushed = repo.commit("beta reports 2")
        repo.git("push", "--quiet", "origin", "main")
        body = json.dumps({"ref": "refs/heads/main", "after": pushed}).encode()
        url = daemon.base_url + "/hooks/git"
        assert httpx.post(url, content=body, timeout=5).status_code == 401
        wrong = signature("not the secret", body)
        assert (
            httpx.post(url, content=body, headers={"X-Hub-Signature-256": wrong}, timeout=5).status_code
            == 401
        )
        assert daemon.metric("monop_webhook_refused_total") == 2
        assert env_of(podman_service, "beta") == "app_up 1"
        good = signature(SECRET, body)
        assert (
            httpx.post(url, content=body, headers={"X-Hub-Signature-256": good}, timeout=5).status_code == 202
        )
        wait_for(lambda: env_of(podman_service, "beta") == "app_up 2", 30, "beta from the pushed commit")
        assert [e["revision"] for e in daemon.events("desired_state_loaded")] == [repo.first, pushed]  # type: ignore[attr-defined]


def test_a_restarted_daemon_keeps_the_applied_revision_when_the_remote_is_gone(
    repo: Repo, podman_service: PodmanService, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(remote)], check=True)
    with daemon_for(f"file://{remote}", podman_service, tmp_path) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
    before = ids(podman_service)
    shutil.move(remote, tmp_path / "gone.git")
    with daemon_for(f"file://{remote}", podman_service, tmp_path) as again:
        again.wait_ready()
        again.wait_event("git_fetch_failed")
        loaded = again.wait_event("desired_state_loaded")
        assert loaded["revision"] == repo.first  # type: ignore[attr-defined]
        wait_for(lambda: again.notified("STATUS=2 resources, 0 drifted"), 30, "all in sync")
    assert ids(podman_service) == before  # nothing recreated, nothing duplicated


def test_validate_checks_the_branchs_newest_commit(repo: Repo, tmp_path: Path) -> None:
    env = {**os.environ, "MONOP_GIT_URL": str(repo.path), "MONOP_STATE_DIR": str(tmp_path / "cli-state")}
    ok = subprocess.run([sys.executable, "-m", "monop", "validate"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout.endswith(f"{repo.path} main: 2 resources valid\n")
    text = (repo.desired / "beta.yaml").read_text()
    (repo.desired / "beta.yaml").write_text(text.replace(f":{PORT + 1}:", ":99999:"))
    bad = repo.commit("oops")
    done = subprocess.run(
        [sys.executable, "-m", "monop", "validate"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"{bad[:12]}:desired/beta.yaml:")


def test_a_mounted_file_from_the_repository_is_in_sync_and_its_change_recreates(
    repo: Repo, podman_service: PodmanService, tmp_path: Path
) -> None:
    """Containers mount from one stable tree, so status agrees with what runs, revision after revision."""
    (repo.desired / "app.conf").write_text("level=1\n")
    text = (repo.desired / "alpha.yaml").read_text()
    (repo.desired / "alpha.yaml").write_text(
        text.replace("  ports:", '  volumes: ["app.conf:/etc/app.conf:ro"]\n  ports:')
    )
    repo.commit("alpha reads app.conf")
    with daemon_for(str(repo.path), podman_service, tmp_path) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
        wait_for(lambda: daemon.status()[0] == 0, 30, "status in sync")
        before = ids(podman_service)
        (repo.desired / "app.conf").write_text("level=2\n")
        repo.commit("more logging")
        wait_for(
            lambda: ids(podman_service).get("alpha") not in (None, before["alpha"]), 30, "alpha recreated"
        )
        wait_for(lambda: daemon.status()[0] == 0, 30, "status in sync after the change")
        assert ids(podman_service)["beta"] == before["beta"]
        shown = podman_service.podman("exec", "alpha", "cat", "/etc/app.conf").stdout
        assert shown == "level=2\n"


def test_a_restart_onto_an_invalid_head_keeps_the_applied_revision(
    repo: Repo, podman_service: PodmanService, tmp_path: Path
) -> None:
    with daemon_for(str(repo.path), podman_service, tmp_path) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
    before = ids(podman_service)
    text = (repo.desired / "beta.yaml").read_text()
    (repo.desired / "beta.yaml").write_text(text.replace(f":{PORT + 1}:", ":99999:"))
    bad = repo.commit("oops, while the daemon was down")
    with daemon_for(str(repo.path), podman_service, tmp_path) as again:
        again.wait_ready()  # ready on the revision it had applied: systemd does not restart it in a loop
        again.wait_event("desired_state_rejected", revision=bad)
        assert again.wait_event("desired_state_loaded")["revision"] == repo.first  # type: ignore[attr-defined]
        wait_for(lambda: again.notified("STATUS=2 resources, 0 drifted"), 30, "all in sync")
        # Starting again on the same revision is not news: the history has no second entry for it.
        results = [(e["revision"], e["result"]) for e in history(again)]
    assert results == [(repo.first, "applied"), (bad, "rejected")]  # type: ignore[attr-defined]
    assert ids(podman_service) == before


@pytest.mark.fault
def test_a_rejected_head_stays_rejected_across_a_restart_and_is_recorded_once(
    repo: Repo, podman_service: PodmanService, tmp_path: Path, fault: FaultRecord
) -> None:
    with fault.watch(daemon_for(str(repo.path), podman_service, tmp_path)) as daemon:
        daemon.wait_ready()
        wait_for(lambda: set(ids(podman_service)) == {"alpha", "beta"}, 60, "alpha and beta created")
        text = (repo.desired / "beta.yaml").read_text()
        (repo.desired / "beta.yaml").write_text(text.replace(f":{PORT + 1}:", ":99999:"))
        bad = repo.commit("oops")
        daemon.wait_event("desired_state_rejected", revision=bad)
    before = ids(podman_service)
    fault.inject("daemon restarted onto a head it had rejected")
    with fault.watch(daemon_for(str(repo.path), podman_service, tmp_path)) as again:
        again.wait_ready()
        assert again.wait_event("desired_state_loaded")["revision"] == repo.first  # type: ignore[attr-defined]
        # The applied revision is in force; the newest is still the refused one, and says so.
        assert again.metric("monop_desired_state_valid") == 0
        code, shown = again.status()
        assert code == 1  # everything runs as applied, but the newest revision is refused
        assert shown["daemon"]["git"]["rejected"]["revision"] == bad  # type: ignore[index]
        assert "99999" in shown["daemon"]["desired_error"]  # type: ignore[index]
        fault.inject("SIGHUP: the branch fetched and read again")
        loads = len(again.events("desired_state_rejected"))
        again.send(signal.SIGHUP)
        wait_for(lambda: len(again.events("desired_state_rejected")) > loads, 30, "the head refused again")
        assert again.metric("monop_desired_state_valid") == 0
        results = [(e["revision"], e["result"]) for e in history(again)]
        fault.count(podman_service, ("alpha", "beta"))
    assert results == [(repo.first, "applied"), (bad, "rejected")]  # type: ignore[attr-defined]
    assert ids(podman_service) == before


def test_a_branch_that_does_not_exist_is_one_line_naming_the_setting(repo: Repo, tmp_path: Path) -> None:
    repo.git("branch", "release")
    env = {
        **os.environ,
        "MONOP_GIT_URL": str(repo.path),
        "MONOP_GIT_BRANCH": "prod",
        "MONOP_STATE_DIR": str(tmp_path / "s"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "monop", "validate"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"monop: setting git_branch: {repo.path} has no branch 'prod'; its branches: main, release\n"
    )


def test_read_only_commands_never_write_the_state_directory(
    repo: Repo, podman_service: PodmanService, tmp_path: Path
) -> None:
    state = tmp_path / "never-written"
    env = {**os.environ, "MONOP_GIT_URL": str(repo.path), "MONOP_STATE_DIR": str(state)}
    env["MONOP_PODMAN_URL"] = podman_service.url
    for command in (["validate"], ["plan"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "monop", *command], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode in (0, 1), done.stderr
        assert not state.exists(), f"monop {command[0]} wrote {sorted(state.rglob('*'))}"
