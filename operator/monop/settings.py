"""Settings: command-line flags over `MONOP_*` environment variables over the config file over defaults."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monop.api.duration import SettingsDuration as Duration
from monop.api.labels import DEFAULT_INSTANCE
from monop.api.placement import HOST_NAME, HOST_NAME_RULE, HOSTNAME_LABEL
from monop.desired.policy import Policy
from monop.errors import SettingsError

DEFAULT_CONFIG = Path("/etc/monop/config.yaml")
_DEFAULT_STATE = Path("/var/lib/monop")
_INSTANCE = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")
_HOST = HOST_NAME
# A fleet_addresses entry: a name or IPv4, or a bracketed IPv6; then maybe a port.
_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")
ENV_PREFIX = "MONOP_"


class Settings(BaseModel):
    """Everything monop can be told; each field is also `MONOP_<NAME>` and a key of the config file.

    A plain model: `load_settings` gathers the sources. (pydantic-settings did it before, and
    cost every `monop` command a tenth of a second to import.)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    desired: Path = Field(Path("desired"), description="Directory (or file) of desired-state YAML.")
    git_url: str | None = Field(
        None,
        description="A git repository (local path or URL) to take the desired state from, instead of `desired`.",
    )
    git_username: str | None = Field(
        None,
        description="User name for an http(s) git_url; from the environment or config file, never a flag.",
    )
    git_password: str | None = Field(
        None,
        description="Password or token for an http(s) git_url (MONOP_GIT_PASSWORD); never stored or logged.",
        repr=False,
    )
    git_branch: str = Field("main", description="The branch monop follows.")
    git_path: str = Field("desired", description="The desired-state directory inside the repository.")
    git_fetch_interval: Duration = Field(60.0, gt=0, description="How often the daemon fetches the branch.")
    webhook_secret: str | None = Field(
        None, description="Shared secret of POST /hooks/git (HMAC-SHA256, as GitHub's X-Hub-Signature-256)."
    )
    webhook_address: str | None = Field(
        None,
        description="host:port to serve POST /hooks/git on, alone; unset: on metrics_address beside /metrics.",
    )
    policy: Policy | None = Field(
        None,
        description="Opt-in limits on what the desired state may ask of the host (README: Security model).",
    )
    scrape_address: str = Field(
        "host.containers.internal",
        description="Host Prometheus uses to reach published ports, unless a scrape says.",
    )
    podman_url: str | None = Field(
        None,
        description="Podman API, e.g. unix:///run/podman/podman.sock; CONTAINER_HOST or the default socket if unset.",
    )
    state_dir: Path = Field(Path("/var/lib/monop"), description="Where the daemon keeps its state.")
    prometheus_url: str | None = Field(
        None,
        description="Prometheus's HTTP API (e.g. http://127.0.0.1:9090) to verify targets against; unset: not verified.",
    )
    rules_dir: Path = Field(
        Path("/var/lib/monop/rules"),
        description="Where the daemon writes a Prometheus rule file per AlertRuleGroup.",
    )
    rule_check_interval: Duration = Field(
        300.0,
        ge=0,
        description="How often the daemon asks Prometheus whether each rule's selectors match any series "
        "(dead selectors), besides after every rule sync, and each dashboard panel's queries "
        "(besides after each new desired state); 0: only after those.",
    )
    # Alertmanager (monop.prometheus.alertmanager): the file monop writes, and the API it reloads and asks.
    alertmanager_config: Path = Field(
        Path("/var/lib/monop/alertmanager/alertmanager.yml"),
        description="The alertmanager.yml monop writes from the AlertReceivers and the AlertRouting.",
    )
    alertmanager_url: str | None = Field(
        None,
        description="Alertmanager's HTTP API (e.g. http://127.0.0.1:9093), to reload and verify its config; "
        "unset: the file is written and not reloaded.",
    )
    alertmanager_log: Path | None = Field(
        None,
        description="A file Alertmanager's log goes to (its output appended, or a container's k8s-file log): "
        "`monop test receivers` reads which receiver each failure was and Alertmanager's error; unset: "
        "only its counters, which Alertmanager 0.25 keeps per integration type.",
    )
    alertmanager_container: str | None = Field(
        None,
        description="The Podman container Alertmanager runs in: `monop test receivers` reads its log "
        "through Podman when alertmanager_log is unset.",
    )
    # Grafana (monop.desired.grafana_files): its provisioning directory, mounted at /etc/grafana/provisioning.
    grafana_dir: Path = Field(
        Path("/var/lib/monop/grafana"),
        description="Where the daemon writes Grafana's provisioning files: the GrafanaDashboards' JSON, "
        "their provider and the GrafanaDatasources.",
    )
    sd_dir: Path = Field(
        Path("/var/lib/monop/file_sd"),
        description="Where the daemon writes Prometheus file_sd target files, one per scrape job.",
    )
    parallelism: int = Field(8, ge=1, le=64, description="Containers created or started at once.")
    metrics_address: str = Field(
        "127.0.0.1:9469", description="host:port of the daemon's /metrics, /healthz, /readyz."
    )
    resync_interval: Duration = Field(
        30.0, gt=0, description="Full resync period of the daemon, as a duration."
    )
    workers: int = Field(4, ge=1, le=64, description="Resources the daemon reconciles at once.")
    debounce: Duration = Field(
        0.3, ge=0, description="Quiet time after a desired-state change before reloading."
    )
    stop_timeout: Duration = Field(
        20.0, gt=0, description="On SIGTERM, how long actions in flight may still run."
    )
    health_checks: Literal["auto", "monop", "podman"] = Field(
        "auto",
        description="Who runs container healthchecks: podman (its systemd timers), monop (through the API), "
        "or auto: monop where Podman's timers cannot run, and for a container whose checks never ran.",
    )
    watchdog_grace: Duration = Field(
        120.0,
        gt=0,
        description="How long a background task may stay down (failing, restarted with backoff) before the "
        "daemon stops pinging systemd's watchdog, so that systemd restarts it.",
    )
    instance: str = Field(
        DEFAULT_INSTANCE,
        description="This monop's name on a shared Podman: it keeps only containers labelled with it.",
    )
    host_name: str | None = Field(
        None,
        description="This host's name in a fleet (README: Fleet): its hosts/<name>/ folder and its label "
        "`hostname`; unset: the machine's hostname.",
    )
    host_labels: dict[str, str] = Field(
        default_factory=dict,
        description="This host's labels, which each resource's spec.placement is matched against "
        "(`hostname` is always one of them).",
    )
    fleet_addresses: dict[str, str] = Field(
        default_factory=dict,
        description="For `monop render prometheus --fleet`: the address a central Prometheus reaches "
        "each host at, by host name; a host not listed is reached by its name.",
    )

    @field_validator("metrics_address", "webhook_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        # `host:port`, `[v6]:port`, or `:port`; the port 0 to 65535 (0: any free one).
        host, colon, port = (value or "").rpartition(":")
        if value is not None and (
            not colon
            or not port.isdigit()
            or int(port) > 65535
            or (":" in host.strip("[]") and not host.startswith("["))
        ):
            raise ValueError(f"{value!r} is not host:port (for example 127.0.0.1:9469 or [::1]:9469)")
        return value

    @field_validator("host_name")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name: {HOST_NAME_RULE}")
        return value

    @field_validator("fleet_addresses")
    @classmethod
    def _fleet_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        for name, address in value.items():
            if not _HOST.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name: {HOST_NAME_RULE}")
            found = _ADDRESS.fullmatch(address)
            if found is None or int(found["port"] or 0) > 65535:
                raise ValueError(
                    f"{name}: {address!r} is not host, host:port or [v6]:port, with no scheme "
                    "(for example 10.0.0.2:9469)"
                )
        return value

    @field_validator("host_labels")
    @classmethod
    def _host_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if HOSTNAME_LABEL in value:
            raise ValueError(f"{HOSTNAME_LABEL!r} is the host's name, always: set host_name, not this label")
        return value

    @field_validator("instance")
    @classmethod
    def _instance_name(cls, value: str) -> str:
        if not _INSTANCE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an instance name: 1 to 63 lowercase letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _instance_dirs(self) -> Settings:
        # Another instance sharing the default directories would delete the first one's target
        # and rule files as "no longer desired": unless told otherwise, each has its own.
        if self.instance != DEFAULT_INSTANCE:
            base = _DEFAULT_STATE / "instance" / self.instance
            defaults = {
                "state_dir": base,
                "sd_dir": base / "file_sd",
                "rules_dir": base / "rules",
                "alertmanager_config": base / "alertmanager" / "alertmanager.yml",
                "grafana_dir": base / "grafana",
            }
            for name, path in defaults.items():
                if name not in self.model_fields_set:
                    object.__setattr__(self, name, path)  # frozen: set once, while validating
        return self


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """`MONOP_<FIELD>` variables (any case, as pydantic-settings read them); a structured
    setting (`policy`) is given as JSON, as pydantic-settings took it."""
    found = {key.upper(): value for key, value in environ.items() if key.upper().startswith(ENV_PREFIX)}
    values: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        variable = ENV_PREFIX + name.upper()
        if variable not in found:
            continue
        value: Any = found[variable]
        if _structured(info.annotation):
            try:
                value = json.loads(value)
            except ValueError as err:
                raise SettingsError(f"setting {name} ({variable}): not valid JSON: {err}") from None
        values[name] = value
    return values


def _structured(annotation: Any) -> bool:
    """A model or a mapping (or an optional one): its variable holds JSON."""
    return any(
        (isinstance(a, type) and issubclass(a, BaseModel)) or get_origin(a) is dict
        for a in (annotation, *get_args(annotation))
    )


def _from_config_file(path: Path | None) -> dict[str, Any]:
    """The YAML config file; a missing default file is no error, a missing named one is."""
    if path is None:
        return {}
    import yaml  # only when there is a file to read

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"{path}: cannot read config file: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: invalid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the config file must be a mapping of setting: value")
    # The file uses the names of the flags (podman-url) or of the fields (podman_url).
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def load_settings(flags: dict[str, Any] | None = None, config: Path | None = None) -> Settings:
    """Settings from every source; `config` names the file (else MONOP_CONFIG, else the default if present)."""
    if config is None:
        named = os.environ.get("MONOP_CONFIG")
        config = Path(named) if named else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    values = _from_config_file(config)
    values.update(_from_environment(os.environ))
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"])
        origin = f" (in {config})" if config else ""
        message = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        message = message.removeprefix("Value error, ")  # pydantic's words, not the user's
        if first["type"] == "string_type":  # YAML reads yes, 1, true as no string
            message = "should be a string: quote the value (unquoted, YAML reads yes, on, true and numbers as other values)"
        raise SettingsError(f"setting {name}{origin}: {message}") from None
