"""status.json is made of each record's kept text: the same file as encoding the whole, every save.

The store keeps each record's text and makes it again only when the record or the secrets
remembered change; these check the file against `json.dumps` of the whole after each change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from monop import secrets
from monop.daemon.statestore import DaemonRecord, ResourceRecord, StateStore

DAEMON = DaemonRecord(pid=1, started_at=1.0, updated_at=2.0, source="/srv/desired", crash_loops={"a": {}})


def whole(daemon: DaemonRecord, resources: dict[str, ResourceRecord]) -> str:
    """The file as encoding it all at once makes it."""
    return json.dumps(
        secrets.scrub(
            {
                "version": 1,
                "daemon": asdict(daemon),
                "resources": {k: asdict(r) for k, r in sorted(resources.items())},
            }
        ),
        indent=1,
        sort_keys=True,
    )


def test_each_save_writes_what_encoding_the_whole_writes(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    records: dict[str, ResourceRecord] = {}
    store.save(DAEMON, records)
    assert store.path.read_text() == whole(DAEMON, records)
    for i in range(5):
        key = f"BusinessService/svc-{i}"
        records[key] = ResourceRecord(
            key,
            state="InSync",
            last_error="password=hunter2-is-long" if i == 2 else None,
            health={"check": {"at": 1.0, "output": ["a", "b"]}},
            conditions=[{"type": "Ready", "status": "True", "message": 'quotes " and \\ and \n'}],
        )
    store.save(DAEMON, records)
    assert store.path.read_text() == whole(DAEMON, records)

    # One changed, one replaced by an equal copy, one gone: the file follows each.
    records["BusinessService/svc-1"] = replace(records["BusinessService/svc-1"], state="Drifted")
    records["BusinessService/svc-3"] = replace(records["BusinessService/svc-3"])
    del records["BusinessService/svc-4"]
    later = replace(DAEMON, updated_at=3.0)
    store.save(later, records)
    assert store.path.read_text() == whole(later, records)
    assert json.loads(store.path.read_text())["resources"]["BusinessService/svc-1"]["state"] == "Drifted"


def test_a_secret_remembered_after_a_save_is_scrubbed_from_the_next(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    value = "remembered-later-7f3a9c"
    records = {"Exporter/x": ResourceRecord("Exporter/x", last_error=f"failed with {value}")}
    store.save(DAEMON, records)
    assert value in store.path.read_text()  # not known as a secret yet
    secrets.remember(secrets.Secrets(frozenset({value})))
    store.save(DAEMON, records)  # the same record: its text is made again all the same
    assert value not in store.path.read_text()
    assert store.path.read_text() == whole(DAEMON, records)
