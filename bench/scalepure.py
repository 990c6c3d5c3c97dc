"""The daemon's own CPU per resync and per reconcile with N resources, without Podman.

The daemon's parts are built as `monop run` builds them, from a desired tree of N services
(bench/scale.py's), and `observe` answers with N in-sync containers described in memory (what
Podman's list would say), so only monop's own work is timed: planning, records, conditions,
metrics, target files and the state file. Prints the CPU milliseconds of five resyncs (each
followed by the save `resync_every` makes), and of one reconcile of an in-sync key (the
average of 50: what each of a start's N queued keys and each container event costs).

Usage: .venv/bin/python bench/scalepure.py [N] [PROFILE_OUT]
(`PYTHONPATH=<another tree>/operator` measures another tree.)
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from scale import write_desired  # bench/scale.py: N busybox services

from monop.daemon.daemon import Daemon
from monop.runtime.observed import LiveContainer, ObservedState
from monop.settings import load_settings
from monop_testbed import images


async def measure(n: int, tmp: Path, profile: str | None) -> None:
    write_desired(tmp / "desired", n)
    state = tmp / "state"
    settings = load_settings(
        {
            "desired": tmp / "desired",
            "state_dir": state,
            "podman_url": "unix:///nonexistent",
            "sd_dir": state / "file_sd",
            "rules_dir": state / "rules",
        }
    )
    daemon = Daemon(settings)
    daemon.reload_desired()
    assert daemon.source.refresh_task is not None
    await daemon.source.refresh_task
    now = datetime.now(UTC)
    observed = ObservedState(
        tuple(
            LiveContainer(
                f"{i:064x}",
                unit.name,
                "running",
                image=unit.config.image,
                image_id="sha256:busybox",
                labels=dict(unit.labels),
                created_at=now,
                started_at=now,
            )
            for i, unit in enumerate((daemon.units or {}).values())
        ),
        {images.BUSYBOX: "sha256:busybox"},
    )

    async def observe(fresher_than: float) -> ObservedState:
        daemon.set_reachable(True)
        return observed

    daemon.observe = observe  # type: ignore[method-assign]  # Podman's answer, described in memory
    await daemon.resync()  # the first one makes every record and series
    resyncs = []
    for _ in range(5):
        started = time.process_time()
        await daemon.resync()
        daemon.save()
        resyncs.append((time.process_time() - started) * 1000)
    keys = list(daemon.units or {})[:50]
    started = time.process_time()
    for key in keys:
        await daemon.reconciler.reconcile(key)
    per_key = (time.process_time() - started) / len(keys) * 1000
    load = os.getloadavg()[0]
    print(f"| {n} | {' '.join(f'{r:.0f}' for r in sorted(resyncs))} | {per_key:.1f} | {load:.1f} |")
    if profile:
        with cProfile.Profile() as prof:
            await daemon.resync()
            daemon.save()
        prof.dump_stats(profile)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("| N | resync + save, CPU (ms), five | reconcile of an in-sync key, CPU (ms) | load |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="monop-bench-pure-") as tmp:
        asyncio.run(measure(n, Path(tmp), sys.argv[2] if len(sys.argv) > 2 else None))


if __name__ == "__main__":
    main()
