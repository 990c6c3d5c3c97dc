"""Everything a loaded desired state feeds: the container config, Podman's create request,
Prometheus's targets, scrape config and rule files. A valid state must get through all of it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from monop.desired.state import DesiredState
from monop.prometheus import scrape as prometheus
from monop.prometheus.rules import render
from monop.runtime.createspec import create_spec
from monop.runtime.expand import expand, spec_hash


def render_everything(state: DesiredState) -> str:
    """All of it as one text, so a test can look for what the user wrote."""
    out = []
    for loaded in state.resources:
        config = expand(loaded.resource, loaded.base_dir)
        spec_hash(config)
        out.append(json.dumps(create_spec(config, {}), default=str))
    jobs = prometheus.jobs(state, "127.0.0.1", None)
    out.append(json.dumps([prometheus.sd_groups(job) for job in jobs]))
    out.append(yaml.safe_dump(prometheus.config(Path("/sd"), Path("/rules"))))
    out.extend(render(group) for group in state.rule_groups)
    return "\n".join(out)
