"""A resource's container as a Kubernetes pod template: what `podman run` options become in a PodSpec.

The fields are core/v1's (Kubernetes API reference, PodSpec and Container). What Podman has
and a pod has not (a device cgroup rule, a stop signal, a named network, a user by name) is
left on the Part as a Leftover; secrets go to Secret references (monop.export.environment).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from monop.api.resources import CAdvisor, ContainerSpec, Healthcheck
from monop.api.stopping import signal_name
from monop.api.targets import targets
from monop.desired.state import LoadedResource
from monop.export.environment import Environment
from monop.export.model import Manifest, Part, is_label_key

SIGTERM = 15  # what the kubelet sends; another stopSignal has no field in a stable PodSpec
_VOLUME_NAME = re.compile(r"[^a-z0-9-]+")
_CONFIGMAP_KEY = re.compile(r"[^-._a-zA-Z0-9]+")
_NUMERIC_USER = re.compile(r"^(\d+)(?::(\d+))?$")
PODMAN_HOST = "host.containers.internal"


@dataclass(frozen=True)
class PortEntry:
    """One port monop reaches: its number inside, where monop publishes it on the host, its Service port's name.

    `mapping` is the index in `spec.ports`, None for a port no mapping publishes (the
    container's own, which a scrape block or probe names, or cAdvisor's on the host network).
    """

    container_port: int
    host_side: (
        int  # the port monop's scrape and probe fields name: published, or the container's on host network
    )
    protocol: str
    name: str
    host_ip: str = ""
    mapping: int | None = None


@dataclass(frozen=True)
class ContainerPort:
    """One port the container declares (`containerPort`), named for probes and PodMonitors."""

    number: int
    protocol: str
    name: str
    host_port: int | None = None
    host_ip: str = ""


def port_name(number: int, protocol: str) -> str:
    """`port-9100`, `port-53-udp`: an IANA service name Kubernetes takes (at most 15 characters)."""
    return f"port-{number}" + ("" if protocol == "tcp" else f"-{protocol}")


def _unique(name: str, taken: set[str], number: int) -> str:
    """`name`, or one not in `taken` (a user may name two ports alike, or `port-80` a port of 8080)."""
    out = name if name not in taken else f"{name[:9].rstrip('-')}-{number}"  # at most 15 characters
    taken.add(out)
    return out


def port_entries(spec: ContainerSpec, reached: Iterable[int] = ()) -> list[PortEntry]:
    """The container's ports: one per mapping, then its own ports monop reaches on `reached` (host-side numbers)
    that no mapping publishes (CAdvisor's own `port` on the host network among them). Names are unique.
    """
    host = spec.network == "host"
    out = []
    taken: set[str] = set()
    for i, p in enumerate(spec.ports):
        side = p.container_port if host else p.published
        name = _unique(p.name or port_name(side, p.protocol), taken, side)
        out.append(PortEntry(p.container_port, side, p.protocol, name, p.host_ip, i))
    own = [spec.port] if isinstance(spec, CAdvisor) and host else []
    for number in (*own, *reached):
        if all(e.host_side != number or e.protocol != "tcp" for e in out):
            out.append(PortEntry(number, number, "tcp", _unique(port_name(number, "tcp"), taken, number)))
    return out


def port_for(entries: list[PortEntry], host_side: int) -> PortEntry:
    """The entry monop reaches on `host_side` (TCP); `entries` from port_entries() with it among `reached`."""
    return next(e for e in entries if e.host_side == host_side and e.protocol == "tcp")


def quantity_bytes(value: int) -> str:
    """Bytes as a Kubernetes quantity: `256Mi` where it divides, else the number."""
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def quantity_cpus(value: float) -> str:
    """Cores as a Kubernetes quantity: `2`, `500m`."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


class PodBuilder:
    """Builds the pod template of one resource, noting on `part` what it cannot carry."""

    def __init__(self, loaded: LoadedResource, part: Part, *, node_level: bool) -> None:
        self.loaded = loaded
        self.spec: ContainerSpec = loaded.resource.spec
        self.part = part
        self.node_level = node_level  # a DaemonSet's pod keeps its host ports
        probe = getattr(self.spec, "probe", None)
        reached = [t.port for t in targets(loaded.resource, "")] + ([probe.port] if probe else [])
        self.ports = port_entries(self.spec, reached)
        self.container_ports = self._declared()
        self.volumes: list[Manifest] = []
        self.mounts: list[Manifest] = []
        self.files: dict[str, str] = {}  # ConfigMap data for files of the desired tree
        health = self.spec.healthcheck
        self.env = Environment(
            loaded, part, (self.spec.command, self._args(), health.test[1:] if health else ())
        )
        self._podman_host()

    def declared(self, host_side: int) -> ContainerPort:
        """The container port monop reaches on `host_side` (TCP), as the pod declares it."""
        entry = port_for(self.ports, host_side)
        return next(
            p
            for p in self.container_ports
            if (p.number, p.protocol) == (entry.container_port, entry.protocol)
        )

    def _declared(self) -> list[ContainerPort]:
        """One declared port per container port and protocol (Podman may publish one twice), named after
        it (`port-80` for `8080:80`) unless the user named the mapping; a DaemonSet's pod on a bridge
        keeps the host port and address of the mapping that publishes it first.
        """
        out: list[ContainerPort] = []
        taken: set[str] = set()
        for entry in self.ports:
            if any((p.number, p.protocol) == (entry.container_port, entry.protocol) for p in out):
                continue
            user_named = entry.mapping is not None and self.spec.ports[entry.mapping].name
            name = entry.name if user_named else port_name(entry.container_port, entry.protocol)
            keep_host = self.node_level and self.spec.network != "host" and entry.mapping is not None
            out.append(
                ContainerPort(
                    entry.container_port,
                    entry.protocol,
                    _unique(name, taken, entry.container_port),
                    entry.host_side if keep_host else None,
                    entry.host_ip if keep_host else "",
                )
            )
        return out

    def left(self, *path: str | int, message: str, kept: bool = False) -> None:
        self.part.left(dotted(path), message, self.loaded.line_of(*path), kept=kept)

    def _args(self) -> tuple[str, ...] | None:
        return self.spec.effective_args() if isinstance(self.spec, CAdvisor) else self.spec.args

    def _podman_host(self) -> None:
        named: list[tuple[str, str | int]] = [
            ("env", name) for name, value in self.spec.env.items() if PODMAN_HOST in value
        ]
        for field in ("command", "args"):
            named += [
                (field, i) for i, item in enumerate(getattr(self.spec, field) or ()) if PODMAN_HOST in item
            ]
        for path in named:
            self.left(
                "spec", *path,
                message=f"{PODMAN_HOST} is Podman's name for the host, which a pod cannot resolve: "
                "name a Service instead",
                kept=True,
            )  # fmt: skip

    # --- the parts of the container -----------------------------------------------------------

    def template(self, labels: dict[str, str]) -> Manifest:
        """`spec.template` of a DaemonSet or Deployment; call once, then read `files` and `ports`."""
        spec = self.spec
        container: Manifest = {"name": self.loaded.name, "image": spec.image}
        if spec.command is not None:
            container["command"] = self.env.argv(spec.command, "command")
        args = self._args()
        if args is not None:
            container["args"] = self.env.argv(args, "args")
        env = self.env.variables()
        if env:
            container["env"] = env
        if spec.secret_env_from:
            container["envFrom"] = self.env.files()
        ports = self._container_ports()
        if ports:
            container["ports"] = ports
        self._volumes()
        self._devices()
        if self.mounts:
            container["volumeMounts"] = self.mounts
        resources = self._resources()
        if resources:
            container["resources"] = resources
        probes = self._probes()
        container.update(probes)
        security = self._security()
        if security:
            container["securityContext"] = security
        container["imagePullPolicy"] = spec.pull_policy
        self._stop_signal()
        self._restart_policy()
        pod: Manifest = {}
        pod.update(self._network())
        if spec.init:
            # The pause container becomes PID 1: it reaps zombies, and the process is no longer
            # the PID 1 that ignores SIGTERM, which is what `podman run --init` is for.
            pod["shareProcessNamespace"] = True
        if spec.stop_timeout is not None:
            pod["terminationGracePeriodSeconds"] = int(spec.stop_timeout)
        pod["containers"] = [container]
        if self.volumes:
            pod["volumes"] = self.volumes
        metadata: Manifest = {"labels": labels}
        annotations = self._annotations()
        if annotations:
            metadata["annotations"] = annotations
        return {"metadata": metadata, "spec": pod}

    def _container_ports(self) -> list[Manifest]:
        # Declared on the host network too (no hostPort: the API server sets it to the
        # containerPort): a PodMonitor keeps a target only for a port the pod declares.
        for entry in self.ports:
            keeps_address = self.node_level and self.spec.network != "host"
            if entry.host_ip and entry.mapping is not None and not keeps_address:
                self.left(
                    "spec", "ports", entry.mapping,
                    message=f"the bind address {entry.host_ip}: a Service has none; the port is open to the cluster",
                )  # fmt: skip
        out = []
        for port in self.container_ports:
            declared: Manifest = {
                "name": port.name,
                "containerPort": port.number,
                "protocol": port.protocol.upper(),
            }
            if port.host_port is not None:
                declared["hostPort"] = port.host_port
                if port.host_ip:
                    declared["hostIP"] = port.host_ip
            out.append(declared)
        return out

    def _volumes(self) -> None:
        for i, volume in enumerate(self.spec.volumes):
            name = self._volume_name(volume.container_path, i)
            mount: Manifest = {"name": name, "mountPath": volume.container_path}
            if volume.read_only:
                mount["readOnly"] = True
            if volume.host_path.startswith("/"):
                self.volumes.append({"name": name, "hostPath": {"path": volume.host_path}})
                self.mounts.append(mount)
                self._host_path(i, volume.host_path)
                continue
            path = (self.loaded.base_dir / volume.host_path).absolute()
            if not path.is_file():
                self.left(
                    "spec", "volumes", i,
                    message=f"{volume.host_path} is a directory of the desired tree: a ConfigMap holds files, "
                    "mount each file as its own volume",
                )  # fmt: skip
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                self.left(
                    "spec", "volumes", i, message=f"{volume.host_path} could not be read as text: {err}"
                )
                continue
            key = _CONFIGMAP_KEY.sub("-", path.name) or f"file-{i}"
            if key in self.files:  # two files of one name from two directories
                key = f"{i}-{key}"
            self.files[key] = text
            self.volumes.append(
                {
                    "name": name,
                    "configMap": {"name": f"{self.loaded.name}-files", "items": [{"key": key, "path": key}]},
                }
            )
            self.mounts.append({**mount, "subPath": key})

    def _host_path(self, index: int, path: str) -> None:
        """Note a host path that will not be what it is under Podman."""
        socket = self.spec.podman_socket if isinstance(self.spec, CAdvisor) else None
        if path == socket or path.endswith("/podman.sock"):
            message = (
                f"{path} is Podman's socket, which a cluster's node does not run: cAdvisor finds "
                "the node's containers (containerd, CRI-O) through /sys and /var/run instead"
            )
        elif not self.node_level:
            message = (
                f"{path} is a path of whichever node the pod lands on, not of this host: "
                "use a PersistentVolumeClaim for data that must follow the pod"
            )
        else:
            return  # a DaemonSet's pod watches its own node's path: what it is for
        self.left("spec", "volumes", index, message=message, kept=True)

    def _devices(self) -> None:
        for i, device in enumerate(self.spec.devices):
            target = device.container_path or device.host_path
            name = self._volume_name(target, len(self.spec.volumes) + i)
            self.volumes.append({"name": name, "hostPath": {"path": device.host_path}})
            self.mounts.append({"name": name, "mountPath": target})
            if not self.spec.privileged:
                self.left(
                    "spec", "devices", i,
                    message=f"the device cgroup rule ({device.permissions}): mounted as a hostPath, which an "
                    "unprivileged container cannot open; use the device's plugin (nvidia.com/gpu) or privileged",
                )  # fmt: skip

    def _volume_name(self, container_path: str, index: int) -> str:
        base = _VOLUME_NAME.sub("-", container_path.lower()).strip("-")[:50].strip("-") or "root"
        taken = {v["name"] for v in self.volumes}
        return base if base not in taken else f"{base}-{index}"

    def _resources(self) -> Manifest:
        limits: Manifest = {}
        if self.spec.limits.memory is not None:
            limits["memory"] = quantity_bytes(self.spec.limits.memory)
        if self.spec.limits.cpus is not None:
            limits["cpu"] = quantity_cpus(self.spec.limits.cpus)
        return {"limits": limits} if limits else {}

    def _probes(self) -> Manifest:
        out: Manifest = {}
        hc = self.spec.healthcheck
        if hc is not None and hc.test != ("NONE",):  # NONE: the image's check is off, as in any pod
            probe = self._exec_probe(hc)
            if probe is not None:
                out["livenessProbe"] = probe
                if hc.start_period:
                    # Podman counts no failure in the start period, and a success ends it: a
                    # startupProbe, which holds the liveness probe back until it succeeds, allowed
                    # the start period's checks and then `retries` failures as after it.
                    checks = math.ceil(math.ceil(hc.start_period) / probe["periodSeconds"])
                    out["startupProbe"] = {**probe, "failureThreshold": checks + probe["failureThreshold"]}
        probe = getattr(self.spec, "probe", None)
        if probe is not None:
            http = {
                "httpGet": {"path": probe.path, "port": self.declared(probe.port).name},
                "periodSeconds": _seconds(probe.interval),
                "timeoutSeconds": _seconds(probe.timeout),
                "failureThreshold": probe.retries,
            }
            if "livenessProbe" in out:
                out["readinessProbe"] = http
                self.left(
                    "spec", "probe",
                    message="a pod has one liveness probe, the healthcheck's: this probe gates traffic "
                    "(readinessProbe) instead of restarting the container",
                )  # fmt: skip
            else:
                out["livenessProbe"] = http
        return out

    def _exec_probe(self, hc: Healthcheck) -> Manifest | None:
        form, *argv = hc.test
        if any(self.env.holds_secret(item) for item in argv):
            self.left(
                "spec", "healthcheck", "test",
                message="it holds a secret, which an exec probe cannot read from a Secret; no liveness probe",
            )  # fmt: skip
            return None
        command = ["/bin/sh", "-c", argv[0]] if form == "CMD-SHELL" else argv
        for field, value in (
            ("interval", hc.interval),
            ("timeout", hc.timeout),
            ("startPeriod", hc.start_period),
        ):
            if value != int(value):
                self.left(
                    "spec", "healthcheck", field,
                    message=f"probes count whole seconds: {value}s is rounded up",
                )  # fmt: skip
        if hc.retries == 0:
            self.left(
                "spec", "healthcheck", "retries",
                message="0: a probe fails the container after at least one failure (failureThreshold 1)",
            )  # fmt: skip
        probe: Manifest = {
            "exec": {"command": command},
            "periodSeconds": _seconds(hc.interval),
            "timeoutSeconds": _seconds(hc.timeout),
            "failureThreshold": max(1, hc.retries),
        }
        return probe

    def _security(self) -> Manifest:
        spec = self.spec
        out: Manifest = {}
        if spec.privileged:
            out["privileged"] = True
        caps: Manifest = {}
        if spec.capabilities.add:
            caps["add"] = [c.removeprefix("CAP_") for c in spec.capabilities.add]
        if spec.capabilities.drop:
            caps["drop"] = [c.removeprefix("CAP_") for c in spec.capabilities.drop]
        if caps:
            out["capabilities"] = caps
        if spec.user is not None:
            match = _NUMERIC_USER.match(spec.user)
            if match is None:
                named = "a group" if spec.user.partition(":")[0].isdigit() else "a user"
                self.left(
                    "spec", "user",
                    message=f"{spec.user!r} names {named}; runAsUser and runAsGroup take numbers "
                    "(write 65534, not nobody)",
                )  # fmt: skip
            else:
                out["runAsUser"] = int(match[1])
                if match[2] is not None:
                    out["runAsGroup"] = int(match[2])
        return out

    def _annotations(self) -> dict[str, str]:
        """Podman's labels are free text; pod labels are not: they ride as the pod's annotations."""
        out = {}
        for key, value in self.spec.labels.items():
            if is_label_key(key):
                out[key] = value
            else:
                self.left("spec", "labels", key, message="not a Kubernetes annotation key")
        return out

    def _stop_signal(self) -> None:
        signal = self.spec.stop_signal
        if signal is not None and signal != SIGTERM:
            self.left(
                "spec", "stopSignal",
                message=f"the kubelet stops a container with SIGTERM, not {signal_name(signal)}; "
                "set STOPSIGNAL in the image",
            )  # fmt: skip

    def _restart_policy(self) -> None:
        policy = self.spec.restart_policy
        if "restart_policy" in self.spec.model_fields_set and policy not in ("always", "unless-stopped"):
            workload = "DaemonSet" if self.node_level else "Deployment"
            self.left(
                "spec", "restartPolicy",
                message=f"{policy!r}: a {workload}'s pod restarts its container whenever it stops "
                "(restartPolicy Always, the only one it takes)",
            )  # fmt: skip

    def _network(self) -> Manifest:
        spec = self.spec
        out: Manifest = {}
        if spec.network == "host":
            out["hostNetwork"] = True
            out["dnsPolicy"] = "ClusterFirstWithHostNet"
        elif spec.network == "none":
            self.left("spec", "network", message="a pod always has a network; 'none' has no equivalent")
        elif spec.network not in ("bridge", "private"):
            self.left(
                "spec", "network",
                message=f"Podman network {spec.network!r}: pods share the cluster's network",
            )  # fmt: skip
        if spec.extra_hosts:
            by_ip: dict[str, list[str]] = {}
            for entry in spec.extra_hosts:
                host, _, address = entry.partition(":")
                by_ip.setdefault(address, []).append(host)
            out["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in by_ip.items()]
        return out


def dotted(path: tuple[str | int, ...]) -> str:
    """`spec.scrape[0].port` for ("spec", "scrape", 0, "port")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
