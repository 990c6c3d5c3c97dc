"""`monop status -o json` for one world built by hand, compared whole with a file in the repository.

Pure: the desired state is desired/, the observed state is written here (containers in
sync, missing, drifted, stopped and suspended, an orphan, a stranger's container holding a
desired name), and so is the daemon's record. Every field of the JSON a script reads shows up
in review as a diff of the golden file. `MONOP_UPDATE_GOLDEN=1` rewrites it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from monop.cli import output
from monop.daemon.statestore import ResourceRecord
from monop.desired.loader import load
from monop.desired.suspend import Suspension
from monop.reconcile.health import Knowledge
from monop.reconcile.holds import Holds
from monop.reconcile.plan import plan, units
from monop.reconcile.states import State
from monop.reconcile.status import Observation, evaluate
from monop.runtime.observed import LiveContainer, ObservedState

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "status.json"
NOW = 1_764_543_600.0  # 2025-11-30T23:00:00Z
STARTED = datetime(2025, 11, 30, 22, 0, tzinfo=UTC)


def _container(name: str, labels: dict[str, str], state: str = "running", image: str = "") -> LiveContainer:
    return LiveContainer(
        f"{name:0<12}"[:12] + "0" * 52,
        name,
        state,
        image=image,
        image_id="sha256:" + "ab" * 32,
        exit_code=0 if state == "running" else 1,
        labels=labels,
        created_at=STARTED,
        started_at=STARTED,
        finished_at=None if state == "running" else STARTED,
    )


def _document() -> dict[str, object]:
    wanted = {u.name: u for u in units(load(REPO / "desired", exists_on_host=lambda _: True))}
    node, business = wanted["node-exporter"], wanted["business-metrics"]
    drifted = {**business.labels, "monop.dev/spec-hash": "0" * 16}
    orphan = {**node.labels, "monop.dev/name": "old-exporter"}
    observed = ObservedState(
        (
            _container("node-exporter", dict(node.labels), image=node.config.image),
            _container("business-metrics", drifted, image=business.config.image),
            _container("cadvisor", dict(wanted["cadvisor"].labels), state="exited"),
            _container("old-exporter", orphan),
            _container("nvidia-gpu-exporter", {"app": "someone-else"}),
        ),
        {},
    )
    holds = Holds(NOW, suspended=frozenset({"CAdvisor/cadvisor"}))
    result = plan(list(wanted.values()), observed, health=Knowledge(NOW), holds=holds)
    ready = evaluate(Observation(State.IN_SYNC, running=True), (), NOW - 600)
    records = {
        "Exporter/node-exporter": ResourceRecord(
            "Exporter/node-exporter",
            state="InSync",
            last_reconcile_at=NOW - 30,
            last_result="success",
            last_action="create",
            last_reason="no container",
            restart_count=1,
            sync="Synced",
            health_status="Healthy",
            conditions=[c.to_json() for c in ready.conditions],
            last_applied_revision="sha256:0123456789ab",
            last_attempted_revision="sha256:0123456789ab",
        ),
    }
    suspended = {"CAdvisor/cadvisor": Suspension("CAdvisor/cadvisor", NOW - 120, "alice")}
    statuses = output.with_daemon(result.statuses, records, NOW)
    return {
        "resources": [
            output.status_json(s, records.get(s.key), None, suspended.get(s.key))
            for s in sorted(statuses, key=lambda s: s.key)
        ]
    }


def test_status_json_matches_the_golden_file() -> None:
    text = json.dumps(_document(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("MONOP_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "status -o json changed: review, then MONOP_UPDATE_GOLDEN=1"


def test_every_time_in_the_golden_status_is_rfc3339() -> None:
    def times(node: object, key: str = "") -> list[tuple[str, object]]:
        if isinstance(node, dict):
            return [t for k, v in node.items() for t in times(v, k)]
        if isinstance(node, list):
            return [t for v in node for t in times(v, key)]
        named = key.endswith(("Time", "At", "Since", "Until")) or key in (
            "since",
            "created",
            "started",
            "finished",
        )
        return [(key, node)] if named and node is not None else []

    found = times(json.loads(GOLDEN.read_text()))
    assert found, "the golden status holds times"
    for key, value in found:
        assert isinstance(value, str) and value.endswith("Z") and "T" in value, (key, value)
    states = {r["name"]: r["state"] for r in json.loads(GOLDEN.read_text())["resources"]}
    assert states == {
        "alertmanager": "Missing",
        "business-dashboard": "Missing",
        "business-metrics": "Drifted",
        "cadvisor": "Stopped",
        "node-exporter": "InSync",
        "nvidia-gpu-exporter": "Conflict",
        "old-exporter": "Orphan",
        "prometheus": "Missing",
    }
