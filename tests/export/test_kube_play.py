"""The exported workloads run: `podman kube play` (a real consumer of Kubernetes YAML here) starts
them on the test's private Podman, and each exporter answers on its port.

Podman 4.3 plays Pods and Deployments, not DaemonSets ("YAML document does not contain any
supported kube kind"): a DaemonSet's pod template, which is what it runs on each node, is
played as a Pod. Services and the Prometheus Operator's kinds, in the same files, are skipped
by kube play. Ports are from this test's range (20500-20599).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monop.runtime.podman import Podman
from monop_testbed import images
from monop_testbed.podman_service import PodmanService, wait_for

pytestmark = pytest.mark.podman

NODE_PORT, CADVISOR_PORT, APP_PORT, APP_PUBLISHED = 20501, 20504, 20502, 20503

DESIRED = f"""\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: kube-node-exporter
spec:
  image: {images.NODE_EXPORTER}
  network: host
  args: ["--web.listen-address=127.0.0.1:{NODE_PORT}", "--path.rootfs=/host"]
  volumes: ["/:/host:ro"]
  scrape: {{job: node-exporter, port: {NODE_PORT}}}
---
# The metrics stand-in as cAdvisor: privileged, on the host network, listening on $PORT.
apiVersion: monop.dev/v1alpha1
kind: CAdvisor
metadata:
  name: kube-cadvisor
spec:
  image: {images.METRICS}
  port: {CADVISOR_PORT}
  env: {{PORT: "{CADVISOR_PORT}", METRICS: "container_standin_up 1"}}
  volumes: ["/sys:/sys:ro"]
---
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: kube-app
spec:
  image: {images.METRICS}
  env: {{PORT: "{APP_PORT}", METRICS: "kube_play_app_up 1"}}
  ports: ["{APP_PUBLISHED}:{APP_PORT}"]
  scrape: {{port: {APP_PUBLISHED}}}
  probe: {{path: /healthz, port: {APP_PUBLISHED}}}
"""


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()  # type: ignore[no-any-return]
    except OSError:
        return ""


def as_pod(daemonset: dict[str, Any]) -> dict[str, Any]:
    """The pod a DaemonSet runs on a node, for a Podman without DaemonSets."""
    template = daemonset["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": daemonset["metadata"]["name"], **template["metadata"]},
        "spec": template["spec"],
    }


def without_host_network_ports(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod on the host network without its declared ports, for Podman 4.3's kube play, which turns
    each into a port mapping and then refuses the pod (host network has none). A cluster needs
    them: a PodMonitor keeps a target only for a port the pod declares.
    """
    if pod["spec"].get("hostNetwork"):
        for container in pod["spec"]["containers"]:
            container.pop("ports", None)
    return pod


def playable(text: str) -> str:
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    return yaml.safe_dump_all(
        [without_host_network_ports(as_pod(d)) if d["kind"] == "DaemonSet" else d for d in documents],
        sort_keys=False,
    )


def pod_ip(service: PodmanService, pod: str) -> str:
    infra = service.podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod).stdout.strip()
    networks = json.loads(
        service.podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", infra).stdout
    )
    return str(next(iter(networks.values()))["IPAddress"])


@pytest.fixture
def played(podman_service: PodmanService, podman: Podman, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """The exported files, as played; everything played is taken down after the test."""
    tree = tmp_path / "desired"
    tree.mkdir()
    (tree / "stack.yaml").write_text(DESIRED)
    out = tmp_path / "manifests"
    done = subprocess.run(
        [sys.executable, "-m", "monop", "export", "kubernetes", "-f", str(tree), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = {path.stem: path for path in out.iterdir()}
    for path in files.values():
        path.write_text(playable(path.read_text()))
    try:
        yield files
    finally:
        for path in files.values():
            podman_service.podman("kube", "down", str(path), check=False)
        pods = podman_service.podman("pod", "ps", "--format", "{{.Name}}").stdout.split()
        assert not [pod for pod in pods if pod.startswith("kube-")], f"pods left behind: {pods}"


def test_the_exported_daemon_sets_and_deployment_run_and_answer(
    played: dict[str, Path], podman_service: PodmanService
) -> None:
    assert set(played) == {
        "exporter-kube-node-exporter",
        "cadvisor-kube-cadvisor",
        "businessservice-kube-app",
    }
    for path in played.values():
        done = podman_service.podman("kube", "play", str(path), check=False)
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
    # The node exporter on the host network, reading the host's / through its read-only hostPath.
    node = f"http://127.0.0.1:{NODE_PORT}/metrics"
    wait_for(lambda: "node_filesystem_size_bytes" in fetch(node), 30, f"the node exporter on {node}")
    cadvisor = f"http://127.0.0.1:{CADVISOR_PORT}/metrics"
    wait_for(lambda: "container_standin_up 1" in fetch(cadvisor), 30, f"the cAdvisor stand-in on {cadvisor}")
    # The Deployment's pod, at its own address on the container's port.
    app = f"http://{pod_ip(podman_service, 'kube-app-pod-0')}:{APP_PORT}"
    wait_for(lambda: "kube_play_app_up 1" in fetch(f"{app}/metrics"), 30, f"the business service on {app}")
    assert fetch(f"{app}/healthz").strip() == "ok"  # where its livenessProbe looks
    running = json.loads(podman_service.podman("ps", "--format", "json").stdout)
    by_name = {c["Names"][0]: c for c in running}
    assert by_name["kube-node-exporter-kube-node-exporter"]["State"] == "running"
    privileged = podman_service.podman(
        "inspect", "--format", "{{.HostConfig.Privileged}}", "kube-cadvisor-kube-cadvisor"
    ).stdout.strip()
    assert privileged == "true"
