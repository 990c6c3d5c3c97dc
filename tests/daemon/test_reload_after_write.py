"""When the daemon tells the containers that mount monop's files: once the files are written
(not after the dead-selector check, not after a cancelled sync),
and every such task is cancelled at shutdown. Real rule files written by the real sync (promtool
checks them); no Prometheus (prometheus_url unset) and no Podman (its URL points nowhere: a
reload task that asks it stops at PodmanUnavailable)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monop.controller.clock import FakeClock
from monop.daemon.daemon import Daemon
from monop.desired.loader import load
from monop.settings import load_settings

RULES = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: stack}
spec:
  rules:
    - alert: Always
      expr: vector(1) > 2
"""


def daemon(tmp_path: Path) -> Daemon:
    settings = load_settings(
        {
            "state_dir": tmp_path / "state",
            "rules_dir": tmp_path / "rules",
            "podman_url": f"unix://{tmp_path}/none.sock",
        }
    )
    return Daemon(settings, clock=FakeClock())


def test_the_containers_are_told_once_the_files_are_written_and_not_after_a_cancelled_sync(
    tmp_path: Path,
) -> None:
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "rules.yaml").write_text(RULES)
    state = load(tmp_path / "desired")
    d = daemon(tmp_path)
    seen: list[tuple[int, bool]] = []  # (syncs writing, the rule file there) when told
    d.prometheus.after_written = lambda: seen.append(
        (d.prometheus.writing, (tmp_path / "rules" / "stack.yml").exists())
    )

    async def run() -> None:
        d.prometheus.start_rules_sync(state)
        assert d.prometheus.rules_task is not None
        await d.prometheus.rules_task
        d.prometheus.start_rules_sync(state)
        d.prometheus.rules_task.cancel()  # the shutdown cancels a sync: nothing is told of it
        await asyncio.gather(d.prometheus.rules_task, return_exceptions=True)

    asyncio.run(run())
    assert seen == [(0, True)]


def test_every_reload_task_is_cancelled_at_shutdown(
    tmp_path: Path,
) -> None:
    d = daemon(tmp_path)

    async def run() -> None:
        d._after_files_written()
        d._after_files_written()
        assert len(d.background_tasks()) == 2  # both, not only the newest
        for task in d.background_tasks():
            task.cancel()
        await asyncio.gather(*d.background_tasks(), return_exceptions=True)
        await asyncio.sleep(0)  # the done callbacks run
        assert d.background_tasks() == []

    asyncio.run(run())
