"""The daemon's panel check: every GrafanaDashboard panel asked of Prometheus, on the rule check's cadence.

After the desired state is adopted and then every `rule_check_interval` (checked at each
resync), the panels are asked of Prometheus (monop.prometheus.panels). Each change of a panel's
result is one log line (`panel_result_changed`), the counts are `monop_grafana_panels`, and the
last report goes into the state file, for `monop status` and the status page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monop.daemon.metrics import Metrics
from monop.desired.state import DesiredState
from monop.prometheus import api as prom
from monop.prometheus import panels
from monop.prometheus.panels import PanelReport
from monop.settings import Settings


class PanelSync:
    """The last panel check, and when the next is due."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics,
        log: Any,
        clock_wall: Callable[[], float],
        changed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self._wall = clock_wall
        self._changed = changed
        self.report: PanelReport | None = None  # the last check Prometheus answered
        self.checked_at: float | None = None  # wall time of the last check tried
        self._unreachable: str | None = None  # why Prometheus did not answer the last check, once logged

    def soon(self) -> None:
        """The dashboards changed: check at the next chance, whatever the interval."""
        self.checked_at = None

    async def check_if_due(self, state: DesiredState | None) -> None:
        """Check when none was tried since the dashboards changed, or `rule_check_interval` ago."""
        interval = self.settings.rule_check_interval
        if self.checked_at is not None and (not interval or self._wall() - self.checked_at < interval):
            return
        await self.check(state)

    async def check(self, state: DesiredState | None) -> None:
        """Ask Prometheus about every panel; log each panel whose result changed. Raises nothing."""
        if not self.settings.prometheus_url or state is None:
            return
        self.checked_at = self._wall()
        if not state.dashboards and self.report is None:
            return
        try:
            async with prom.connect(self.settings.prometheus_url) as api:
                assert api is not None
                report = await panels.check_state(
                    state, api, self.settings.scrape_address, self.settings.instance, now=self.checked_at
                )
        except Exception as err:
            self.metrics.panel_checks.labels("error").inc()
            self.log.error("panel_check_failed", error=str(err))
            return
        if not report.reachable:
            self.metrics.panel_checks.labels("unreachable").inc()
            if report.error != self._unreachable:  # said once per change, as the dead-selector check says it
                self.log.warning("panel_check_unreachable", url=report.url, error=report.error)
                self._unreachable = report.error
            return  # no answer is no news of the panels: the last report stays
        self._unreachable = None
        self.metrics.panel_checks.labels("ok").inc()
        before = _results(self.report) if self.report is not None else {}
        for board in report.dashboards:
            for i, panel in enumerate(board.panels):
                was = before.get((board.uid, i, panel.title))
                if was == panel.result.value:
                    continue
                log = self.log.info if panel.result is panels.PanelResult.DATA else self.log.warning
                log(
                    "panel_result_changed",
                    dashboard=board.uid,
                    panel=panel.title,
                    result=panel.result.value,
                    was=was,
                    reason=panel.reason,
                    error=panel.error,
                )
        self.report = report
        self.metrics.set_panels(report.results())
        self._changed()


def _results(report: PanelReport) -> dict[tuple[str, int, str], str]:
    return {(b.uid, i, p.title): p.result.value for b in report.dashboards for i, p in enumerate(b.panels)}
