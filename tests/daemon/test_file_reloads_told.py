"""FileReloads' memory of what each container was told, without Podman.

What stands in: `Kills`, a recorder for `Podman.kill` (the only Podman call a `signal` reload
makes), and a hand-built Plan of one running container in sync (its ID and start time). The
desired state is loaded from YAML by the real loader; the files are real files in tmp_path.
The real reloads against real Prometheus/Alertmanager containers are in
test_reload_mounted_writes.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from monop.daemon.daemon import Daemon
from monop.daemon.metrics import Metrics
from monop.daemon.reloads import FileReloads, Told
from monop.desired.loader import load
from monop.desired.state import DesiredState
from monop.reconcile.plan import Plan, Status, units
from monop.reconcile.states import State
from monop.runtime.observed import LiveContainer
from monop.settings import Settings

SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: reader}}
spec:
  image: localhost/reader:1
  volumes: ["{mount}"]
{reload}
"""


class Kills:
    """Stands in for Podman.kill: records (container ID, signal)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    async def kill(self, container_id: str, signal: int) -> None:
        self.sent.append((container_id, signal))


class Stack:
    def __init__(self, tmp_path: Path, mount: str) -> None:
        self.tmp = tmp_path
        self.mount = mount
        self.rules = tmp_path / "rules"
        self.rules.mkdir()
        (self.rules / "a.yml").write_text("groups: []\n")
        old = time.time() - 100
        os.utime(self.rules / "a.yml", (old, old))
        os.utime(self.rules, (old, old))
        self.settings = Settings(
            rules_dir=self.rules,
            sd_dir=tmp_path / "sd",
            alertmanager_config=tmp_path / "am" / "alertmanager.yml",
            grafana_dir=tmp_path / "grafana",
            state_dir=tmp_path / "state",
        )
        self.started = datetime.fromtimestamp(time.time() - 50, UTC)  # after the files, before a change
        self.container_id = "c1" * 32

    def check(
        self, reload: str, kills: Kills | None = None, reloads: FileReloads | None = None
    ) -> list[Told]:
        """One check by `reloads` (the daemon's) or a new FileReloads (a new apply, a restarted daemon)."""
        state, plan = self.seen(reload)
        reloads = reloads or self.reloads(kills or Kills())
        return asyncio.run(reloads.check(plan, {u.key: u for u in units(state)}, state))

    def seen(self, reload: str) -> tuple[DesiredState, Plan]:
        """The desired state with `reload`, and a look that finds its container running in sync."""
        tree = self.tmp / "desired"
        tree.mkdir(exist_ok=True)
        mount = self.mount.format(rules=self.rules)
        (tree / "s.yaml").write_text(SERVICE.format(mount=mount, reload=reload))
        state = load(tree, check_rules=False)
        [unit] = units(state)
        container = LiveContainer(self.container_id, unit.name, "running", started_at=self.started)
        return state, Plan((Status(unit.key, unit.name, State.IN_SYNC, container=container),), ())

    def reloads(self, kills: Kills) -> FileReloads:
        return FileReloads(
            kills,  # type: ignore[arg-type]
            self.settings,
            metrics=Metrics(CollectorRegistry()),
            log=structlog.get_logger(),
        )

    def change(self) -> None:
        (self.rules / "a.yml").write_text("groups: [{name: g, rules: []}]\n")


def test_a_container_that_mounts_the_root_is_not_warned_of_each_rule_change(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "/:/host:ro")  # node-exporter's mount; cAdvisor's /:/rootfs:ro
    stack.change()
    assert stack.check("") == []


def test_a_container_that_mounts_the_rules_without_a_reload_is_warned_once_per_change(
    tmp_path: Path,
) -> None:
    stack = Stack(tmp_path, "{rules}:/rules:ro")
    stack.change()
    assert [t.result for t in stack.check("")] == ["not_told"]
    assert stack.check("") == []  # a second apply, or a restarted daemon: said already


def test_a_reload_declared_after_the_warning_reloads_the_stale_container(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "{rules}:/rules:ro")
    stack.change()
    kills = Kills()
    daemon = stack.reloads(kills)  # one daemon: the warning and the reload declared since
    assert [t.result for t in stack.check("", reloads=daemon)] == ["not_told"]
    told = stack.check("  reload: {signal: SIGHUP}", reloads=daemon)
    assert [t.result for t in told] == ["reloaded"]
    assert kills.sent == [(stack.container_id, 1)]


def test_apply_and_a_restarted_daemon_do_not_reload_what_was_told_already(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "{rules}:/rules:ro")
    stack.change()
    kills = Kills()
    for _ in range(3):  # three applies (or restarts), one change
        stack.check("  reload: {signal: SIGHUP}", kills)
    assert kills.sent == [(stack.container_id, 1)]
    stack.change()  # a change is told again
    (stack.rules / "b.yml").write_text("groups: []\n")
    stack.check("  reload: {signal: SIGHUP}", kills)
    assert len(kills.sent) == 2


def test_a_root_mount_is_told_when_it_asks_for_a_reload(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "/:/host:ro")
    stack.change()
    kills = Kills()
    assert [t.result for t in stack.check("  reload: {signal: SIGHUP}", kills)] == ["reloaded"]


def test_a_resync_tells_nothing_while_a_sync_writes_the_files(tmp_path: Path) -> None:
    """A rules sync may write a file promtool or Prometheus then refuses and rolls back: a
    resync in between must not reload the container into it (the sync tells it once done)."""
    stack = Stack(tmp_path, "{rules}:/rules:ro")
    stack.change()
    state, plan = stack.seen("  reload: {signal: SIGHUP}")
    daemon = Daemon(stack.settings.model_copy(update={"podman_url": f"unix://{tmp_path}/none.sock"}))
    kills = Kills()
    daemon.reloads.podman = kills  # type: ignore[assignment]
    daemon.source.units = {u.key: u for u in units(state)}
    daemon.source.desired = state
    daemon.prometheus.writing = 1
    asyncio.run(daemon.tell_reloads(plan))
    assert kills.sent == []
    daemon.prometheus.writing = 0
    asyncio.run(daemon.tell_reloads(plan))
    assert kills.sent == [(stack.container_id, 1)]
