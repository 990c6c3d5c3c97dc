"""Keeping Grafana's provisioning directory equal to the desired dashboards and datasources.

Each file is written atomically (a temporary file renamed over it) and only when its content
changed, so Grafana's provider, which polls the directory, never reads half a file and sees a
new modification time only for what changed. JSON files under monop's own `dashboards/monop/`
that no GrafanaDashboard asks for any more are removed; nothing else in the directory is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monop.daemon.metrics import Metrics
from monop.desired.grafana import check_promql
from monop.desired.grafana_files import DASHBOARDS, render
from monop.desired.state import DesiredState
from monop.errors import Severity
from monop.files import write_atomic
from monop.settings import Settings

FILE_MODE = 0o644  # Grafana's container runs as its own user (472) and must read them
DIR_MODE = 0o755


@dataclass(frozen=True)
class WriteResult:
    written: tuple[str, ...]  # paths relative to the directory
    removed: tuple[str, ...]


def write_files(files: Mapping[str, str], directory: Path) -> WriteResult:
    """Make `directory` hold `files` (relative path -> text): changed ones written, stale dashboards removed.

    Raises OSError when the directory or a file cannot be written; what was written stays.
    """
    written = []
    for relative, text in sorted(files.items()):
        target = directory / relative
        try:
            if target.read_text(encoding="utf-8") == text:
                continue
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
            pass
        _make_dirs(directory, target.parent)
        write_atomic(target, text, FILE_MODE)
        written.append(relative)
    removed = []
    own = directory / DASHBOARDS
    if own.is_dir():
        for path in sorted(own.rglob("*.json"), reverse=True):
            relative = str(path.relative_to(directory))
            if relative not in files and path.is_file():
                path.unlink()
                removed.append(relative)
        for folder in sorted((p for p in own.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()  # a Grafana folder no dashboard is in any more
    return WriteResult(tuple(written), tuple(removed))


def _make_dirs(top: Path, path: Path) -> None:
    missing = []
    while not path.exists() and path != top.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # whatever the umask: Grafana's user reads through it


def publish(state: DesiredState, directory: Path) -> WriteResult:
    """Write the desired state's Grafana files into `directory`, as the daemon keeps them.

    A state without Grafana's kinds makes no directory (nor touches one monop never wrote).
    Raises OSError when a file cannot be written.
    """
    if not state.grafana and not (directory / DASHBOARDS).exists():
        return WriteResult((), ())
    return write_files(render(state.dashboards, state.grafana), directory)


class GrafanaSync:
    """The daemon's side of Grafana: the provisioning files, written when the desired state is adopted."""

    def __init__(self, settings: Settings, *, metrics: Metrics, log: Any) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self.error: str | None = None  # why the files are not what the desired state says

    def sync(self, state: DesiredState) -> None:
        """Write what changed; log each file; a failure is logged, counted and kept in `error`.

        The daemon loads the desired state without promtool (monop.desired.source), so the panels'
        PromQL is checked here, before anything is written, as rule files are before they replace
        Prometheus's: a query promtool cannot parse leaves every file as it was (`refused`).
        """
        directory = self.settings.grafana_dir
        refused = [p for p in check_promql(state.dashboards) if p.severity is Severity.ERROR]
        if refused:
            self.error = "; ".join(str(p) for p in refused)
            self.log.error(
                "grafana_files_refused", grafana_dir=str(directory), problems=[str(p) for p in refused]
            )
            self.metrics.grafana_syncs.labels("refused").inc()
            return
        try:
            result = publish(state, directory)
        except OSError as err:
            self.error = f"{err.filename or directory}: {err.strerror or err}"
            self.log.error("grafana_files_write_failed", grafana_dir=str(directory), error=self.error)
            self.metrics.grafana_syncs.labels("error").inc()
            return
        self.error = None
        for relative in result.written:
            self.log.info("grafana_file_written", path=str(directory / relative))
        for relative in result.removed:
            self.log.info("grafana_file_removed", path=str(directory / relative))
        if result.written or result.removed:
            self.metrics.grafana_syncs.labels("written").inc()
