"""Small local images built with `podman import`: busybox, a metrics server stand-in, and the node
exporter, Prometheus and Alertmanager from Debian's binaries (laid out as their upstream images are).

The metrics image stands in for cAdvisor, nvidia_gpu_exporter and business services, which
cannot be pulled here: busybox httpd serving `$METRICS` as /metrics on `$PORT`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path

from monop_testbed.podman_service import PodmanService

BUSYBOX = "localhost/monop-test/busybox:1"
METRICS = "localhost/monop-test/metrics:1"
NODE_EXPORTER = "localhost/monop-test/node-exporter:1"
PROMETHEUS = "localhost/monop-test/prometheus:1"
ALERTMANAGER = "localhost/monop-test/alertmanager:1"

_APPLETS = (
    "sh",
    "httpd",
    "sleep",
    "cat",
    "echo",
    "wget",
    "true",
    "false",
    "ls",
    "printf",
    "mkdir",
    "kill",
    "env",
)
_SERVE = """#!/bin/sh
# Serve $METRICS (a line per sample, '\\n' escapes allowed) as /metrics on $PORT.
mkdir -p /www
printf "${METRICS:-monop_standin_up 1}\\n" > /www/metrics
echo ok > /www/healthz
exec httpd -f -p "${PORT:-9100}" -h /www
"""


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _rootfs(files: dict[str, bytes], links: dict[str, str], dirs: Iterable[str] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "etc", "tmp", "www", "lib", "lib64", "proc", "sys", "dev", *dirs):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            _add_file(tar, name, data)
        for name, target in sorted(links.items()):
            _add_link(tar, name, target)
    return buffer.getvalue()


def _busybox_files() -> tuple[dict[str, bytes], dict[str, str]]:
    busybox = Path(shutil.which("busybox") or "/bin/busybox").read_bytes()
    files = {
        "bin/busybox": busybox,
        "etc/passwd": b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }
    return files, {f"bin/{applet}": "busybox" for applet in _APPLETS}


def _shared_libraries(binary: Path) -> Iterable[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            yield Path(path)


def _import(service: PodmanService, name: str, rootfs: bytes, changes: Iterable[str]) -> None:
    # The content digest is a label, so an unchanged image is not imported again.
    digest = hashlib.sha256(rootfs + "\n".join(changes).encode()).hexdigest()[:16]
    found = service.podman(
        "image", "inspect", "--format", '{{index .Labels "monop.test/digest"}}', name, check=False
    )
    if found.returncode == 0 and found.stdout.strip() == digest:
        return
    tarball = service.base / f"{digest}.tar"
    tarball.write_bytes(rootfs)
    args = [arg for change in [*changes, f"LABEL monop.test/digest={digest}"] for arg in ("--change", change)]
    service.podman("import", *args, str(tarball), name)
    tarball.unlink()


def build_busybox(service: PodmanService, name: str = BUSYBOX) -> str:
    files, links = _busybox_files()
    # busybox as PID 1 ignores SIGTERM; SIGKILL makes `podman stop` immediate for stand-ins.
    _import(service, name, _rootfs(files, links), ['CMD ["/bin/sh"]', "STOPSIGNAL SIGKILL"])
    return name


def build_metrics(service: PodmanService, name: str = METRICS, version: str = "1") -> str:
    """The metrics stand-in; a different `version` builds a different image (for a tag that moved)."""
    files, links = _busybox_files()
    files["bin/serve-metrics"] = _SERVE.encode()
    files["etc/standin-version"] = version.encode()
    _import(
        service,
        name,
        _rootfs(files, links),
        ['ENTRYPOINT ["/bin/serve-metrics"]', "STOPSIGNAL SIGKILL", "ENV PORT=9100"],
    )
    return name


def build_node_exporter(service: PodmanService, name: str = NODE_EXPORTER) -> str:
    binary = Path("/usr/bin/prometheus-node-exporter")
    files, links = _busybox_files()
    files["bin/node_exporter"] = binary.read_bytes()
    for library in _shared_libraries(binary):
        files[str(library).lstrip("/")] = library.read_bytes()
    _import(
        service,
        name,
        _rootfs(files, links),
        ['ENTRYPOINT ["/bin/node_exporter"]', 'CMD ["--web.listen-address=:9100"]'],
    )
    return name


def _debian_binary(binary: Path, as_name: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """busybox (for a shell when debugging), the binary as `bin/<as_name>`, and its libraries."""
    files, links = _busybox_files()
    files[f"bin/{as_name}"] = binary.read_bytes()
    for library in _shared_libraries(binary):
        files[str(library).lstrip("/")] = library.read_bytes()
    return files, links


def _tree(files: dict[str, bytes], source: Path, into: str) -> None:
    """Every file under `source` (Debian's web assets, templates) at `into` in the image."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            files[f"{into}/{path.relative_to(source)}"] = path.read_bytes()


# The upstream images' default config: Prometheus scrapes itself.
_PROMETHEUS_YML = b"""global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [localhost:9090]
"""
_ALERTMANAGER_YML = b"""route:
  receiver: default
receivers:
  - name: default
"""


def _server(
    service: PodmanService, name: str, binary: str, program: str, config: bytes, storage: str, port: int
) -> str:
    """Debian's `binary` laid out as docker.io/prom/<program> is: the binary as /bin/<program>,
    its default config in /etc/<program>/, its data in /<program>, Debian's assets in place."""
    files, links = _debian_binary(Path(binary), program)
    config_file = f"/etc/{program}/{program}.yml"
    files[config_file.lstrip("/")] = config
    assets = "usr/share/prometheus/" + ("web" if program == "prometheus" else program)
    _tree(files, Path("/") / assets, assets)
    _import(
        service,
        name,
        _rootfs(files, links, dirs=(f"etc/{program}", program, "usr", "usr/share")),
        [
            f'ENTRYPOINT ["/bin/{program}"]',
            f'CMD ["--config.file={config_file}", "--{storage}=/{program}"]',
            f"EXPOSE {port}",
        ],
    )
    return name


def build_prometheus(service: PodmanService, name: str = PROMETHEUS) -> str:
    """Debian's Prometheus, as docker.io/prom/prometheus: /etc/prometheus/prometheus.yml, data in /prometheus."""
    return _server(
        service, name, "/usr/bin/prometheus", "prometheus", _PROMETHEUS_YML, "storage.tsdb.path", 9090
    )


def build_alertmanager(service: PodmanService, name: str = ALERTMANAGER) -> str:
    """Debian's Alertmanager, as docker.io/prom/alertmanager: /etc/alertmanager/alertmanager.yml."""
    return _server(
        service,
        name,
        "/usr/bin/prometheus-alertmanager",
        "alertmanager",
        _ALERTMANAGER_YML,
        "storage.path",
        9093,
    )


def tag(service: PodmanService, source: str, *names: str) -> None:
    for name in names:
        service.podman("tag", source, name)


def build_all(service: PodmanService) -> dict[str, str]:
    return {
        "busybox": build_busybox(service),
        "metrics": build_metrics(service),
        "node-exporter": build_node_exporter(service),
    }
