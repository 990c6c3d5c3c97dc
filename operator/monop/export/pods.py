"""A resource's container as a Kubernetes pod template: what `podman run` options become in a PodSpec.

The fields are core/v1's (Kubernetes API reference, PodSpec and Container). What Podman has
and a pod has not (a device cgroup rule, a stop signal, a named network, a user by name) is
left on the Part as a Leftover; secrets go to Secret references (monop.export.environment).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from monop.api.resources import CAdvisor, ContainerSpec, Healthcheck
from monop.api.stopping import signal_name
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
    """One container port: its number inside, where monop publishes it on the host, and its name."""

    container_port: int
    host_side: (
        int  # the port monop's scrape and probe fields name: published, or the container's on host network
    )
    protocol: str
    name: str
    host_ip: str = ""


def port_name(number: int, protocol: str) -> str:
    """`port-9100`, `port-53-udp`: an IANA service name Kubernetes takes (at most 15 characters)."""
    return f"port-{number}" + ("" if protocol == "tcp" else f"-{protocol}")


def port_entries(spec: ContainerSpec) -> list[PortEntry]:
    """The container's ports, one per mapping; CAdvisor's own `port` on the host network too."""
    host = spec.network == "host"
    out = []
    for p in spec.ports:
        side = p.container_port if host else p.published
        out.append(
            PortEntry(p.container_port, side, p.protocol, p.name or port_name(side, p.protocol), p.host_ip)
        )
    if isinstance(spec, CAdvisor) and host and all(e.container_port != spec.port for e in out):
        out.append(PortEntry(spec.port, spec.port, "tcp", port_name(spec.port, "tcp")))
    return out


def port_for(entries: list[PortEntry], host_side: int) -> PortEntry:
    """The entry monop reaches on `host_side`; one that no mapping publishes is the container's own."""
    for entry in entries:
        if entry.host_side == host_side and entry.protocol == "tcp":
            return entry
    entry = PortEntry(host_side, host_side, "tcp", port_name(host_side, "tcp"))
    entries.append(entry)
    return entry


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
        self.ports = port_entries(self.spec)
        self.volumes: list[Manifest] = []
        self.mounts: list[Manifest] = []
        self.files: dict[str, str] = {}  # ConfigMap data for files of the desired tree
        health = self.spec.healthcheck
        self.env = Environment(
            loaded, part, (self.spec.command, self._args(), health.test[1:] if health else ())
        )
        self._podman_host()

    def port_ref(self, entry: PortEntry) -> str | int:
        """How a probe names the port: by name, or by number on the host network (no ports declared)."""
        return entry.container_port if self.spec.network == "host" else entry.name

    def left(self, *path: str | int, message: str) -> None:
        self.part.left(_dotted(path), message, self.loaded.line_of(*path))

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
        if self.spec.network == "host":
            # On the host network a port is the process's own; declared, Podman's kube play
            # (4.3) turns it into a port mapping and refuses the pod. Probes and monitors name
            # the number instead.
            return []
        out = []
        seen: set[tuple[int, str]] = set()
        for i, entry in enumerate(self.ports):
            if (entry.container_port, entry.protocol) in seen:
                continue  # Podman may publish one container port twice; the Service keeps both
            seen.add((entry.container_port, entry.protocol))
            port: Manifest = {
                "name": entry.name,
                "containerPort": entry.container_port,
                "protocol": entry.protocol.upper(),
            }
            if self.node_level and self.spec.network != "host" and i < len(self.spec.ports):
                port["hostPort"] = entry.host_side
                if entry.host_ip:
                    port["hostIP"] = entry.host_ip
            elif entry.host_ip:
                self.left(
                    "spec", "ports", i,
                    message=f"the bind address {entry.host_ip}: a Service has none; the port is open to the cluster",
                )  # fmt: skip
            out.append(port)
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
        probe = getattr(self.spec, "probe", None)
        if probe is not None:
            entry = port_for(self.ports, probe.port)
            http = {
                "httpGet": {"path": probe.path, "port": self.port_ref(entry)},
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
        probe: Manifest = {
            "exec": {"command": command},
            "periodSeconds": _seconds(hc.interval),
            "timeoutSeconds": _seconds(hc.timeout),
            "failureThreshold": max(1, hc.retries),
        }
        if hc.start_period:
            probe["initialDelaySeconds"] = math.ceil(hc.start_period)
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
                self.left(
                    "spec", "user",
                    message=f"{spec.user!r} names a user; runAsUser takes a number (write 65534, not nobody)",
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


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
