"""What `status` says of each receiver, without Alertmanager: routed or not, and its last test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monop.desired.loader import load
from monop.prometheus import alertmanager as am
from monop.prometheus.alertmanager import ConfigState, config_hash

DESIRED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {name: alertmanager}
spec: {receiver: ops}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {name: ops}
spec:
  webhookConfigs: [{url: "http://127.0.0.1:20188/ops"}]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {name: pager}
spec:
  matchers: [{name: severity, value: page}]
  webhookConfigs: [{url: "http://127.0.0.1:20188/pager"}]
---
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata: {name: node}
spec:
  rules:
    - alert: NodeDown
      expr: up{job="node"} == 0
      labels: {severity: critical}
"""


def test_a_receiver_no_desired_rule_reaches_is_shown_unrouted_with_its_last_test(tmp_path: Path) -> None:
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "alerting.yaml").write_text(DESIRED)
    state = load(tmp_path / "desired")
    path = tmp_path / "alertmanager.yml"
    tests = {"ops": {"receiver": "ops", "outcome": "failed", "detail": "webhook[0]: connection refused"}}

    found = asyncio.run(am.status(state.alerting, path, None, rule_groups=state.rule_groups, tests=tests))

    assert found.state is ConfigState.NOT_WRITTEN and not found.refused
    by_name = {r.name: r for r in found.receivers}
    assert by_name["ops"].unrouted is None
    assert str(by_name["ops"]) == "ops (webhook): routed; last test failed: webhook[0]: connection refused"
    assert by_name["pager"].unrouted is not None and "severity=critical" in by_name["pager"].unrouted
    assert by_name["pager"].to_json()["routed"] is False and by_name["pager"].last_test is None

    assert asyncio.run(am.sync(state.alerting, path, None)).written
    written = asyncio.run(am.status(state.alerting, path, None))
    assert written.state is ConfigState.WRITTEN and written.hash == config_hash(path.read_text())


def test_credentials_in_alertmanager_url_are_not_in_the_status(tmp_path: Path) -> None:
    (tmp_path / "desired").mkdir()
    (tmp_path / "desired" / "alerting.yaml").write_text(DESIRED)
    state = load(tmp_path / "desired")
    path = tmp_path / "alertmanager.yml"
    assert asyncio.run(am.sync(state.alerting, path, None)).written

    async def go() -> am.ConfigStatus:
        api = am.AlertmanagerAPI("http://monop:S3cretPass@127.0.0.1:20146")  # nothing listens there
        try:
            return await am.status(state.alerting, path, api)
        finally:
            await api.close()

    found = asyncio.run(go())

    assert found.state is ConfigState.WRITTEN and found.error is not None
    assert "127.0.0.1:20146" in found.error and "S3cretPass" not in found.error, found.error
