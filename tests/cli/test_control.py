"""suspend, resume, rollback --release, reconcile (against a stand-in for the daemon's HTTP) and completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from monop.daemon.statestore import DaemonLock, DaemonRecord, ResourceRecord, StateStore
from monop.desired.suspend import read_suspended


def monop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monop", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_suspend_and_resume_one_resource(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    done = monop("suspend", "Exporter/node-exporter", "--state-dir", state)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("suspended Exporter/node-exporter: ")
    assert set(read_suspended(tmp_path / "state")) == {"Exporter/node-exporter"}
    again = monop("suspend", "Exporter/node-exporter", "--state-dir", state)
    assert (again.returncode, again.stdout) == (0, "Exporter/node-exporter was already suspended\n")
    done = monop("resume", "Exporter/node-exporter", "--state-dir", state)
    assert (done.returncode, done.stdout) == (0, "resumed Exporter/node-exporter: monop repairs it again\n")
    assert read_suspended(tmp_path / "state") == {}
    assert monop("resume", "Exporter/node-exporter", "--state-dir", state).stdout == (
        "Exporter/node-exporter was not suspended\n"
    )


def test_suspend_spells_the_kind_as_monop_does_and_knows_what_exists(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    done = monop("suspend", "exporters/node-exporter", "--state-dir", state)
    assert done.returncode == 0, done.stderr
    assert set(read_suspended(tmp_path / "state")) == {"Exporter/node-exporter"}
    missing = monop("suspend", "Exporter/no-such-thing", "--state-dir", state)
    assert missing.returncode == 1
    assert missing.stderr.startswith("monop: no resource Exporter/no-such-thing in the desired state")
    odd = monop("suspend", "Gadget/x", "--state-dir", state)
    assert odd.returncode == 2 and "the kinds are" in odd.stderr


def test_a_state_dir_monop_cannot_use_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = monop("suspend", "Exporter/node-exporter", "--state-dir", str(tmp_path / "file"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("monop: cannot use") and str(tmp_path / "file") in done.stderr


def test_suspend_wants_kind_and_name(tmp_path: Path) -> None:
    done = monop("suspend", "node-exporter", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == ("monop: 'node-exporter' is not KIND/NAME (for example Exporter/node-exporter)\n")


def test_resume_without_a_resource_points_to_rollback_release(tmp_path: Path) -> None:
    done = monop("resume", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "monop rollback --release" in done.stderr
    assert done.stdout == ""


def test_rollback_release_without_a_hold(tmp_path: Path) -> None:
    done = monop("rollback", "--release", "--state-dir", str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "not held: the daemon follows the branch\n")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    done = monop("completion", shell)
    assert done.returncode == 0
    assert "_MONOP_COMPLETE=complete_" + shell in done.stdout


def test_bash_completion_completes_commands_and_flags() -> None:
    script = monop("completion", "bash").stdout
    loaded = subprocess.run(
        ["bash", "-c", script + "\ncomplete -p monop"], capture_output=True, text=True, check=True
    )
    assert "_monop_completion" in loaded.stdout
    asks = {"_MONOP_COMPLETE": "complete_bash", "COMP_WORDS": "monop sta", "COMP_CWORD": "1"}
    assert monop(env=asks).stdout.split() == ["status"]
    asks = {**asks, "COMP_WORDS": "monop status --podman", "COMP_CWORD": "2"}
    assert monop(env=asks).stdout.split() == ["--podman-url"]


def test_completion_of_another_shell_is_a_usage_error() -> None:
    done = monop("completion", "tcsh")
    assert (done.returncode, done.stderr) == (2, "monop: 'tcsh': completion is for bash, zsh or fish\n")


# -- reconcile: the daemon's side is a stand-in until the daemon's POST /reconcile lands --------


class Daemon:
    """Holds the state directory's lock as a daemon would, and answers POST /reconcile as the
    daemon's HTTP does: 202 {"queued": [...]}, or 404 {"error": ...}; `reconciles` says whether
    it also records a reconcile of what it queued in status.json (for --wait)."""

    KNOWN = ("Exporter/a", "Exporter/b")

    def __init__(self, state_dir: Path, reconciles: bool) -> None:
        self.state_dir = state_dir
        self.reconciles = reconciles
        self.asked: list[str | None] = []
        self.lock = DaemonLock(state_dir)
        self.store = StateStore(state_dir)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlparse(self.path)
                wanted = parse_qs(url.query).get("resource", [None])[0]
                owner.asked.append(wanted)
                if url.path != "/reconcile" or (wanted and wanted not in Daemon.KNOWN):
                    self._answer(404, {"error": f"no resource {wanted}"})
                    return
                queued = [wanted] if wanted else list(Daemon.KNOWN)
                self._answer(202, {"queued": queued})
                if owner.reconciles:
                    owner.record(queued)

            def _answer(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.record_daemon = DaemonRecord(
            pid=os.getpid(),
            started_at=time.time(),
            updated_at=time.time(),
            source="test",
            metrics_address=f"127.0.0.1:{self.server.server_address[1]}",
        )

    def record(self, keys: list[str]) -> None:
        _, records = self.store.load()
        now = time.time() + 0.01
        for key in keys:
            records[key] = replace(records.get(key, ResourceRecord(key)), last_reconcile_at=now)
        self.store.save(self.record_daemon, records)

    def __enter__(self) -> Daemon:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        self.store.save(self.record_daemon, {k: ResourceRecord(k, last_reconcile_at=1.0) for k in self.KNOWN})
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.lock.release()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_reconcile_without_a_daemon_exits_3(state: Path) -> None:
    done = monop("reconcile", "--state-dir", str(state))
    assert done.returncode == 3
    assert done.stderr == (
        f"monop: no daemon is running on {state} (start `monop run`, or give its --state-dir)\n"
    )


def test_reconcile_asks_the_daemon(state: Path) -> None:
    with Daemon(state, reconciles=False) as daemon:
        one = monop("reconcile", "Exporter/a", "--state-dir", str(state))
        every = monop("reconcile", "--state-dir", str(state))
        unknown = monop("reconcile", "Exporter/zz", "--state-dir", str(state))
    assert (one.returncode, one.stdout) == (0, "queued: Exporter/a\n")
    assert (every.returncode, every.stdout) == (0, "queued: Exporter/a, Exporter/b\n")
    assert (unknown.returncode, unknown.stderr) == (1, "monop: no resource Exporter/zz\n")
    assert daemon.asked == ["Exporter/a", None, "Exporter/zz"]


def test_reconcile_wait_returns_once_reconciled(state: Path) -> None:
    with Daemon(state, reconciles=True):
        done = monop("reconcile", "--wait", "--state-dir", str(state))
    assert (done.returncode, done.stdout) == (0, "reconciled: Exporter/a, Exporter/b\n")


def test_reconcile_wait_counts_a_removed_orphan_as_done(state: Path) -> None:
    from monop.cli.control import wait_reconciled

    with Daemon(state, reconciles=False) as daemon:

        def removed() -> None:  # the daemon removes this orphan and forgets it, while we wait
            _, records = daemon.store.load()
            del records["Exporter/b"]
            daemon.store.save(daemon.record_daemon, records)

        threading.Timer(0.3, removed).start()
        assert wait_reconciled(state, ["Exporter/b"], time.time(), timeout=10.0) == []
        assert wait_reconciled(state, ["Exporter/a"], time.time(), timeout=0.5) == ["Exporter/a"]


def test_reconcile_wait_gives_up_at_its_timeout(state: Path) -> None:
    with Daemon(state, reconciles=False):
        done = monop("reconcile", "Exporter/b", "--wait", "--timeout", "500ms", "--state-dir", str(state))
        late = monop("reconcile", "--wait", "--timeout", "soon", "--state-dir", str(state))
    assert done.returncode == 3
    assert done.stderr.startswith("monop: not reconciled within 500ms: Exporter/b")
    assert late.returncode == 2 and "--timeout" in late.stderr
