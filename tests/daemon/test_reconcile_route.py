"""`POST /reconcile`: a person asks the daemon to look now (what `monop reconcile` sends)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from tests.reconcile.test_plan import make_unit

from monop.controller.clock import FakeClock
from monop.daemon.daemon import Daemon
from monop.daemon.http import Listener
from monop.daemon.triggers import reconcile_handler
from monop.reconcile.holds import Stall
from monop.reconcile.states import State
from monop.settings import load_settings

WEB, API, OLD = "BusinessService/web", "BusinessService/api", "Exporter/old"


def test_post_reconcile_queues_now_and_forgets_backoff_and_stall(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[int, Any, list[str]]]:
        settings = load_settings({"state_dir": tmp_path, "podman_url": f"unix://{tmp_path}/none.sock"})
        daemon = Daemon(settings, clock=FakeClock())
        daemon.source.units = {u.key: u for u in (make_unit("web"), make_unit("api"))}
        daemon.records.states[OLD] = State.ORPHAN  # running, desired by nothing
        daemon.reconciler.stalls[WEB] = Stall("hash", "pull x: invalid reference format")
        daemon.backoff.failure(WEB)
        daemon.queue.add_after(WEB, 60)  # waiting out its backoff
        seen = []
        async with Listener() as server:
            server.add_route("POST", "/reconcile", reconcile_handler(daemon))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                for params in ({"resource": WEB}, {"resource": "Exporter/nope"}, {"resource": "web"}, {}):
                    answer = await client.post("/reconcile", params=params)
                    seen.append((answer.status_code, answer.json(), daemon.queue.waiting()))
        assert daemon.reconciler.stalls == {}
        assert daemon.backoff.attempts(WEB) == 0 and daemon.queue.scheduled() == {}
        daemon.queue.shutdown()
        await daemon.health_checks.close()
        daemon.podman.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        (202, {"queued": [WEB]}, [WEB]),
        (404, {"error": "no resource Exporter/nope is desired or running"}, [WEB]),
        (400, {"error": "resource: give one KIND/NAME"}, [WEB]),
        (202, {"queued": [API, WEB, OLD]}, [WEB, API, OLD]),
    ]
