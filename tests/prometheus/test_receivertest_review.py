"""`monop test receivers` against a real Alertmanager 0.25 (Debian's): the cases a review found wrong.

Ports: Alertmanager 20145, webhooks 20150-20159, closed ports 20160-20169.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.prometheus.test_receivertest_live import run, sync, write_secret_url

from monop.prometheus.receivertest import Outcome
from monop_testbed.alertmanager_server import AlertmanagerServer

pytestmark = pytest.mark.prometheus


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(tmp_path / "am", config=tmp_path / "alertmanager.yml", port=20145) as found:
        yield found


def test_a_secret_url_with_a_password_is_masked_in_the_form_go_prints_it(
    server: AlertmanagerServer, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    write_secret_url(desired, "http://bob:PW123secret@127.0.0.1:20160/hook/PATHSECRET")
    sync(desired, server)

    found = run(desired, server)["ops"]

    assert found.outcome is Outcome.FAILED, found
    assert "connection refused" in found.detail and "<secret>" in found.detail, found
    assert "PW123secret" not in str(found.to_json()) and "PATHSECRET" not in str(found.to_json())
    assert "bob:***@127.0.0.1:20160/hook/PATHSECRET" in server.log()  # how Go printed it
