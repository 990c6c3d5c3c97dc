"""The fault runner's pytest plugin: one row per `@pytest.mark.fault` test, printed as a table.

A fault test asks for the `fault` fixture and says what it did to the daemon
(`fault.inject("desired directory deleted")`), which daemons it ran (`fault.watch(daemon)`:
their logs are searched for tracebacks) and what Podman ran (`fault.count(service, names)`:
containers lost and duplicated, as `count_containers` counts them). `scripts/faults` runs
`pytest -m fault --fault-table`; the table comes at the end of the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService

MANAGED = "monop.dev/managed-by=monop"


def count_containers(service: PodmanService, names: Iterable[str]) -> tuple[int, int]:
    """(lost, duplicated) in the private Podman: desired `names` without a running container of
    theirs, and containers beyond the first that monop made for one name (its `monop.dev/name` label)."""
    out = service.podman("ps", "-a", "--filter", f"label={MANAGED}", "--format", "json").stdout
    per_name: dict[str, list[str]] = {}
    for container in json.loads(out or "[]"):
        name = (container.get("Labels") or {}).get("monop.dev/name", container["Names"][0])
        per_name.setdefault(name, []).append(container["State"])
    lost = sum(1 for n in names if "running" not in per_name.get(n, []))
    duplicated = sum(len(states) - 1 for states in per_name.values() if len(states) > 1)
    return lost, duplicated


@dataclass
class FaultRecord:
    """What one fault test injected, and what it found."""

    test: str
    injected: list[str] = field(default_factory=list)
    daemons: list[DaemonProcess] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    outcome: str = "not run"

    def inject(self, what: str) -> None:
        self.injected.append(what)

    def watch(self, daemon: DaemonProcess) -> DaemonProcess:
        self.daemons.append(daemon)
        return daemon

    def count(self, service: PodmanService, names: Iterable[str]) -> tuple[int, int]:
        """Count lost and duplicated containers now; the row keeps the worst seen."""
        lost, duplicated = count_containers(service, names)
        self.lost, self.duplicated = max(self.lost, lost), max(self.duplicated, duplicated)
        return lost, duplicated

    @property
    def tracebacks(self) -> int:
        return sum(d.tracebacks() for d in self.daemons)


_RECORDS_KEY = pytest.StashKey[dict[str, FaultRecord]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-table",
        action="store_true",
        help="print a table of the fault tests at the end (scripts/faults)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORDS_KEY] = {}


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> Iterator[FaultRecord]:
    """This test's row of the fault table."""
    records = request.config.stash[_RECORDS_KEY]
    record = records.setdefault(request.node.nodeid, FaultRecord(request.node.nodeid))
    yield record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if item.get_closest_marker("fault") is None:
        return report
    records = item.config.stash[_RECORDS_KEY]
    record = records.setdefault(item.nodeid, FaultRecord(item.nodeid))
    if report.when == "call" or (report.when == "setup" and report.failed):
        record.outcome = "passed" if report.passed else ("skipped" if report.skipped else "failed")
    elif report.when == "teardown" and report.failed:
        record.outcome = "failed"
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    records = config.stash.get(_RECORDS_KEY, {})
    if not config.getoption("--fault-table") or not records:
        return
    rows = [("FAULT TEST", "INJECTED", "SURVIVED", "LOST", "DUPLICATED", "TRACEBACKS")]
    for record in records.values():
        rows.append(
            (
                record.test.split("::")[-1],
                "; ".join(record.injected) or "-",
                {"passed": "yes", "failed": "NO"}.get(record.outcome, record.outcome),
                str(record.lost),
                str(record.duplicated),
                str(record.tracebacks),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    terminalreporter.section("faults")
    for row in rows:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    survived = sum(r.outcome == "passed" for r in records.values())
    terminalreporter.write_line(
        f"{len(records)} fault test(s), {sum(len(r.injected) for r in records.values())} fault(s) injected, "
        f"{survived} survived, {sum(r.lost for r in records.values())} container(s) lost, "
        f"{sum(r.duplicated for r in records.values())} duplicated, "
        f"{sum(r.tracebacks for r in records.values())} traceback(s) in daemon logs"
    )
