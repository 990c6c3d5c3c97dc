"""What an export gives: manifests, grouped by the resource they came from, and what could not go with them.

A `Leftover` is a setting of the desired state with no Kubernetes (or Prometheus Operator)
equivalent, said at its file, line and field; a `SecretNeeded` is a Kubernetes Secret the
manifests refer to, with where its value is, never the value.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
# Kubernetes' label syntax: an optional DNS prefix, a name of at most 63 characters, a value likewise.
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def is_label_key(key: str) -> bool:
    """Whether Kubernetes takes `key` as a label or annotation key."""
    return bool(_LABEL_KEY.match(key))


def is_label(key: str, value: str) -> bool:
    """Whether Kubernetes takes `key: value` as a label."""
    return is_label_key(key) and bool(_LABEL_VALUE.match(value))


@dataclass(frozen=True)
class Leftover:
    """A setting that was not carried over, and why; `field` as `spec.devices[0]`."""

    resource: str
    field: str
    message: str
    file: str
    line: int
    kept: bool = False  # in the manifests as written, but it will not do there what it does under Podman

    @property
    def verdict(self) -> str:
        """`not carried over`, or `carried over as written, but` for a setting kept that will not work alike."""
        return "carried over as written, but" if self.kept else "not carried over:"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.resource}: {self.field}: {self.verdict} {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "field": self.field,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "keptAsWritten": self.kept,
        }


@dataclass(frozen=True)
class SecretNeeded:
    """A Secret (`name`, `key`) the manifests read; `file`/`env` say where its value is, `what` in words.

    `key` None with `file`: the Secret is the env file's variables (`--from-env-file`).
    """

    resource: str
    name: str
    key: str | None
    what: str
    file: str | None = None
    env: str | None = None

    def source(self) -> str:
        """This key's argument of `kubectl create secret generic`, quoted for a POSIX shell.

        A value monop cannot name is the placeholder `'<value>'` (quoted: bare, `<` is a
        redirection); monop's environment variable is `"$VAR"`, for the shell to expand.
        """
        if self.key is None and self.file is not None:
            return shlex.quote(f"--from-env-file={self.file}")
        if self.file is not None:
            return shlex.quote(f"--from-file={self.key}={self.file}")
        if self.env is not None:
            return f'{shlex.quote(f"--from-literal={self.key}=")}"${self.env}"'
        return shlex.quote(f"--from-literal={self.key}=<value>")

    def __str__(self) -> str:
        key = f" key {self.key}" if self.key is not None else ""
        return f"{self.resource}: needs Secret {self.name}{key}: {self.what}"

    def to_json(self, command: str) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "secret": self.name,
            "key": self.key,
            "what": self.what,
            "command": command,
        }


def secret_commands(needed: list[SecretNeeded], namespace: str | None) -> dict[str, str]:
    """Secret name -> the one `kubectl create secret generic` command that makes it with every key
    the manifests read from it (one command per key would fail on the second: AlreadyExists).
    """
    keys: dict[str, list[SecretNeeded]] = {}
    for secret in needed:
        keys.setdefault(secret.name, []).append(secret)
    out = {}
    for name, items in keys.items():
        argv = ["kubectl", "create", "secret", "generic", name]
        if namespace:
            argv += ["--namespace", namespace]
        sources = dict.fromkeys(item.source() for item in items)  # one key read twice is given once
        out[name] = " ".join([shlex.join(argv), *sources])
    return out


@dataclass
class Part:
    """The manifests made from one resource of the desired state, and what stayed behind."""

    source: str  # Kind/name, or a name of its own for what several resources make together
    file: str
    line: int
    manifests: list[Manifest] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    secrets: list[SecretNeeded] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # said above its manifests in the YAML

    def left(
        self,
        path: str,
        message: str,
        line: int | None = None,
        *,
        source: tuple[str, str] | None = None,
        kept: bool = False,
    ) -> None:
        """Note a leftover at `path`; `source` is (Kind/name, file) when another resource's, as a receiver's;
        `kept` when the setting is in the manifests as written but will not work there as under Podman.
        """
        resource, file = source or (self.source, self.file)
        self.leftovers.append(Leftover(resource, path, message, file, line or self.line, kept))


@dataclass(frozen=True)
class Export:
    """Every part, in a stable order: workloads, then rule groups, then the Alertmanager config."""

    parts: tuple[Part, ...]
    namespace: str | None = None

    @property
    def manifests(self) -> list[Manifest]:
        return [m for part in self.parts for m in part.manifests]

    @property
    def leftovers(self) -> list[Leftover]:
        return [x for part in self.parts for x in part.leftovers]

    @property
    def secrets(self) -> list[SecretNeeded]:
        return [s for part in self.parts for s in part.secrets]
