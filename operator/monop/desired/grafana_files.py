"""The files of Grafana's provisioning directory that monop writes: dashboards, their provider, datasources.

`grafana_dir` is laid out as Grafana's provisioning directory, to be mounted whole at
`/etc/grafana/provisioning` (Grafana's default `paths.provisioning`):

    dashboards/monop.yaml                 the dashboard provider: reads dashboards/monop/ every 30 s
    dashboards/monop/[FOLDER/]UID.json    one per GrafanaDashboard, in its folder's directory
    datasources/monop.yaml                the GrafanaDatasources (prune: Grafana drops those removed)

The format is Grafana's file provisioning (docs: administration/provisioning, apiVersion 1).
Grafana reads a dashboard file's `title` at its top level; a changed dashboard is picked up at
the provider's interval, a datasource at Grafana's start or its provisioning reload
(`POST /api/admin/provisioning/datasources/reload`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from monop.api.grafana import GrafanaDatasourceResource
from monop.desired.dashboard import Dashboard
from monop.desired.grafana import PROMETHEUS, datasource_of
from monop.desired.state import LoadedResource

MOUNT = "/etc/grafana/provisioning"  # where the Grafana container mounts grafana_dir
PROVIDER = "monop"
DASHBOARDS = PurePosixPath("dashboards") / PROVIDER  # monop's own: every file below is monop's
PROVIDER_FILE = PurePosixPath("dashboards") / f"{PROVIDER}.yaml"
DATASOURCES_FILE = PurePosixPath("datasources") / f"{PROVIDER}.yaml"
UPDATE_INTERVAL_S = 30
HEADER = "# Written by monop from the desired state ({kinds}); edit those, not this file.\n"


def dashboard_path(board: Dashboard) -> PurePosixPath:
    """`dashboards/monop/[FOLDER/]UID.json`: the provider makes each directory a Grafana folder."""
    return (
        DASHBOARDS / board.folder / f"{board.uid}.json" if board.folder else DASHBOARDS / f"{board.uid}.json"
    )


def provider() -> dict[str, Any]:
    """The dashboard provider: files under dashboards/monop/, folders from their directories."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": PROVIDER,
                "orgId": 1,
                "type": "file",
                "disableDeletion": False,  # a dashboard removed from the desired state goes
                "allowUiUpdates": False,  # the desired state is the source: no edits in the UI
                "updateIntervalSeconds": UPDATE_INTERVAL_S,
                "options": {"path": f"{MOUNT}/{DASHBOARDS}", "foldersFromFilesStructure": True},
            }
        ],
    }


def datasources(sources: Sequence[LoadedResource]) -> dict[str, Any]:
    """The datasources file: each GrafanaDatasource as a Prometheus datasource, by its uid."""
    out = []
    for loaded in sources:
        source = datasource_of(loaded)
        spec = source.spec
        json_data: dict[str, Any] = {"httpMethod": spec.http_method}
        if spec.time_interval is not None:
            json_data["timeInterval"] = spec.time_interval
        out.append(
            {
                "name": spec.display_name or source.name,
                "type": PROMETHEUS,
                "uid": source.uid,
                "access": "proxy",
                "orgId": 1,
                "url": spec.url,
                "isDefault": spec.is_default,
                "editable": False,
                "jsonData": json_data,
            }
        )
    # prune: a datasource no longer in this file is deleted from Grafana (Grafana 11.1 and later).
    return {"apiVersion": 1, "prune": True, "datasources": out}


def render(dashboards: Sequence[Dashboard], grafana: Sequence[LoadedResource]) -> dict[str, str]:
    """Every file monop keeps in `grafana_dir`: relative path -> text. Deterministic: unchanged is byte-equal."""
    sources = [r for r in grafana if isinstance(r.resource, GrafanaDatasourceResource)]
    files = {
        str(PROVIDER_FILE): HEADER.format(kinds="GrafanaDashboard") + _yaml(provider()),
        str(DATASOURCES_FILE): HEADER.format(kinds="GrafanaDatasource") + _yaml(datasources(sources)),
    }
    for board in dashboards:
        files[str(dashboard_path(board))] = board.to_json()
    return files


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=10_000, allow_unicode=True)
