"""The short string forms users copy from `podman run`: ports, volumes and devices.

Each accepts the string (`"9445:9445"`, `"/sys:/sys:ro"`, `"/dev/nvidia0:/dev/nvidia0:rwm"`)
or the structured form a Kubernetes user would write, and holds the structured form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

Protocol = Literal["tcp", "udp", "sctp"]
# Kubernetes' port names (IANA service names), begun by a letter so that `9100` is a number.
PORT_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
PORT_NAME_MAX = 15


def port_name_problem(value: str) -> str | None:
    """Why `value` is not a port name, or None when it is one."""
    if value.isdigit():
        return f"{value!r} is a port number in quotes: write it without them"
    if len(value) > PORT_NAME_MAX or not re.match(PORT_NAME, value):
        return (
            f"port name {value!r} must be lower-case letters, digits and '-', begin with a letter "
            f"and end with a letter or digit, at most {PORT_NAME_MAX} characters"
        )
    return None


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool | float):
        raise ValueError(f"{what} {value!r} is not a whole number")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} {port} is not in 1..65535")
    return port


def _absolute(value: str, what: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{what} {value!r} must be absolute")
    return value


class Port(_Part):
    """A published port; `"[hostIP:]hostPort:containerPort[/protocol]"` or `"containerPort"`."""

    noun: ClassVar[str] = (
        'a port ("8080:80/tcp") or a mapping with containerPort, hostPort, hostIP, protocol, name'
    )

    container_port: int = Field(alias="containerPort", description="Port inside the container.")
    host_port: int | None = Field(
        None, alias="hostPort", description="Port on the host; defaults to containerPort."
    )
    host_ip: str = Field("", alias="hostIP", description="Host address to bind; empty means all.")
    protocol: Annotated[
        Protocol,
        WithJsonSchema(
            {
                "type": "string",
                "pattern": "^([tT][cC][pP]|[uU][dD][pP]|[sS][cC][tT][pP])$",
                "description": "tcp, udp or sctp, in any case (Kubernetes writes TCP).",
            }
        ),
    ] = "tcp"
    name: str | None = Field(
        None,
        description="A name for scrape.port to refer to, as Kubernetes' named ports.",
        json_schema_extra={"pattern": PORT_NAME, "maxLength": PORT_NAME_MAX},
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        problem = None if value is None else port_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"containerPort": value}
        if not isinstance(value, str):
            return value
        text, slash, protocol = value.partition("/")
        fields: dict[str, Any] = {"protocol": protocol if slash else "tcp"}
        # An IPv6 host address is written in brackets: "[::1]:9100:9100".
        match = re.fullmatch(r"(?:(\[[^\]]+\]|[^:]+):)?(?:([^:]*):)?([^:]+)", text)
        if match is None:
            raise ValueError(f"{value!r} is not a port mapping (examples: 9445:9445, 127.0.0.1:8080:80/udp)")
        host_ip, host_port, container_port = match.groups()
        if host_ip is not None and host_port is None:
            host_ip, host_port = None, host_ip
        fields["containerPort"] = container_port
        if host_port:
            fields["hostPort"] = host_port
        if host_ip:
            fields["hostIP"] = host_ip.strip("[]")
        return fields

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        # `TCP` as Kubernetes writes it, `tcp` as podman does: the same for both forms.
        return value.lower() if isinstance(value, str) else value

    @field_validator("container_port", mode="before")
    @classmethod
    def _check_container_port(cls, value: Any) -> int:
        return _port(value, "container port")

    @field_validator("host_port", mode="before")
    @classmethod
    def _check_host_port(cls, value: Any) -> int | None:
        return None if value is None else _port(value, "host port")

    @field_validator("host_ip")
    @classmethod
    def _check_host_ip(cls, value: str) -> str:
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"host IP {value!r} is not an IP address") from None
        return value

    @property
    def published(self) -> int:
        """The host port this mapping publishes."""
        return self.host_port if self.host_port is not None else self.container_port


class Volume(_Part):
    """A bind mount; `"hostPath:containerPath[:ro|rw]"`. A relative hostPath is read from the desired tree."""

    noun: ClassVar[str] = 'a volume ("/sys:/sys:ro") or a mapping with hostPath, containerPath, readOnly'

    host_path: str = Field(alias="hostPath", min_length=1)
    container_path: str = Field(alias="containerPath", min_length=1)
    read_only: bool = Field(False, alias="readOnly")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise ValueError(f"{value!r} is not a volume (example: /sys:/sys:ro)")
        options = parts[2].split(",") if len(parts) == 3 else []
        unknown = set(options) - {"ro", "rw", "z", "Z"}
        if unknown:
            raise ValueError(f"volume option {sorted(unknown)[0]!r} is not one of ro, rw")
        return {"hostPath": parts[0], "containerPath": parts[1], "readOnly": "ro" in options}

    @field_validator("container_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _absolute(value, "container path")


class Device(_Part):
    """A host device; `"/dev/nvidia0[:/dev/nvidia0[:rwm]]"` as `podman run --device` takes it."""

    noun: ClassVar[str] = (
        'a device ("/dev/nvidia0:/dev/nvidia0:rwm") or a mapping with hostPath, containerPath, permissions'
    )

    host_path: str = Field(alias="hostPath")
    container_path: str | None = Field(None, alias="containerPath")
    permissions: str = "rwm"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = value.split(":")
        if len(parts) > 3:
            raise ValueError(f"{value!r} is not a device (example: /dev/nvidia0:/dev/nvidia0:rwm)")
        fields: dict[str, Any] = {"hostPath": parts[0]}
        if len(parts) >= 2:
            fields["containerPath"] = parts[1]
        if len(parts) == 3:
            fields["permissions"] = parts[2]
        return fields

    @field_validator("host_path", "container_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value, "device path")

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: str) -> str:
        if not value or set(value) - set("rwm") or len(set(value)) != len(value):
            raise ValueError(f"device permissions {value!r} must be letters from rwm")
        return value
