"""A container's log through the Podman API, as `monop test receivers` reads Alertmanager's in a container.

Podman's log times are whole seconds: a line written in the second of the mark, before it, is not read.
"""

from __future__ import annotations

import asyncio

import pytest

from monop.prometheus.amlog import ContainerLog, Said
from monop.runtime.container import ContainerConfig
from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

OLD = 'level=warn receiver=old integration=webhook[0] msg="Notify attempt failed, will retry later" err="before"'
NEW = (
    'level=warn receiver=new integration=webhook[0] msg="Notify attempt failed, will retry later" err="after"'
)
# It writes OLD at once, NEW (on stderr) once the test has taken its mark and made /tmp/go.
SCRIPT = f"echo '{OLD}'; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo '{NEW}' >&2; sleep 600"


def test_only_the_lines_written_after_the_mark_are_read(
    podman: Podman, podman_service: PodmanService
) -> None:
    async def scenario() -> None:
        await podman.create(
            ContainerConfig(name="am-log", image=images.BUSYBOX, args=("sh", "-c", SCRIPT)), {}
        )
        await podman.start("am-log")
        log = ContainerLog(lambda since: podman.logs("am-log", since))
        await asyncio.to_thread(
            wait_for, lambda: OLD in podman_service.podman("logs", "am-log").stdout, 10, "the first line"
        )
        mark = await log.mark()
        assert await log.since(mark) == []
        podman_service.podman("exec", "am-log", "mkdir", "/tmp/go")
        found: list[object] = []

        def new_line() -> bool:
            found[:] = asyncio.run(log.since(mark))
            return bool(found)

        await asyncio.to_thread(wait_for, new_line, 10, "the line written after the mark")
        [line] = found
        assert (line.receiver, line.said, line.error) == ("new", Said.FAILED, "after")  # type: ignore[attr-defined]

    asyncio.run(scenario())
