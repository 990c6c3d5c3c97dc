"""The short forms users copy from `podman run`: ports, volumes, devices, memory sizes."""

import pytest
from pydantic import ValidationError

from monop.api.parts import Device, Port, Volume
from monop.api.quantity import parse_bytes


@pytest.mark.parametrize(
    ("text", "host_ip", "host_port", "container_port", "protocol"),
    [
        ("9445:9445", "", 9445, 9445, "tcp"),
        ("8083:8080", "", 8083, 8080, "tcp"),
        ("127.0.0.1:9100:9100", "127.0.0.1", 9100, 9100, "tcp"),
        ("[::1]:9100:9100/udp", "::1", 9100, 9100, "udp"),
        ("53/udp", "", None, 53, "udp"),
        ("127.0.0.1::80", "127.0.0.1", None, 80, "tcp"),
    ],
)
def test_port_strings(
    text: str, host_ip: str, host_port: int | None, container_port: int, protocol: str
) -> None:
    port = Port.model_validate(text)
    assert (port.host_ip, port.host_port, port.container_port, port.protocol) == (
        host_ip,
        host_port,
        container_port,
        protocol,
    )
    assert port.published == (host_port or container_port)


def test_port_structured_form_equals_string_form() -> None:
    structured = {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1", "protocol": "udp"}
    assert Port.model_validate(structured) == Port.model_validate("127.0.0.1:8080:80/udp")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("99999:9445", "host port 99999 is not in 1..65535"),
        ("80:0", "container port 0 is not in 1..65535"),
        ("a:b", "host port 'a' is not a number"),
        ("nothere:80:80", "host IP 'nothere' is not an IP address"),
        ("80:80/icmp", "protocol"),
    ],
)
def test_bad_ports_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Port.model_validate(text)


def test_volume_forms() -> None:
    assert Volume.model_validate("/sys:/sys:ro") == Volume(
        hostPath="/sys", containerPath="/sys", readOnly=True
    )
    assert Volume.model_validate("./conf:/etc/conf").read_only is False
    with pytest.raises(ValidationError, match="is not a volume"):
        Volume.model_validate("/only-one")
    with pytest.raises(ValidationError, match="must be absolute"):
        Volume.model_validate("/a:relative")
    with pytest.raises(ValidationError, match="volume option 'bogus'"):
        Volume.model_validate("/a:/b:bogus")


def test_device_forms() -> None:
    device = Device.model_validate("/dev/nvidia0:/dev/nvidia0:rwm")
    assert (device.host_path, device.container_path, device.permissions) == (
        "/dev/nvidia0",
        "/dev/nvidia0",
        "rwm",
    )
    assert Device.model_validate("/dev/fuse").container_path is None
    with pytest.raises(ValidationError, match="letters from rwm"):
        Device.model_validate("/dev/fuse:/dev/fuse:rwx")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * 2**20),
        ("1G", 10**9),
        ("1Gi", 2**30),
        ("512m", 512 * 2**20),
        ("1g", 2**30),
        (4096, 4096),
    ],
)
def test_memory_sizes_read_as_kubernetes_and_podman_mean_them(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "-1", "0", "1Zi", True])
def test_bad_memory_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)
