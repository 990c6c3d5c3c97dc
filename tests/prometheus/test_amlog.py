"""Alertmanager's log lines about notifications, as Alertmanager 0.25 writes them (copied from its output)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monop.prometheus.amlog import AlertmanagerLog, NotifyLine, Said, parse_line

RETRY = (
    "ts=2026-12-01T01:50:31.666Z caller=notify.go:732 level=warn component=dispatcher receiver=closed "
    'integration=webhook[0] msg="Notify attempt failed, will retry later" attempts=1 '
    'err="Post \\"http://127.0.0.1:20199/x\\": dial tcp 127.0.0.1:20199: connect: connection refused"'
)
GAVE_UP = (
    "ts=2026-12-01T01:50:41.672Z caller=dispatch.go:352 level=error component=dispatcher "
    'msg="Notify for alerts failed" num_alerts=1 err="team/a/webhook[0]: notify retry canceled after 7 '
    'attempts: Post \\"http://127.0.0.1:20199/x\\": dial tcp 127.0.0.1:20199: connect: connection refused"'
)
SUCCESS = (
    "ts=2026-12-01T01:50:41.672Z caller=notify.go:746 level=debug component=dispatcher receiver=ops "
    'integration=slack[1] msg="Notify success" attempts=1'
)
JSON = (
    '{"caller":"notify.go:732","component":"dispatcher","err":"unexpected status code 500","integration":'
    '"webhook[0]","level":"warn","msg":"Notify attempt failed, will retry later","receiver":"ops"}'
)
REFUSED = 'http://127.0.0.1:20199/x": dial tcp 127.0.0.1:20199: connect: connection refused'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (RETRY, NotifyLine("closed", "webhook[0]", Said.FAILED, 'Post "' + REFUSED)),
        (
            GAVE_UP,
            NotifyLine(
                "team/a",
                "webhook[0]",
                Said.GAVE_UP,
                'team/a/webhook[0]: notify retry canceled after 7 attempts: Post "' + REFUSED,
            ),
        ),
        (SUCCESS, NotifyLine("ops", "slack[1]", Said.SUCCEEDED)),
        (JSON, NotifyLine("ops", "webhook[0]", Said.FAILED, "unexpected status code 500")),
        # A container's k8s-file log puts a time and the stream before Alertmanager's line.
        (
            "2026-12-01T01:50:31.666+00:00 stderr F " + RETRY,
            NotifyLine("closed", "webhook[0]", Said.FAILED, 'Post "' + REFUSED),
        ),
        ('ts=x level=info component=configuration msg="Loading configuration file" file=/a.yml', None),
        ('ts=x level=error msg="Notify for alerts failed" err="context canceled"', None),
        ("not logfmt at all {", None),
    ],
)
def test_each_notification_line_names_its_receiver_and_carries_alertmanagers_error(
    line: str, expected: NotifyLine | None
) -> None:
    assert parse_line(line) == expected


def test_only_what_the_log_gained_since_the_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.log"
    path.write_text(RETRY + "\n")
    log = AlertmanagerLog(path)
    mark = asyncio.run(log.mark())
    assert asyncio.run(log.since(mark)) == []
    with path.open("a") as f:
        f.write(SUCCESS + "\n")
    assert [line.receiver for line in asyncio.run(log.since(mark))] == ["ops"]
    path.write_text(SUCCESS + "\n")  # rotated: shorter than the mark, read from its start
    assert [line.said for line in asyncio.run(log.since(mark))] == [Said.SUCCEEDED]


def test_a_log_rotated_by_copytruncate_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.log"
    path.write_text(SUCCESS + "\n")
    log = AlertmanagerLog(path)
    mark = asyncio.run(log.mark())
    # logrotate's copytruncate: the same file, emptied, then written again past the mark's size.
    with path.open("r+") as f:
        f.truncate(0)
        f.write(RETRY + "\n" + JSON + "\n")
    assert [line.receiver for line in asyncio.run(log.since(mark))] == ["closed", "ops"]


def test_a_container_logs_partial_lines_are_joined(tmp_path: Path) -> None:
    path = tmp_path / "ctr.log"  # Podman's k8s-file log: a long line is split into P parts and an F
    path.write_text("")
    log = AlertmanagerLog(path)
    mark = asyncio.run(log.mark())
    half = len(RETRY) // 2
    path.write_text(
        f"2026-12-01T01:50:31.666+00:00 stderr P {RETRY[:half]}\n"
        f"2026-12-01T01:50:31.667+00:00 stderr F {RETRY[half:]}\n"
    )
    found = asyncio.run(log.since(mark))
    assert found == [NotifyLine("closed", "webhook[0]", Said.FAILED, 'Post "' + REFUSED)]
