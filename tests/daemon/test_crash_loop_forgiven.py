"""A crash loop is forgiven once the container has run for a minute, seen by a resync alone.

A resync queues only what is wrong, so a container in sync that sends no event is looked at by
nothing else: the resync itself must forgive it. In-process daemon, real Podman, a clock the
test moves (the container's start time is Podman's, so the clock starts at the real time).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from monop.controller.clock import FakeClock
from monop.daemon.daemon import Daemon
from monop.settings import load_settings
from monop_testbed.desired import write_service
from monop_testbed.podman_service import PodmanService

pytestmark = pytest.mark.podman
KEY = "BusinessService/forgiven"


def test_a_resync_forgives_a_crash_loop_that_ended(tmp_path: Path, podman_service: PodmanService) -> None:
    desired = tmp_path / "desired"
    write_service(desired, "forgiven", 19370)
    settings = load_settings(
        {
            "desired": desired,
            "state_dir": tmp_path / "state",
            "podman_url": podman_service.url,
            "sd_dir": tmp_path / "state" / "file_sd",
            "rules_dir": tmp_path / "state" / "rules",
            # Its own instance: monop containers other tests leave on this Podman are not its
            # orphans, whose removal its create would wait for.
            "instance": "forgiveness",
        }
    )

    async def scenario() -> tuple[bool, bool]:
        clock = FakeClock(start=0.0, wall_offset=time.time())
        daemon = Daemon(settings, clock=clock)
        daemon.reload_desired()
        assert daemon.source.refresh_task is not None
        await daemon.source.refresh_task
        try:
            await daemon.reconciler.reconcile(KEY)  # creates and starts it
            loop = daemon.reconciler.crash_loop
            for _ in range(3):  # three restarts in a row: a crash loop
                loop.record_restart(KEY)
            in_loop = KEY in loop.holds(clock.wall())
            # The fake clock stood still while Podman started it (real time): move it to a
            # minute and a bit after the start Podman reports, whatever that took.
            observed = await daemon.observe(clock.now() + 1)
            found = {c.name: c for c in observed.containers}
            assert "forgiven" in found, f"not created; Podman holds {sorted(found)}"
            started = found["forgiven"].started_at
            assert started is not None
            await clock.advance(max(0.0, started.timestamp() + 65 - clock.wall()))
            await daemon.resync()
            return in_loop, KEY in loop.holds(clock.wall())
        finally:
            daemon.queue.shutdown(drain=False)
            daemon.podman.close()

    in_loop, still = asyncio.run(scenario())
    assert in_loop, "three restarts make a crash loop"
    assert not still, "a minute of running in sync forgives it at the next resync"
