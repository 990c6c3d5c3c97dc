"""What one central Prometheus needs to scrape a fleet: every host's targets at that host's address.

Each host's daemon writes file_sd files on its own machine, which a Prometheus elsewhere cannot
read; `monop render prometheus --fleet` writes the same targets, for every host a tree names, as
`static_configs` of one scrape_config, each target labelled `host`, with each daemon's own
/metrics (`monop_applied_revision_info{host,revision}`, `monop_resources{host,state}`, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monop.desired.state import DesiredState
from monop.prometheus.scrape import jobs, sd_groups

FLEET_SCRAPE_CONFIG = "monop-fleet"


@dataclass(frozen=True)
class FleetHost:
    """One host as a central Prometheus reaches it: its selection, its address, its daemon's port."""

    name: str
    state: DesiredState
    address: str  # host name or IP, as Prometheus dials it
    metrics_port: int  # where that host's monop serves /metrics


def fleet_config(hosts: Iterable[FleetHost]) -> dict[str, Any]:
    """`scrape_configs:` for the central prometheus.yml: one pool of static targets, host by host.

    A target whose scrape names no address is reached at its host's `address`; each carries its
    job, path, scheme, interval and timeout as labels, as the file_sd files do (monop.prometheus.scrape).
    """
    groups: list[dict[str, Any]] = []
    for host in sorted(hosts, key=lambda h: h.name):
        for job in jobs(host.state, host.address, f"{host.address}:{host.metrics_port}"):
            groups.extend(sd_groups(dataclasses.replace(job, host=host.name)))
    return {"scrape_configs": [{"job_name": FLEET_SCRAPE_CONFIG, "static_configs": groups}]}


def address_of(name: str, given: str | None, default_port: int) -> tuple[str, int]:
    """A host's address and its daemon's port from the `fleet_addresses` setting's entry
    (`host`, `host:port` or `[v6]:port`, checked by Settings); no entry: the host's name and
    `default_port`. An IPv6 address is returned bare (`::1`): the targets bracket it."""
    if not given:
        return name, default_port
    host, colon, port = given.rpartition(":")
    if colon and port.isdigit() and (not host.count(":") or host.startswith("[")):
        return host.strip("[]"), int(port)
    return given.strip("[]"), default_port
