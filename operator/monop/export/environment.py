"""A container's environment and arguments, with every secret turned into a Secret reference.

A variable whose name looks secret (or whose value holds a secret) reads its key of the
Secret `<name>-env`; a secret inside `command` or `args` becomes Kubernetes' `$(VAR)`, read
from a variable that holds it (or a key `MONOP_SECRET_n` of that Secret); `secretEnvFrom` files
become `envFrom` Secrets. Each Secret is listed as needed, with where its value is; the value
never reaches a manifest. Secrets are found as monop finds them everywhere (monop.secrets).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from monop import secrets
from monop.api.resources import ContainerSpec
from monop.desired.state import LoadedResource
from monop.export.model import Manifest, Part, SecretNeeded

_SECRET_VAR = "MONOP_SECRET_{}"


class Environment:
    """The environment of one container; `argvs` are every argument list that may hold a secret."""

    def __init__(self, loaded: LoadedResource, part: Part, argvs: Iterable[Sequence[str] | None]) -> None:
        self.loaded = loaded
        self.spec: ContainerSpec = loaded.resource.spec
        self.part = part
        self.secret_name = f"{loaded.name}-env"
        self.secret_env: list[Manifest] = []
        self.secrets = secrets.collect(
            (*self.spec.env.items(), *loaded.secret_env.items()),
            argvs,
            secret_names=loaded.secret_env.keys(),
        )
        self._arg_vars: dict[str, str] = {}

    def holds_secret(self, text: str) -> bool:
        return self.secrets.redact(text) != text

    def argv(self, argv: tuple[str, ...], field: str) -> list[str]:
        """The items, `$(` kept literal, each secret replaced by `$(VAR)` of a variable holding it."""
        out = []
        for i, item in enumerate(argv):
            # Kubernetes expands $(VAR) in command and args; Podman passes it as written.
            text = item.replace("$(", "$$(")
            out.append(self.secrets.redact(text, partial(self._arg_var, field=field, index=i)))
        return out

    def _arg_var(self, value: str, field: str, index: int) -> str:
        # A variable that holds this very value already (from env or an env file) is named.
        same = [n for n, v in (*self.spec.env.items(), *self.loaded.secret_env.items()) if v == value]
        name = self._arg_vars.get(value) or (same[0] if same else None)
        if name is None:
            name = _SECRET_VAR.format(len(self._arg_vars) + 1)
            self._arg_vars[value] = name
            self._secret_key(name, f"the secret in spec.{field}[{index}]", field, index)
        return f"$({name})"

    def _secret_key(self, key: str, what: str, *path: str | int) -> None:
        where = f"{self.loaded.file}:{self.loaded.line_of('spec', *path)}"
        self.part.secrets.append(
            SecretNeeded(
                self.loaded.key, self.secret_name, key, f"{what} ({where}); the export holds a reference only"
            )
        )
        self.secret_env.append(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": key}}}
        )

    def variables(self) -> list[Manifest]:
        """`env`: plain values, and Secret references for secrets (call after `argv`)."""
        plain: list[Manifest] = []
        for name, value in self.spec.env.items():
            if self.secrets.is_secret(name) or self.holds_secret(value):
                self._secret_key(name, f"the value of spec.env.{name}", "env", name)
            else:
                # Kubernetes expands $(VAR) in values too; Podman sets them as written.
                plain.append({"name": name, "value": value.replace("$(", "$$(")})
        # Secret references first: a $(MONOP_SECRET_n) in args is resolved from them.
        return [*self.secret_env, *plain]

    def files(self) -> list[Manifest]:
        """`envFrom`: one Secret per `secretEnvFrom` file."""
        out = []
        files = self.spec.secret_env_from
        for i, path in enumerate(files):
            name = f"{self.loaded.name}-env-file" + (f"-{i + 1}" if len(files) > 1 else "")
            self.part.secrets.append(
                SecretNeeded(
                    self.loaded.key,
                    name,
                    None,
                    f"the variables of {path} (spec.secretEnvFrom)",
                    file=path,
                )
            )
            out.append({"secretRef": {"name": name}})
        return out
