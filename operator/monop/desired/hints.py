"""Hints for the shapes a Kubernetes or compose user writes first, instead of a bare "unknown field".

`unknown_field()` words the error of a field monop does not have (`resources`,
`livenessProbe`, `environment`, `cap_add`, ...) with monop's form, built from the values
written where it can be. `foreign_shapes()` finds items written in another tool's shape
(a Kubernetes volume, a compose `NAME=VALUE` environment item) before the model sees them,
so each gets one message at its line instead of several about its parts.

A hint may echo what was written; a secret in it (by its variable's name, in a URL, after a
`--password` flag) is masked as `<secret>` first, as everywhere monop prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import yaml

from monop import secrets
from monop.desired.yamldoc import Path

_PROBE_KINDS = ("BusinessService",)
_RESTART = ("no", "always", "on-failure", "unless-stopped")


def flow(value: Any) -> str:
    """`value` as YAML in flow style, as a person would type it: `{memory: 1Gi, cpus: 500m}`."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _get(value: Any, *path: str) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _strings(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) and value else None


def _resources(doc: dict[str, Any], value: Any) -> str:
    limits = _get(value, "limits")
    ours = {}
    if isinstance(limits, dict):
        ours = {k2: limits[k1] for k1, k2 in (("memory", "memory"), ("cpu", "cpus")) if k1 in limits}
    example = flow(ours) if ours else "{memory: 256Mi, cpus: 500m}"
    return f"monop's limits sit directly under spec: limits: {example} (Podman has no requests)"


def _liveness(doc: dict[str, Any], value: Any) -> str:
    on = "" if doc.get("kind") in _PROBE_KINDS else ", on a BusinessService,"
    command = _strings(_get(value, "exec", "command"))
    check = flow({"test": command}) if command else "{test: [CMD, ...], interval: 30s}"
    port, path = _get(value, "httpGet", "port"), _get(value, "httpGet", "path")
    get = (
        flow({"path": path if isinstance(path, str) else "/", "port": port})
        if isinstance(port, int)
        else None
    )
    return (
        f"use healthcheck (a command Podman runs in the container: healthcheck: {check}) or{on} probe "
        f"(an HTTP GET monop sends from the host: probe: {get or '{path: /healthz, port: 8080}'}); "
        "a failing one makes the resource Unhealthy and monop restarts it"
    )


def _readiness(doc: dict[str, Any], value: Any) -> str:
    return "nothing routes traffic by readiness here; to restart on failure, " + _liveness(doc, value)


def _startup(doc: dict[str, Any], value: Any) -> str:
    return "use healthcheck's startPeriod: how long after a start failed checks do not count"


def _volume_mounts(doc: dict[str, Any], value: Any) -> str:
    composed = _composed_volumes(_get(doc, "spec", "volumes"), value)
    example = (
        flow(composed) if composed else "['/data:/data:ro'] or [{hostPath: /data, containerPath: /data}]"
    )
    return f"a monop volume names both paths, host and container: volumes: {example}"


def _composed_volumes(volumes: Any, mounts: Any) -> list[str] | None:
    """Kubernetes' hostPath volumes and their volumeMounts, as monop's short volumes."""
    if not isinstance(volumes, list) or not isinstance(mounts, list):
        return None
    paths = {v.get("name"): _get(v, "hostPath", "path") for v in volumes if isinstance(v, dict)}
    out = []
    for mount in mounts:
        host = paths.get(mount.get("name")) if isinstance(mount, dict) else None
        if not isinstance(host, str) or not isinstance(mount.get("mountPath"), str):
            return None
        out.append(f"{host}:{mount['mountPath']}" + (":ro" if mount.get("readOnly") is True else ""))
    return out or None


def _environment(doc: dict[str, Any], value: Any) -> str:
    pairs = _env_pairs(value)
    example = flow(pairs) if pairs is not None else "{NAME: value}"
    return f"monop's is env, a map or a list of {{name, value}}: env: {example}"


def _env_pairs(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict) and value:
        pairs = {str(k): "" if v is None else v for k, v in value.items()}
    else:
        items = _strings(value)
        if items is None or not all("=" in item for item in items):
            return None
        pairs = dict(item.split("=", 1) for item in items)
    return {k: secrets.MARK if secrets.is_secret_name(k) else v for k, v in pairs.items()}


def _caps(which: str) -> Callable[[dict[str, Any], Any], str]:
    def hint(doc: dict[str, Any], value: Any) -> str:
        names = _strings(value) or ["NET_ADMIN"]
        return f"write capabilities: {flow({which: names})}"

    return hint


def _mem_limit(doc: dict[str, Any], value: Any) -> str:
    return f"write limits: {flow({'memory': value if isinstance(value, str | int) else '512m'})}"


def _cpus(doc: dict[str, Any], value: Any) -> str:
    return f"write limits: {flow({'cpus': value if isinstance(value, str | int | float) else 0.5})}"


def _restart(doc: dict[str, Any], value: Any) -> str:
    # Unquoted, compose's `restart: no` is YAML's false.
    policy = "no" if value is False else value if value in _RESTART else "always"
    if isinstance(value, str) and value.startswith("on-failure:"):
        return "write restartPolicy: on-failure (Podman's retry count is not taken)"
    return f"write restartPolicy: {policy} (monop starts a stopped container again in any case)"


def _fixed(text: str) -> Callable[[dict[str, Any], Any], str]:
    return lambda doc, value: text


def _value_as(field: str, default: str) -> Callable[[dict[str, Any], Any], str]:
    return lambda doc, value: f"write {field}: {value if isinstance(value, str) else default}"


# Fields of a container spec that Kubernetes (pod, container) or compose (service) have and monop names otherwise.
_SPEC: dict[str, Callable[[dict[str, Any], Any], str]] = {
    "resources": _resources,
    "livenessProbe": _liveness,
    "readinessProbe": _readiness,
    "startupProbe": _startup,
    "volumeMounts": _volume_mounts,
    "environment": _environment,
    "cap_add": _caps("add"),
    "cap_drop": _caps("drop"),
    "mem_limit": _mem_limit,
    "cpus": _cpus,
    "restart": _restart,
    "entrypoint": _fixed(
        "monop's command is the entrypoint, as in Kubernetes; compose's command is monop's args"
    ),
    "container_name": _fixed("the container's name is metadata.name"),
    "network_mode": _value_as("network", "host"),
    "imagePullPolicy": _value_as("pullPolicy", "IfNotPresent"),
    "securityContext": _fixed("privileged, user and capabilities sit directly under spec"),
    "containers": _fixed("a resource is one container: its image, args, ports, ... sit directly under spec"),
    "depends_on": _fixed("monop starts each resource on its own, in no order; there is nothing to wait for"),
    "nodeSelector": _fixed("write placement: {matchLabels: {...}}, matched against the host's labels"),
    "affinity": _fixed("write placement: {matchLabels, matchExpressions}, matched against the host's labels"),
}
# Compose's long port syntax, and monop's names of its fields.
_PORT = {"target": "containerPort", "published": "hostPort", "host_ip": "hostIP", "protocol": "protocol"}
_RULE_GROUP = {
    "groups": "an AlertRuleGroup is one group: its name is metadata.name, its rules are spec.rules",
    "name": "the group's name is metadata.name",
}


def unknown_field(document: dict[str, Any], loc: Path, known: Sequence[str]) -> str | None:
    """The message for field `loc[-1]` that the model at `loc[:-1]` does not have, with a hint; None if none fits."""
    field, parent, value = str(loc[-1]), loc[:-1], _scrubbed(_at(document, loc))
    hint: str | None = None
    if document.get("kind") == "AlertRuleGroup":
        hint = _RULE_GROUP.get(field) if parent == ("spec",) else None
    elif parent == ("spec",) and field in _SPEC:
        hint = _SPEC[field](document, value)
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)
    if hint is None and camel != field and camel in known:
        hint = f"did you mean {camel!r}? (monop's fields are camelCase, as Kubernetes')"
    return None if hint is None else f"unknown field {field!r}: {hint}"


def _at(value: Any, loc: Path) -> Any:
    for part in loc:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value


def foreign_shapes(document: dict[str, Any]) -> list[tuple[Path, str]]:
    """(path, message) of each item written in Kubernetes' or compose's shape where monop takes another."""
    spec = _scrubbed(document.get("spec"))
    if document.get("kind") == "AlertRuleGroup" or not isinstance(spec, dict):
        return []
    return [*_volume_shapes(spec), *_env_shapes(spec.get("env")), *_port_shapes(spec.get("ports"))]


def _scrubbed(written: Any) -> Any:
    """`written` with every secret in it masked, each string on its own (`--password=<secret>`)."""
    pairs: list[tuple[str, str]] = []
    argvs: list[list[str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("name"), str) and isinstance(value.get("value"), str):
                pairs.append((value["name"], value["value"]))
            pairs.extend((str(k), str(v)) for k, v in value.items() if isinstance(v, str | int | float))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            argvs.append([str(v) for v in value if isinstance(v, str | int | float)])
            pairs.extend(tuple(v.split("=", 1)) for v in value if isinstance(v, str) and "=" in v)  # type: ignore[misc]
            for item in value:
                walk(item)
        elif isinstance(value, str):
            argvs.append([value])

    walk(written)
    return secrets.scrub(written, secrets.collect(pairs, argvs).redact)


def _port_shapes(ports: Any) -> Iterator[tuple[Path, str]]:
    for i, item in enumerate(ports if isinstance(ports, list) else []):
        if isinstance(item, dict) and ("target" in item or "published" in item):
            ours = {_PORT[k]: v for k, v in item.items() if k in _PORT}
            yield ("spec", "ports", i), f"compose's long port syntax; monop's is {flow(ours)}"


def _volume_shapes(spec: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    volumes = spec.get("volumes")
    mounts = spec.get("volumeMounts")
    for i, item in enumerate(volumes if isinstance(volumes, list) else []):
        if not isinstance(item, dict):
            continue
        path = ("spec", "volumes", i)
        if isinstance(item.get("hostPath"), dict) or ("name" in item and "hostPath" in item):
            host = _get(item, "hostPath", "path")
            mount = (
                next((m for m in mounts if isinstance(m, dict) and m.get("name") == item.get("name")), None)
                if isinstance(mounts, list)
                else None
            )
            target = mount.get("mountPath") if mount is not None else None
            if isinstance(host, str) and isinstance(target, str):
                ro = mount is not None and mount.get("readOnly") is True
                example = flow({"hostPath": host, "containerPath": target, "readOnly": ro})
            else:
                example = "{hostPath: /data, containerPath: /data, readOnly: true}"
            yield path, f"a Kubernetes volume; a monop volume names both paths: {example}"
        elif item.get("type") == "bind" or "source" in item or "target" in item:
            ours = {"hostPath": item.get("source", "/data"), "containerPath": item.get("target", "/data")}
            if item.get("read_only") is True:
                ours["readOnly"] = True
            yield path, f"compose's long volume syntax; monop's is {flow(ours)}"


def _env_shapes(env: Any) -> Iterator[tuple[Path, str]]:
    for i, item in enumerate(env if isinstance(env, list) else []):
        path = ("spec", "env", i)
        if isinstance(item, str) and "=" in item:
            name, _, value = item.partition("=")
            pair = flow({name: secrets.MARK if secrets.is_secret_name(name) else value})
            yield (
                path,
                f"compose's NAME=VALUE form; monop's env is a map, env: {pair}, or a list of {{name, value}}",
            )
        elif isinstance(item, dict) and "valueFrom" in item:
            yield (
                (*path, "valueFrom"),
                "monop reads no Kubernetes secrets or config maps; put secret values in a file named "
                "by secretEnvFrom (NAME=VALUE lines, mode 0600)",
            )
