"""The resource kinds of `monop.dev/v1alpha1`: Exporter, CAdvisor and BusinessService.

Field names follow what a Kubernetes or compose user would guess. Unknown fields are
errors. `expand()` turns a resource into the ContainerConfig Podman runs.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from monop.api.duration import Duration
from monop.api.forms import Forms
from monop.api.parts import PORT_NAME, PORT_NAME_MAX, Device, Port, Volume, port_name_problem
from monop.api.placement import Placement
from monop.api.quantity import Cpus, MemoryBytes
from monop.api.stopping import StopSignal, StopTimeout

API_VERSION = "monop.dev/v1alpha1"
GROUP = "monop.dev"

# RFC 1123 label, as Kubernetes names are; also a valid Podman container name.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_JOB = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CAP = re.compile(r"^(CAP_)?[A-Z_]+$")
_INT32 = 2**31 - 1  # Podman's healthcheck retries is a Go int; no one waits for more failures than this


def _url_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path {value!r} must start with '/'")
    return value


UrlPath = Annotated[str, AfterValidator(_url_path)]


def _no_query(value: str) -> str:
    if "?" in value or "#" in value:
        # A query would carry what monop logs and shows as-is (`?token=`): the path alone.
        raise ValueError(
            f"path {value.split('?')[0].split('#')[0]!r}: a reload path takes no query or fragment"
        )
    return value


PlainUrlPath = Annotated[str, AfterValidator(_url_path), AfterValidator(_no_query)]


def _metric_name(value: str) -> str:
    if not _METRIC_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid Prometheus metric name")
    return value


def _label_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} is not a valid Prometheus label name")
    return value


MetricName = Annotated[str, AfterValidator(_metric_name)]
Labels = Annotated[dict[str, str], AfterValidator(_label_names)]

# monop's own labels on every container it owns (monop.api.labels.PREFIX); a user's would forge them.
OWN_PREFIX = "monop.dev/"


def _container_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        # Podman refuses an empty key ("invalid label format"); `=` splits key from value in
        # `podman --label` and `--filter label=`; monop's own prefix would claim ownership.
        if not key.strip() or "=" in key or key != key.strip():
            raise ValueError(
                f"label key {key!r} is not one Podman takes (empty, '=' or white space at an end)"
            )
        if key.startswith(OWN_PREFIX):
            raise ValueError(f"label key {key!r} is monop's own ({OWN_PREFIX}...): choose another prefix")
    return value


ContainerLabels = Annotated[dict[str, str], AfterValidator(_container_labels)]


def _either(description: str, *others: dict[str, Any]) -> Forms:
    # Kubernetes' structural schemas cannot say "a string or an object" (or "a mapping or a
    # list"); monop's own validator checks each form, so the CRD keeps the value and describes it.
    return Forms(description, others)


def _short_or_long(example: str, fields: str, *others: dict[str, Any]) -> Forms:
    return _either(f"{example!r}, or {{{fields}}}.", {"type": "string", "examples": [example]}, *others)


PortItem = Annotated[
    Port,
    _short_or_long(
        "8080:80/tcp",
        "containerPort, hostPort, hostIP, protocol, name",
        {"type": "integer", "minimum": 1, "maximum": 65535},
    ),
]
VolumeItem = Annotated[Volume, _short_or_long("/sys:/sys:ro", "hostPath, containerPath, readOnly")]
DeviceItem = Annotated[
    Device, _short_or_long("/dev/nvidia0:/dev/nvidia0:rwm", "hostPath, containerPath, permissions")
]

# What YAML gives for an unquoted value that the environment takes as its text.
_SCALAR = {"type": ["string", "number", "boolean"]}
_ENV_FORMS = (
    {"type": "object", "additionalProperties": _SCALAR},
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "value": _SCALAR},
            "required": ["name"],
            "additionalProperties": False,
        },
    },
)


class Strict(BaseModel):
    """Base of every model here: unknown fields rejected, values frozen, aliases in camelCase."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Metadata(Strict):
    name: str = Field(
        description="Resource name; also the container's name.",
        json_schema_extra={"pattern": _NAME.pattern, "maxLength": 63},
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels of the resource (not the container)."
    )
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not _NAME.match(value):
            raise ValueError(
                f"name {value!r} must be lower-case letters, digits and '-', "
                "start and end with a letter or digit, at most 63 characters"
            )
        return value


class EnvVar(Strict):
    name: str
    value: str = ""


def _env_value(value: Any) -> Any:
    # YAML turns `true` and `9999` into bool and int; the environment only has strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _env_item(item: Any) -> Any:
    if isinstance(item, dict) and "value" in item:
        return {**item, "value": _env_value(item["value"])}
    return item


_ENV_LIST = TypeAdapter(tuple[EnvVar, ...])


class Capabilities(Strict):
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    @field_validator("add", "drop")
    @classmethod
    def _names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for value in values:
            upper = value.upper()
            if upper != "ALL" and not _CAP.match(upper):
                raise ValueError(f"{value!r} is not a capability name (example: NET_ADMIN)")
            out.append(upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}")
        return tuple(out)


class Healthcheck(Strict):
    """Podman's healthcheck. `test` is an argv list, or a string run by the shell."""

    test: Annotated[
        tuple[str, ...],
        _either("A command: a string run by the shell, or an argv list.", {"type": "string"}),
    ]
    interval: Duration = 30.0
    timeout: Duration = 30.0
    retries: int = Field(3, ge=0, le=_INT32)
    start_period: Duration = Field(0.0, alias="startPeriod")

    @field_validator("test", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return ["CMD-SHELL", value]
        if isinstance(value, list) and value and value[0] not in ("CMD", "CMD-SHELL", "NONE"):
            return ["CMD", *value]
        return value

    @field_validator("test")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2 and value != ("NONE",):
            raise ValueError("the healthcheck test needs a command")
        return value


class Limits(Strict):
    memory: MemoryBytes | None = Field(None, description="Memory limit: 256Mi, 1G, 512m.")
    cpus: Cpus | None = None


def _port_or_name(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is not in 1..65535")
        return value
    if not isinstance(value, str):
        raise ValueError("should be a port number, or the name of one of spec.ports")
    problem = port_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


ScrapePort = Annotated[
    int | str,
    BeforeValidator(_port_or_name),
    Forms(
        "Port Prometheus connects to (9100), or the name of one of spec.ports; "
        "defaults to the first published port.",
        (
            {"type": "integer", "minimum": 1, "maximum": 65535},
            {"type": "string", "pattern": PORT_NAME, "maxLength": PORT_NAME_MAX},
        ),
        own=False,
        crd={
            "x-kubernetes-int-or-string": True,
            "minimum": 1,
            "maximum": 65535,
            "pattern": PORT_NAME,
            "maxLength": PORT_NAME_MAX,
        },
    ),
]


class Scrape(Strict):
    """How Prometheus scrapes one metrics endpoint of the resource."""

    job: str | None = Field(None, description="Prometheus job name; defaults per kind.")
    port: ScrapePort | None = None
    path: UrlPath = "/metrics"
    scheme: Literal["http", "https"] = "http"
    interval: Duration | None = Field(
        None, description="Scrape interval; Prometheus's global default when unset."
    )
    timeout: Duration | None = Field(None, description="Scrape timeout; must not exceed the interval.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on the target.")
    address: str | None = Field(
        None, description="Host Prometheus uses to reach the port; a setting by default."
    )
    enabled: bool = True
    expect: tuple[MetricName, ...] = Field(
        default=(),
        description="Metric names that must have at least one sample once the target is up "
        "(e.g. node_cpu_seconds_total); a target without them is Empty.",
    )
    restart_after: Duration | None = Field(
        None,
        alias="restartAfter",
        description="Restart the running container when its target has been down this long (opt-in).",
    )

    @field_validator("job")
    @classmethod
    def _job(cls, value: str | None) -> str | None:
        if value is not None and not _JOB.match(value):
            raise ValueError(f"job name {value!r} has characters Prometheus does not allow")
        return value

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Scrape:
        if self.interval is not None and self.timeout is not None and self.timeout > self.interval:
            raise ValueError("timeout must not be longer than interval (Prometheus refuses the job)")
        return self


class HttpReload(Strict):
    """`POST path` on a container port: Prometheus's and Alertmanager's `/-/reload`."""

    path: PlainUrlPath = Field("/-/reload", description="The reload endpoint's path.")
    port: int = Field(
        ge=1,
        le=65535,
        description="The container port it listens on; monop reaches it through its published host "
        "port (or on the host network directly).",
    )


class Reload(Strict):
    """How the container re-reads the files monop writes for it (rule files, alertmanager.yml).

    Exactly one of `http` and `signal`. A change to such a file then reloads the container; only
    a change of its spec recreates it.
    """

    http: HttpReload | None = None
    signal: StopSignal | None = Field(
        None, description="A signal sent to the container (podman kill --signal): SIGHUP."
    )

    @model_validator(mode="after")
    def _one_way(self) -> Reload:
        if (self.http is None) == (self.signal is None):
            raise ValueError("reload takes one of http: {path, port} or signal: SIGHUP")
        return self


# A pod's restartPolicy, as Podman's: Never is Podman's `no`.
KUBERNETES_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}


class ContainerSpec(Strict):
    """The container fields every kind shares."""

    image: str = Field(min_length=1, description="Image reference, pinned by tag or digest.")
    command: tuple[str, ...] | None = Field(None, description="Overrides the image's entrypoint.")
    args: tuple[str, ...] | None = Field(None, description="Overrides the image's command (cmd).")
    env: Annotated[
        dict[str, str], Forms("Environment: a map, or a list of {name, value}.", _ENV_FORMS, own=False)
    ] = Field(default_factory=dict)
    secret_env_from: tuple[str, ...] = Field(
        (),
        alias="secretEnvFrom",
        description="Files of NAME=VALUE lines (podman's --env-file format) outside the desired tree, "
        "mode 0600 or 0400: environment whose every value is a secret. `env` wins over them.",
    )
    ports: tuple[PortItem, ...] = ()
    volumes: tuple[VolumeItem, ...] = ()
    devices: tuple[DeviceItem, ...] = ()
    network: str = Field("bridge", description="host, bridge, none, or the name of a Podman network.")
    privileged: bool = False
    capabilities: Capabilities = Field(default_factory=Capabilities)
    user: (
        Annotated[
            str,
            Forms(
                "User (and group) to run as: 65534 or nobody:nogroup.",
                ({"type": "integer", "minimum": 0},),
                crd={"x-kubernetes-int-or-string": True},
            ),
        ]
        | None
    ) = None
    restart_policy: Annotated[
        Literal["no", "always", "on-failure", "unless-stopped"],
        WithJsonSchema(
            {
                "type": "string",
                "enum": ["no", "always", "on-failure", "unless-stopped", *KUBERNETES_RESTART],
                "description": "Podman's own restart policy (Kubernetes' Always, OnFailure and Never "
                "too); monop restarts stopped containers anyway.",
            }
        ),
    ] = Field("no", alias="restartPolicy")
    healthcheck: Healthcheck | None = None
    labels: ContainerLabels = Field(default_factory=dict, description="Labels on the container.")
    limits: Limits = Field(default_factory=Limits)
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field("IfNotPresent", alias="pullPolicy")
    extra_hosts: tuple[str, ...] = Field(
        (), alias="extraHosts", description="host:ip entries, like --add-host."
    )
    stop_timeout: StopTimeout | None = Field(
        None,
        alias="stopTimeout",
        description="How long a stop waits after stopSignal before it kills (whole seconds); Podman's 10s when unset.",
    )
    stop_signal: StopSignal | None = Field(
        None, alias="stopSignal", description="Signal that asks the container to stop: SIGTERM, SIGINT, 15."
    )
    init: bool = Field(
        False, description="Run an init as PID 1 that forwards signals and reaps zombies (podman run --init)."
    )
    placement: Placement | None = Field(
        None,
        description="The hosts this resource runs on: a label selector (matchLabels, matchExpressions) "
        "matched against each host's labels (README: Fleet); unset: every host.",
    )
    reload: Reload | None = Field(
        None,
        description="How it re-reads a file monop writes that it mounts (rules, file_sd, alertmanager.yml): "
        "{http: {path: /-/reload, port: 9090}} or {signal: SIGHUP}. Not part of the container: "
        "changing it recreates nothing.",
    )

    @field_validator("env", mode="before")
    @classmethod
    def _env_forms(cls, value: Any) -> Any:
        if isinstance(value, list):
            # Through a TypeAdapter so an error says which item: env[1].value.
            pairs = _ENV_LIST.validate_python([_env_item(item) for item in value])
            return {pair.name: pair.value for pair in pairs}
        if isinstance(value, dict):
            return {key: _env_value(val) for key, val in value.items()}
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @field_validator("restart_policy", mode="before")
    @classmethod
    def _kubernetes_restart(cls, value: Any) -> Any:
        return KUBERNETES_RESTART.get(value, value) if isinstance(value, str) else value

    @field_validator("secret_env_from", mode="before")
    @classmethod
    def _one_file_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("secret_env_from")
    @classmethod
    def _absolute_files(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} must be an absolute path outside the desired tree")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if any(ch.isspace() for ch in value) or value != value.strip():
            raise ValueError(f"image {value!r} contains white space")
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$", value):
            raise ValueError(f"network {value!r} is not host, bridge, none or a network name")
        return value

    @field_validator("extra_hosts")
    @classmethod
    def _extra_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            # As Podman's --add-host reads it: split at the first ':', so an IPv6 address stays whole.
            host, colon, address = entry.partition(":")
            if not colon or not host or any(ch.isspace() for ch in host):
                raise ValueError(f"extra host {entry!r} must be host:ip")
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"extra host {entry!r}: {address!r} is not an IP address") from None
        return value

    def scrape_endpoints(self) -> tuple[Scrape, ...]:
        """The endpoints Prometheus scrapes; overridden per kind."""
        return ()


class Exporter(ContainerSpec):
    """A Prometheus exporter. Scraped by default as job `<name>` on its first published port."""

    scrape: Scrape = Field(default_factory=Scrape)

    def scrape_endpoints(self) -> tuple[Scrape, ...]:
        return (self.scrape,) if self.scrape.enabled else ()


# The seed's cAdvisor options: what `podman run` of cAdvisor needs to see every container.
PODMAN_SOCKET = "/run/podman/podman.sock"


def cadvisor_volumes(podman_socket: str = PODMAN_SOCKET) -> tuple[str, ...]:
    """The seed's mounts; cAdvisor finds Podman's containers through the socket as docker.sock."""
    return (
        "/:/rootfs:ro",
        "/var/run:/var/run:ro",
        "/sys:/sys:ro",
        f"{podman_socket}:/var/run/docker.sock:ro",
        "/dev/disk/:/dev/disk:ro",
    )


CADVISOR_ARGS = (
    "--housekeeping_interval=30s",
    "--max_housekeeping_interval=35s",
    "--machine_id_file=/rootfs/etc/machine-id",
    "--allow_dynamic_housekeeping=true",
    "--global_housekeeping_interval=1m0s",
)


class CAdvisor(ContainerSpec):
    """cAdvisor, defaulting to the seed's whole option set. `port` is where it listens on the host.

    cAdvisor runs on the host network, where Podman does not publish ports: the seed's
    `8083:8080` with `--port=8080` leaves it on 8080 while Prometheus scrapes 8083.
    So `port` becomes `--port=<port>` and no mapping is published.
    """

    port: int = Field(8080, ge=1, le=65535, description="Port cAdvisor listens on (host network).")
    network: str = "host"
    privileged: bool = True
    podman_socket: str = Field(
        PODMAN_SOCKET, alias="podmanSocket", description="Podman's socket, mounted as /var/run/docker.sock."
    )
    volumes: tuple[VolumeItem, ...] = Field(
        default=(), description="Default: /, /var/run, /sys, /dev/disk and the Podman socket, read-only."
    )
    args: tuple[str, ...] | None = None
    scrape: Scrape = Field(default_factory=Scrape)

    @model_validator(mode="before")
    @classmethod
    def _default_volumes(cls, data: Any) -> Any:
        if isinstance(data, dict) and "volumes" not in data:
            socket = data.get("podmanSocket", data.get("podman_socket", PODMAN_SOCKET))
            return {**data, "volumes": list(cadvisor_volumes(str(socket)))}
        return data

    def effective_args(self) -> tuple[str, ...]:
        """The seed's flags with `--port` first, unless the user gave args of their own."""
        if self.args is not None:
            return self.args
        return (f"--port={self.port}", *CADVISOR_ARGS)

    def scrape_endpoints(self) -> tuple[Scrape, ...]:
        return (self.scrape,) if self.scrape.enabled else ()


class Probe(Strict):
    """An HTTP health probe that monop runs from the host against a published port."""

    path: UrlPath = "/"
    port: int = Field(ge=1, le=65535)
    interval: Duration = 30.0
    timeout: Duration = 5.0
    retries: int = Field(3, ge=1, le=_INT32)


class BusinessService(ContainerSpec):
    """An application container with one or more `/metrics` endpoints and an optional HTTP probe."""

    scrape: Annotated[
        tuple[Scrape, ...],
        Forms("One endpoint {job, port, path, ...}, or a list of them.", one_or_many=True),
    ] = ()
    probe: Probe | None = None

    @field_validator("scrape", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    def scrape_endpoints(self) -> tuple[Scrape, ...]:
        return tuple(s for s in self.scrape if s.enabled)


class Document(Strict):
    """One document of desired state: `apiVersion`, `kind`, `metadata`, and a kind's `spec`."""

    api_version: Literal["monop.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: str
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def key(self) -> str:
        """`Kind/name`, the resource's identity in messages, logs and the work queue."""
        return f"{self.kind}/{self.metadata.name}"


class ResourceBase(Document):
    """A resource that runs as a container."""

    spec: ContainerSpec


class ExporterResource(ResourceBase):
    kind: Literal["Exporter"]
    spec: Exporter


class CAdvisorResource(ResourceBase):
    kind: Literal["CAdvisor"]
    spec: CAdvisor


class BusinessServiceResource(ResourceBase):
    kind: Literal["BusinessService"]
    spec: BusinessService


Resource = ExporterResource | CAdvisorResource | BusinessServiceResource
KINDS: dict[str, type[ResourceBase]] = {
    "Exporter": ExporterResource,
    "CAdvisor": CAdvisorResource,
    "BusinessService": BusinessServiceResource,
}
