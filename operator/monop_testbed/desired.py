"""Desired-state files for tests, benchmarks and the demo: a small service that serves metrics."""

from __future__ import annotations

from pathlib import Path

from monop_testbed import images

SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: {name}
spec:
  image: {image}
  env:
    PORT: "{port}"
    METRICS: "{metrics}"
  ports: ["127.0.0.1:{port}:{port}"]
  scrape: {{port: {port}}}
"""


def service_yaml(name: str, port: int, metrics: str = "app_up 1", image: str = images.METRICS) -> str:
    """A BusinessService running the metrics stand-in, publishing `port` on loopback."""
    return SERVICE.format(name=name, port=port, metrics=metrics, image=image)


def write_service(
    tree: Path, name: str, port: int, metrics: str = "app_up 1", image: str = images.METRICS
) -> Path:
    """Write `<tree>/<name>.yaml` (creating `tree`), replacing what was there."""
    tree.mkdir(parents=True, exist_ok=True)
    path = tree / f"{name}.yaml"
    path.write_text(service_yaml(name, port, metrics, image))
    return path
