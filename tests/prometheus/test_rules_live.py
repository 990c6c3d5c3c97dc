"""AlertRuleGroups as rule files, checked by the real promtool and loaded by a real Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.prometheus import rules as rulefiles
from monop.prometheus.api import PrometheusAPI
from monop.prometheus.rules import RuleState
from monop_testbed.podman_service import wait_for
from monop_testbed.prometheus_server import PrometheusServer

pytestmark = pytest.mark.prometheus

GROUP = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {{name: {name}}}
spec:
  rules:
    - alert: {alert}
      expr: {expr}
      for: 1m
      labels: {{severity: warning}}
      annotations: {{summary: "{alert} fired"}}
"""


def write_group(desired: Path, name: str, expr: str, alert: str = "Something") -> None:
    desired.mkdir(exist_ok=True)
    (desired / f"{name}.yaml").write_text(GROUP.format(name=name, alert=alert, expr=expr))


def sync(desired: Path, rules_dir: Path, url: str) -> rulefiles.SyncResult:
    async def go() -> rulefiles.SyncResult:
        api = PrometheusAPI(url)
        try:
            return await rulefiles.sync(load(desired).rule_groups, rules_dir, api)
        finally:
            await api.close()

    return asyncio.run(go())


def states(desired: Path, rules_dir: Path, url: str) -> dict[str, RuleState]:
    async def go() -> dict[str, RuleState]:
        api = PrometheusAPI(url)
        try:
            found = await rulefiles.statuses(load(desired).rule_groups, rules_dir, api)
        finally:
            await api.close()
        return {s.name: s.state for s in found}

    return asyncio.run(go())


def loaded_rules(url: str) -> dict[str, list[str]]:
    """group -> its rules' queries, as Prometheus has them loaded."""
    import httpx

    groups = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return {g["name"]: [r["query"] for r in g["rules"]] for g in groups}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrometheusServer]:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    with PrometheusServer(tmp_path / "prometheus", [], rules_dir=rules_dir) as prometheus:
        yield prometheus


def test_seed_groups_load_whatever_quotes_the_promql_uses(server: PrometheusServer, tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    rules_dir = tmp_path / "rules"
    write_group(desired, "doubles", """'node_cpu_seconds_total{mode="idle"} > 0'""", alert="Doubles")
    write_group(desired, "singles", '''"node_cpu_seconds_total{mode='idle'} > 0"''', alert="Singles")
    result = sync(desired, rules_dir, server.url)
    assert (result.written, result.rejected, result.reload_error) == (("doubles", "singles"), {}, None)
    assert states(desired, rules_dir, server.url) == {
        "doubles": RuleState.LOADED,
        "singles": RuleState.LOADED,
    }
    loaded = loaded_rules(server.url)
    assert loaded["doubles"] == ['node_cpu_seconds_total{mode="idle"} > 0']
    assert loaded["singles"] == ['node_cpu_seconds_total{mode="idle"} > 0']
    assert sync(desired, rules_dir, server.url).changed is False  # nothing new: no write, no reload


def test_the_repositorys_alert_rules_pass_promtool(server: PrometheusServer, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    result = sync(repo / "desired", tmp_path / "rules", server.url)
    assert result.rejected == {}
    assert set(loaded_rules(server.url)) == {"system-critical", "gpu-monitoring"}


def test_a_broken_rule_is_refused_and_the_previous_rules_stay_loaded(
    server: PrometheusServer, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    rules_dir = tmp_path / "rules"
    write_group(desired, "system", "'up == 0'")
    assert sync(desired, rules_dir, server.url).written == ("system",)
    good = (rules_dir / "system.yml").read_text()
    write_group(desired, "system", "'up == == 0'")  # valid YAML, broken PromQL
    result = sync(desired, rules_dir, server.url)
    assert result.written == () and "system" in result.rejected
    assert "parse error" in result.rejected["system"]
    assert (rules_dir / "system.yml").read_text() == good
    assert loaded_rules(server.url) == {"system": ["up == 0"]}
    assert states(desired, rules_dir, server.url)["system"] is RuleState.NOT_WRITTEN


def test_a_group_prometheus_did_not_load_is_drift(server: PrometheusServer, tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    elsewhere = tmp_path / "not-read-by-prometheus"
    write_group(desired, "system", "'up == 0'")
    sync(desired, elsewhere, server.url)
    assert states(desired, elsewhere, server.url) == {"system": RuleState.NOT_LOADED}


def test_a_removed_group_leaves_prometheus(server: PrometheusServer, tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    rules_dir = tmp_path / "rules"
    write_group(desired, "one", "'up == 0'")
    write_group(desired, "two", "'up == 1'")
    sync(desired, rules_dir, server.url)
    (desired / "two.yaml").unlink()
    assert sync(desired, rules_dir, server.url).removed == ("two",)
    wait_for(lambda: set(loaded_rules(server.url)) == {"one"}, 10, "group two unloaded")


def test_without_promtool_prometheus_refuses_and_the_previous_file_comes_back(
    server: PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where promtool is not installed, the reload is the check: a refused file is rolled back."""
    real_which = rulefiles.shutil.which
    monkeypatch.setattr(
        rulefiles.shutil, "which", lambda name: None if name == "promtool" else real_which(name)
    )
    desired = tmp_path / "desired"
    rules_dir = tmp_path / "rules"
    write_group(desired, "system", "'up == 0'")
    assert sync(desired, rules_dir, server.url).written == ("system",)
    good = (rules_dir / "system.yml").read_text()
    write_group(desired, "system", "'up == == 0'")
    result = sync(desired, rules_dir, server.url)
    assert result.written == () and result.reload_error is not None
    assert "system" in result.rejected
    assert (rules_dir / "system.yml").read_text() == good
    assert loaded_rules(server.url) == {"system": ["up == 0"]}
