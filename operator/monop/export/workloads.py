"""Container resources as workloads: node-level ones as DaemonSets with PodMonitors, the rest as
Deployments with a Service and a ServiceMonitor (monitoring.coreos.com/v1).

Node-level: a CAdvisor, and an Exporter on the host network, with a host path or with a
device (it watches the node it runs on). Each scrape block becomes one endpoint of the
monitor, its job kept by a relabeling (`targetLabel: job`), as the seed's alert rules read
`up{job="node-exporter"}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monop.api.duration import format_duration
from monop.api.resources import CAdvisor, ContainerSpec, Exporter
from monop.api.targets import targets
from monop.desired.state import LoadedResource
from monop.export.environment import Environment
from monop.export.model import Manifest, Part, is_label, is_label_key
from monop.export.pods import PodBuilder, PortEntry, dotted, port_for

MONITORING = "monitoring.coreos.com/v1"
NAME_LABEL = "app.kubernetes.io/name"
SOURCE_ANNOTATION = "monop.dev/source"
LEFTOVER_ANNOTATION = "monop.dev/not-carried-over"


def node_level(spec: ContainerSpec) -> bool:
    """Whether the resource watches its node: a DaemonSet runs it on every one."""
    if isinstance(spec, CAdvisor):
        return True
    if not isinstance(spec, Exporter):
        return False
    return (
        spec.network == "host" or bool(spec.devices) or any(v.host_path.startswith("/") for v in spec.volumes)
    )


def metadata(
    name: str, namespace: str | None, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> Manifest:
    out: Manifest = {"name": name}
    if namespace:
        out["namespace"] = namespace
    out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def resource_labels(loaded: LoadedResource, part: Part) -> dict[str, str]:
    """The labels every manifest of the resource carries: its name and kind, and its own valid ones."""
    resource = loaded.resource
    own = _kept(loaded, part, "labels", is_label)
    if NAME_LABEL in own:
        part.left(
            f"metadata.labels.{NAME_LABEL}",
            "the export sets it to the resource's name, which the selectors match",
            loaded.line_of("metadata", "labels", NAME_LABEL),
        )
    # Last: the selectors of the workload, Service and monitor match on the name.
    return {**own, NAME_LABEL: resource.metadata.name, "app.kubernetes.io/component": resource.kind.lower()}


def resource_annotations(loaded: LoadedResource, part: Part) -> dict[str, str]:
    """Where the resource came from, and its own annotations whose keys Kubernetes takes."""
    source = {SOURCE_ANNOTATION: f"{loaded.file}:{loaded.line}"}
    return {**source, **_kept(loaded, part, "annotations", lambda key, _: is_label_key(key))}


def _kept(
    loaded: LoadedResource, part: Part, field: str, takes: Callable[[str, str], bool]
) -> dict[str, str]:
    """The resource's own labels or annotations Kubernetes takes; the others are leftovers."""
    out = {}
    for key, value in getattr(loaded.resource.metadata, field).items():
        if takes(key, value):
            out[key] = value
        else:
            part.left(
                f"metadata.{field}.{key}",
                f"not a Kubernetes {field[:-1]} (a name of at most 63 letters, digits, '-', '_', '.')",
                loaded.line_of("metadata", field, key),
            )
    return out


def workload(loaded: LoadedResource, namespace: str | None) -> Part:
    """The DaemonSet or Deployment, Service, ConfigMap and monitor of one container resource."""
    resource = loaded.resource
    part = Part(loaded.key, loaded.file, loaded.line)
    labels = resource_labels(loaded, part)
    selector = {NAME_LABEL: resource.metadata.name}
    daemon = node_level(resource.spec)
    pods = PodBuilder(loaded, part, node_level=daemon)
    template = pods.template(dict(labels))
    endpoints = _endpoints(loaded, part, pods, by_pod=daemon)
    annotations = resource_annotations(loaded, part)
    if pods.files:
        part.manifests.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata(f"{resource.metadata.name}-files", namespace, labels),
                "data": pods.files,
            }
        )
    body: Manifest = {"selector": {"matchLabels": selector}, "template": template}
    if daemon:
        kind = "DaemonSet"
    else:
        kind = "Deployment"
        # monop's safe swap: the new container runs before the old one stops.
        body = {
            "replicas": 1,
            **body,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        }
    part.manifests.append(
        {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": metadata(resource.metadata.name, namespace, labels, annotations),
            "spec": body,
        }
    )
    if not daemon and pods.ports:
        name = service_name(resource.metadata.name)
        if name != resource.metadata.name:
            part.comments.append(f"The Service is {name}: a Service's name starts with a letter.")
        part.manifests.append(_service(name, namespace, labels, selector, pods.ports))
    if endpoints:
        part.manifests.append(
            _monitor(resource.metadata.name, namespace, labels, selector, endpoints, daemon)
        )
    for manifest in part.manifests:
        _mask(manifest, pods.env, part, f"{manifest['kind']} ")
    if part.leftovers:
        workload_meta = next(m for m in part.manifests if m["kind"] == kind)["metadata"]
        workload_meta.setdefault("annotations", {})[LEFTOVER_ANNOTATION] = "\n".join(
            f"{x.field}: " + ("carried over as written, but " if x.kept else "") + x.message
            for x in part.leftovers
        )
    return part


def _mask(node: Any, env: Environment, part: Part, where: str) -> Any:
    """The last guard: a secret still in a string of a manifest (a probe's query, a label) is masked and listed.

    Returns the node with every such string masked; dicts and lists are changed in place.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _mask(value, env, part, f"{where}{key}" if where.endswith(" ") else f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            node[i] = _mask(value, env, part, f"{where}[{i}]")
    elif isinstance(node, str) and env.holds_secret(node):
        part.left(where, "it holds a secret, masked here: set it from a Secret by hand")
        return env.secrets.redact(node)
    return node


def service_name(name: str) -> str:
    """`name`, or `svc-<name>` when it starts with a digit: a Service's name is a DNS-1035 label."""
    return name if name[0].isalpha() else f"svc-{name}"[:63].rstrip("-")


def _service(
    name: str,
    namespace: str | None,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    ports: list[PortEntry],
) -> Manifest:
    """A ClusterIP Service: each published port on its host number, to the container's port."""
    service_ports: list[Manifest] = []
    for entry in ports:
        service_ports.append(
            {
                "name": entry.name,
                "port": entry.host_side,
                "targetPort": entry.container_port,
                "protocol": entry.protocol.upper(),
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, labels),
        "spec": {"selector": dict(selector), "ports": service_ports},
    }


def _endpoints(loaded: LoadedResource, part: Part, pods: PodBuilder, *, by_pod: bool) -> list[Manifest]:
    """One monitor endpoint per enabled scrape block; monop-only fields become leftovers.

    `by_pod`: a PodMonitor's endpoint, naming the port the pod declares; else a
    ServiceMonitor's, naming the Service's port.
    """
    out = []
    resource = loaded.resource
    # targets() gives one Target per enabled scrape block, in their order.
    for target, scrape in zip(targets(resource, ""), resource.spec.scrape_endpoints(), strict=True):
        where = target.field
        port = pods.declared(target.port).name if by_pod else port_for(pods.ports, target.port).name
        endpoint: Manifest = {"port": port, "path": target.path, "scheme": target.scheme}
        if target.interval_s is not None:
            endpoint["interval"] = format_duration(target.interval_s)
        if target.timeout_s is not None:
            endpoint["scrapeTimeout"] = format_duration(target.timeout_s)
        endpoint["relabelings"] = [
            {"action": "replace", "targetLabel": name, "replacement": value}
            for name, value in (("job", target.job), *target.labels)
        ]
        out.append(endpoint)
        for field, value, message in (
            ("address", scrape.address, "Prometheus scrapes the pod itself, not another address"),
            ("expect", scrape.expect, "monop's check of expected metrics has no monitor field"),
            (
                "restartAfter",
                scrape.restart_after,
                "monop's restart of a container whose target is down; use a livenessProbe",
            ),
        ):
            if value:
                part.left(dotted((*where, field)), message, loaded.line_of(*where, field))
    return out


def _monitor(
    name: str,
    namespace: str | None,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    endpoints: list[Manifest],
    daemon: bool,
) -> Manifest:
    spec: Manifest = {"selector": {"matchLabels": dict(selector)}}
    if daemon:
        kind = "PodMonitor"
        spec["podMetricsEndpoints"] = endpoints
    else:
        kind = "ServiceMonitor"
        spec["endpoints"] = endpoints
    return {
        "apiVersion": MONITORING,
        "kind": kind,
        "metadata": metadata(name, namespace, labels),
        "spec": spec,
    }
