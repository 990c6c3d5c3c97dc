"""A real `monop run` keeps a real Alertmanager's config equal to the desired receivers.

The daemon writes alertmanager.yml (amtool first), reloads Alertmanager and checks through
/api/v2/status that it runs it; an edit of a receiver reaches the running Alertmanager the same
way. Needs no container: the desired state holds only alerting resources.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monop_testbed.alertmanager_server import AlertmanagerServer
from monop_testbed.daemon import DaemonProcess
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.prometheus]

ALERTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {{name: alertmanager}}
spec:
  receiver: team
  groupBy: [alertname]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {{name: team}}
spec:
  webhookConfigs:
    - url: http://127.0.0.1:{port}/hook
"""


def test_the_daemon_writes_reloads_and_follows_the_receivers(
    tmp_path: Path, podman_service: PodmanService
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "alerting.yaml").write_text(ALERTING.format(port=19991))
    config = tmp_path / "am" / "alertmanager.yml"
    with AlertmanagerServer(tmp_path / "am", config) as am:
        env = {"MONOP_ALERTMANAGER_CONFIG": str(config), "MONOP_ALERTMANAGER_URL": am.url}
        with DaemonProcess(podman_service.url, desired, tmp_path / "state", extra_env=env) as daemon:
            daemon.wait_ready()
            wait_for(lambda: "127.0.0.1:19991/hook" in am.running_config(), 60, "the receiver running")
            assert daemon.events("alertmanager_config_written")
            (desired / "alerting.yaml").write_text(ALERTING.format(port=19992))
            wait_for(lambda: "127.0.0.1:19992/hook" in am.running_config(), 60, "the edited receiver running")
            assert daemon.metric("monop_alertmanager_config_syncs_total", result="written") == 2
            assert daemon.metric("monop_alertmanager_config_state", state="Loaded") == 1
            assert daemon.metric("monop_alertmanager_receivers", routed="true") == 1
            assert daemon.metric("monop_alertmanager_config_last_loaded_timestamp_seconds") > 0
