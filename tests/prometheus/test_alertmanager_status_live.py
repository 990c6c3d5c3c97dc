"""`status` of alertmanager.yml against a real Alertmanager 0.25 (Debian's): Loaded only when it runs the file.

Ports: Alertmanager 20140; the webhooks are never called (20141, 20142).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.prometheus import alertmanager as am
from monop.prometheus.alertmanager import AlertmanagerAPI, ConfigState
from monop_testbed.alertmanager_server import AlertmanagerServer

pytestmark = pytest.mark.prometheus

DESIRED = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec: {{receiver: ops}}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: ops}}
spec:
  matchers: [{{name: team, value: ops}}, {{name: severity, value: critical}}]
  webhookConfigs: [{{urlSecret: {{file: {secret}}}}}]
"""


def status(desired: Path, server: AlertmanagerServer, *, reload: bool = True) -> am.ConfigStatus:
    async def go() -> am.ConfigStatus:
        api = AlertmanagerAPI(server.url)
        try:
            alerting = load(desired).alerting
            result = await am.sync(alerting, server.config, api if reload else None)
            assert result.written and result.rejected is None, result
            return await am.status(alerting, server.config, api)
        finally:
            await api.close()

    return asyncio.run(go())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(tmp_path / "am", config=tmp_path / "alertmanager.yml", port=20140) as found:
        yield found


def test_loaded_while_alertmanager_runs_the_file_and_not_loaded_when_only_a_secret_differs(
    server: AlertmanagerServer, tmp_path: Path
) -> None:
    secret = tmp_path / "hook-url"
    secret.write_text("http://127.0.0.1:20141/hooks/ONE\n")
    secret.chmod(0o600)
    desired = tmp_path / "desired"
    desired.mkdir()
    # Two matchers not in sorted order: Alertmanager prints them sorted.
    (desired / "alerting.yaml").write_text(DESIRED.format(secret=secret))

    found = status(desired, server)

    assert found.state is ConfigState.LOADED, found
    assert found.hash == found.running_hash == am.config_hash(server.config.read_text())
    assert str(found).startswith(
        f"alertmanager {server.config} Loaded (file {found.hash}, runs {found.hash})"
    )

    # The secret changes and the file is rewritten, but Alertmanager is not reloaded: it runs
    # the old URL, which it prints as <secret> like the new one.
    secret.write_text("http://127.0.0.1:20142/hooks/TWO\n")
    found = status(desired, server, reload=False)

    assert "TWO" in server.config.read_text()
    assert found.state is ConfigState.NOT_LOADED, found
    assert found.hash != found.running_hash
    assert found.refused and "ONE" not in str(found) and "TWO" not in str(found)
