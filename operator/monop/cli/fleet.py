"""The fleet's commands' work: one host's selection as YAML, and a central Prometheus's config.

`monop render desired [--host NAME]` and `monop render prometheus --fleet` (monop.cli.main) call
these; the selection itself is monop.desired.fleet's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monop.cli.state import desired_state

if TYPE_CHECKING:
    from monop.desired.state import DesiredState
    from monop.settings import Settings


def as_host(settings: Settings, name: str | None) -> Settings:
    """`settings` as the daemon of host `name` has them: its name, and its labels if it is this
    host (another host's labels are not known here: it has only `hostname`)."""
    from monop.desired.source import this_host

    if name is None or name == this_host(settings).name:
        return settings
    return settings.model_copy(update={"host_name": name, "host_labels": {}})


def selection_yaml(state: DesiredState) -> str:
    """Every resource `state.host` runs, one YAML document each, with the file and line it came
    from: a `hosts/<name>/` document shows there in place of the shared one it replaces."""
    import yaml

    head = f"# The selection of host {state.host} (hosts the tree names: {', '.join(state.hosts)}).\n"
    documents = []
    for loaded in (*state.resources, *state.rule_groups, *state.alerting):
        body = loaded.resource.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        body = {"apiVersion": body.pop("apiVersion", None), "kind": loaded.resource.kind, **body}
        body = {k: v for k, v in body.items() if v is not None}
        documents.append(f"# from {loaded.file}:{loaded.line}\n" + yaml.safe_dump(body, sort_keys=False))
    return head + "---\n".join(documents)


def fleet_config(settings: Settings) -> dict[str, Any]:
    """What one central Prometheus needs for every host the desired state names (monop.prometheus.fleet)."""
    from monop.prometheus.fleet import FleetHost, address_of
    from monop.prometheus.fleet import fleet_config as config

    own = desired_state(settings)
    port = int(settings.metrics_address.rpartition(":")[2])
    hosts = []
    for name in own.hosts:
        state = own if name == own.host else desired_state(as_host(settings, name))
        address, metrics_port = address_of(name, settings.fleet_addresses.get(name), port)
        hosts.append(FleetHost(name, state, address, metrics_port))
    return config(hosts)
