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


def host_state(settings: Settings, name: str | None) -> DesiredState:
    """The selection of host `name` (None: this host), validated as its daemon would; exit 1 if invalid.

    Another host's labels are its own daemon's (`host_labels`): only its name is known here, so
    a resource placed by another of its labels is undecided and left out, which stderr says.
    """
    from monop.cli.app import note
    from monop.desired.fleet import Host
    from monop.desired.source import this_host

    if name is None or name == this_host(settings).name:
        return desired_state(settings)
    state = desired_state(settings, host=Host(name, labels_known=False))
    if not state.named:
        named = ", ".join(h for h in state.hosts if h != name) or "none"
        note(
            f"warning: the desired state names no host {name} (hosts it names: {named}): its selection is the shared one"
        )
    if state.undecided:
        note(
            f"warning: host {name}: left out, placed by host labels not known here (they are its "
            f"daemon's host_labels): {', '.join(state.undecided)}"
        )
    return state


def selection_yaml(state: DesiredState) -> str:
    """Every resource `state.host` runs, one YAML document each, with the file and line it came
    from: a `hosts/<name>/` document shows there in place of the shared one it replaces.

    Secrets are masked as `<secret>` as `monop plan` masks them (monop.secrets): every value a
    container's secrets are found in, and any string under a secret-looking key (a receiver's
    or datasource's `password`).
    """
    import yaml

    from monop import secrets
    from monop.reconcile.plan import units

    found = secrets.Secrets()
    for made in units(state):
        found = found | made.secrets
    head = f"# The selection of host {state.host} (hosts the tree names: {', '.join(state.hosts)}).\n"
    documents = []
    for loaded in (*state.resources, *state.rule_groups, *state.alerting, *state.grafana):
        body = loaded.resource.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        body = {"apiVersion": body.pop("apiVersion", None), "kind": loaded.resource.kind, **body}
        body = secrets.scrub(_masked_by_key({k: v for k, v in body.items() if v is not None}), found.redact)
        documents.append(f"# from {loaded.file}:{loaded.line}\n" + yaml.safe_dump(body, sort_keys=False))
    return head + "---\n".join(documents)


def _masked_by_key(value: Any) -> Any:
    """`value` (JSON-shaped) with each string under a secret-looking key (`DB_PASSWORD`) masked."""
    from monop import secrets

    if isinstance(value, dict):
        return {
            k: secrets.MARK if isinstance(v, str) and v and secrets.is_secret_name(k) else _masked_by_key(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_by_key(v) for v in value]
    return value


def fleet_config(settings: Settings) -> dict[str, Any]:
    """What one central Prometheus needs for every host the desired state or `fleet_addresses`
    names (monop.prometheus.fleet)."""
    from monop.prometheus.fleet import FleetHost, address_of
    from monop.prometheus.fleet import fleet_config as config

    own = desired_state(settings)
    port = int(settings.metrics_address.rpartition(":")[2])
    hosts = []
    for name in sorted({*own.hosts, *settings.fleet_addresses}):
        state = own if name == own.host else host_state(settings, name)
        address, metrics_port = address_of(name, settings.fleet_addresses.get(name), port)
        hosts.append(FleetHost(name, state, address, metrics_port))
    return config(hosts)
