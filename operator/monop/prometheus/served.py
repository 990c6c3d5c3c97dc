"""Telling a Prometheus or Alertmanager that runs as a container that a file monop writes changed.

`reload_and_verify()` posts to the container's reload endpoint (its `reload.http`), then checks,
where the server shows it, that what it runs is what the files now hold: every rule group of the
mounted rule files in Prometheus's `/api/v1/rules`; alertmanager.yml in Alertmanager's
`/api/v2/status` (`config.original`). A server that shows neither is taken at its reload's word.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx
import yaml

from monop.errors import PrometheusUnreachable
from monop.prometheus.alertmanager import AlertmanagerAPI, AlertmanagerUnreachable, runs
from monop.prometheus.api import PrometheusAPI


async def post_reload(url: str, timeout: float = 10.0) -> str | None:
    """`POST url`: None when the server reloaded (HTTP 200), else why not, in its own words."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url)
    except httpx.HTTPError as err:
        return f"cannot reach {url}: {err or type(err).__name__}"
    if response.status_code == 200:
        return None
    said = response.text.strip()
    if response.status_code in (403, 404, 405):
        said = f"{said} (Prometheus needs --web.enable-lifecycle)" if said else "reload not enabled"
    return f"{url} answered {response.status_code}: {said or 'no reason given'}"


def rule_group_names(paths: Iterable[Path]) -> set[str]:
    """The names of the rule groups in the rule files under `paths` (files or directories)."""
    names: set[str] = set()
    for path in paths:
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            if file.name.startswith(".") or not file.is_file():
                continue
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                continue
            for group in data.get("groups") or [] if isinstance(data, dict) else []:
                if isinstance(group, dict) and isinstance(group.get("name"), str):
                    names.add(group["name"])
    return names


async def verify_rules(base_url: str, paths: Iterable[Path]) -> str | None:
    """None when Prometheus at `base_url` has loaded every group of the rule files; else what it lacks.

    Prometheus unreachable, or answering no rules API, is None: nothing to verify against.
    """
    wanted = rule_group_names(paths)
    api = PrometheusAPI(base_url)
    try:
        loaded = await api.rule_groups()
    except PrometheusUnreachable:
        return None
    finally:
        await api.close()
    missing = sorted(wanted - loaded)
    return f"rule groups not loaded after the reload: {', '.join(missing)}" if missing else None


async def verify_alertmanager(base_url: str, config: Path) -> str | None:
    """None when the Alertmanager at `base_url` runs `config` (as far as `/api/v2/status` shows)."""
    try:
        written = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    api = AlertmanagerAPI(base_url)
    try:
        running = await api.running_config()
    except AlertmanagerUnreachable:
        return None
    finally:
        await api.close()
    if isinstance(written, dict) and not runs(written, running):
        return f"Alertmanager at {base_url} runs another config than {config} after the reload"
    return None
