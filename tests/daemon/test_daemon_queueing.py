"""How the daemon queues keys: a resync does not cut a backoff short; a change does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monop.controller.clock import FakeClock
from monop.daemon.daemon import Daemon
from monop.settings import load_settings


def daemon(tmp_path: Path) -> Daemon:
    settings = load_settings({"state_dir": tmp_path, "podman_url": f"unix://{tmp_path}/none.sock"})
    return Daemon(settings, clock=FakeClock())


def test_a_resync_leaves_a_key_in_backoff_waiting_but_a_change_queues_it(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        d = daemon(tmp_path)
        d.queue.add_after("Exporter/a", 60)  # as after a failed reconcile
        d.enqueue("Exporter/a", resync=True)
        d.enqueue("Exporter/b", resync=True)  # not in backoff: queued
        after_resync = d.queue.waiting()
        d.enqueue("Exporter/a")  # an event or an edit: may have fixed it, try now
        after_change = d.queue.waiting()
        d.queue.shutdown()
        return after_resync, after_change

    after_resync, after_change = asyncio.run(scenario())
    assert after_resync == ["Exporter/b"]
    assert after_change == ["Exporter/b", "Exporter/a"]
