"""The demo: monop's daemon keeping a stack shaped like the seed's, on a private Podman.

    scripts/demo                 set up, then run the daemon in the foreground (Ctrl-C stops all)
    scripts/demo status          `monop status` of the demo, from another terminal
    scripts/demo podman ARGS...  the podman CLI on the demo's storage (`scripts/demo podman kill cadvisor`)

No registry is reachable here, so the images are built locally: the real node exporter,
Prometheus and Alertmanager binaries (Debian's), and a small busybox httpd that serves fixed
metrics where cAdvisor, the NVIDIA exporter and the business services would run. Prometheus
(127.0.0.1:19090) and Alertmanager (127.0.0.1:19093) run as containers monop manages, as the
seed's Prometheus does: they mount the rule files, target files and alertmanager.yml monop
writes, and monop reloads them when it rewrites those files (never recreates them for it).
The Podman service, its storage, the desired files and the daemon's state all live under
--base (/var/lib/monop-demo): nothing touches the host's own containers. Every server binds
to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from monop.api.resources import cadvisor_volumes
from monop_testbed import images
from monop_testbed.podman_service import PodmanService, wait_for

DEFAULT_BASE = Path(os.environ.get("MONOP_DEMO_BASE", "/var/lib/monop-demo"))
METRICS_ADDRESS = "127.0.0.1:9469"
PROMETHEUS_PORT = 19090  # not 9090: Debian's own prometheus service may hold that one
ALERTMANAGER_PORT = 19093  # not 9093, likewise

# The seed's stack, one file per resource as a user would commit it, with stand-in images.
STACK = {
    "node-exporter.yaml": """\
# The real node exporter binary, in a local image. Seed: host network, / mounted at /host.
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: node-exporter
spec:
  image: {node_exporter}
  args: ["--path.rootfs=/host", "--web.listen-address=127.0.0.1:19100"]
  network: host
  volumes: ["/:/host:ro"]
  scrape: {{job: node-exporter, port: 19100, interval: 15s, expect: [node_cpu_seconds_total]}}
""",
    "nvidia-gpu-exporter.yaml": """\
# Stand-in: there is no GPU here, so no device is passed; it serves one fixed sample.
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: nvidia-gpu-exporter
spec:
  image: {metrics}
  network: host
  env:
    PORT: "127.0.0.1:9445"
    METRICS: 'nvidia_smi_gpu_info{{name="stand-in"}} 1'
    NVIDIA_VISIBLE_DEVICES: all
  scrape: {{job: nvidia-gpu, port: 9445, interval: 15s, expect: [nvidia_smi_gpu_info]}}
""",
    "cadvisor.yaml": """\
# The CAdvisor kind's defaults are the seed's: privileged, host network, the read-only mounts,
# the Podman socket as /var/run/docker.sock (here the demo's own), the housekeeping flags.
apiVersion: monop.dev/v1alpha1
kind: CAdvisor
metadata:
  name: cadvisor
spec:
  image: {metrics}
  port: 8083
  podmanSocket: {socket}
  # The seed's mounts, less two this host may lack: /dev/disk (containers, CI machines), and
  # /var/run read-only, which fails unless the host has a /var/run/docker.sock for the socket's
  # mount point (Debian's podman-docker makes one; the seed's hosts had Docker's).
  volumes: {cadvisor_volumes}
  env:
    PORT: "127.0.0.1:8083"
    METRICS: "container_last_seen 1"
  scrape: {{job: cadvisor, interval: 30s}}
""",
    "alert-rules.yaml": """\
# Two of the seed's alert rules; monop checks them with promtool and loads them into Prometheus.
apiVersion: monop.dev/v1alpha1
kind: AlertRuleGroup
metadata:
  name: system-critical
spec:
  rules:
    - alert: SystemDown
      expr: up{{job="node-exporter"}} == 0
      for: 1m
      labels: {{severity: critical}}
      annotations: {{summary: "System is down"}}
    - alert: HighCPUUsage
      expr: 100 - (avg by(instance) (irate(node_cpu_seconds_total{{mode="idle"}}[5m])) * 100) > 85
      for: 10m
      labels: {{severity: warning}}
      annotations: {{summary: "High CPU usage detected"}}
""",
    "prometheus.yaml": """\
# Prometheus and Alertmanager as containers, as desired/prometheus.yaml has them (there with
# docker.io/prom images and published ports; here Debian's binaries on the host network, on
# loopback). A rule group or receiver monop rewrites reloads them: watch for container_reloaded.
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: prometheus
spec:
  image: {prometheus}
  args:
    - --config.file=/etc/prometheus/prometheus.yml
    - --storage.tsdb.path=/prometheus
    - --web.listen-address=127.0.0.1:{prometheus_port}
    - --web.enable-lifecycle
  network: host
  volumes:
    - prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro
    - {rules_dir}:{rules_dir}:ro
    - {sd_dir}:{sd_dir}:ro
  reload: {{http: {{path: /-/reload, port: {prometheus_port}}}}}
  scrape: {{job: prometheus, port: {prometheus_port}}}
---
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: alertmanager
spec:
  image: {alertmanager}
  args:
    - --config.file=/etc/alertmanager/alertmanager.yml
    - --storage.path=/alertmanager
    - --web.listen-address=127.0.0.1:{alertmanager_port}
    - --cluster.listen-address=
  network: host
  volumes: ["{alertmanager_dir}:/etc/alertmanager:ro"]
  reload: {{http: {{path: /-/reload, port: {alertmanager_port}}}}}
  scrape: {{job: alertmanager, port: {alertmanager_port}}}
""",
    "alerting.yaml": """\
# The seed's receivers, corrected (desired/receivers.yaml says what was wrong): monop writes
# alertmanager.yml, checks it with amtool, and the Alertmanager container is reloaded.
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata:
  name: alertmanager
spec:
  receiver: warning-alerts
  groupBy: [alertname, instance]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: critical-alerts
spec:
  matchers: [{{name: severity, value: critical}}]
  webhookConfigs: [{{url: "http://127.0.0.1:9097/webhook/critical", sendResolved: true}}]
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata:
  name: warning-alerts
spec:
  matchers: [{{name: severity, value: warning}}]
  webhookConfigs: [{{url: "http://127.0.0.1:9097/webhook/warning", sendResolved: true}}]
""",
    "business.yaml": """\
# The seed published 8501 from both services; the dashboard's UI moved to 8502.
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: business-metrics
spec:
  image: {metrics}
  env: {{PORT: "9999", METRICS: "business_orders_total 42", PROMETHEUS_ENABLED: "true"}}
  ports: ["127.0.0.1:9999:9999"]
  scrape: {{job: business-services, port: 9999, interval: 30s}}
---
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata:
  name: business-dashboard
spec:
  image: {metrics}
  env: {{PORT: "9998", METRICS: "business_dashboard_up 1", PROMETHEUS_ENABLED: "true"}}
  ports: ["127.0.0.1:9998:9998"]
  scrape: {{job: business-services, port: 9998, interval: 30s}}
""",
}


class Demo:
    def __init__(
        self, base: Path, prometheus_port: int = PROMETHEUS_PORT, alertmanager_port: int = ALERTMANAGER_PORT
    ) -> None:
        self.base = base
        self.service = PodmanService(base / "podman")
        self.desired = base / "desired"
        self.state_dir = base / "state"
        self.sd_dir = base / "file_sd"
        self.rules_dir = base / "rules"
        self.alertmanager_config = base / "alertmanager" / "alertmanager.yml"
        self.prometheus_port = prometheus_port
        self.alertmanager_port = alertmanager_port

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MONOP_PODMAN_URL": self.service.url,
            "MONOP_SCRAPE_ADDRESS": "127.0.0.1",  # Prometheus is a container on the host network: loopback is the host
            "MONOP_PROMETHEUS_URL": self.prometheus_url,
            "MONOP_SD_DIR": str(self.sd_dir),
            "MONOP_RULES_DIR": str(self.rules_dir),
            "MONOP_ALERTMANAGER_CONFIG": str(self.alertmanager_config),
            "MONOP_ALERTMANAGER_URL": f"http://127.0.0.1:{self.alertmanager_port}",
        }

    def prepare(self) -> None:
        """Start the private Podman, build the stand-in images once, write a fresh desired tree."""
        if self.service.answers():
            raise SystemExit(f"demo: a demo is already running here ({self.service.url}); stop it first")
        self.service.start()
        have = self.service.podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        if not {images.METRICS, images.NODE_EXPORTER, images.PROMETHEUS, images.ALERTMANAGER} <= set(have):
            say("building the local images (a few seconds, once)")
            images.build_all(self.service)
            images.build_prometheus(self.service)
            images.build_alertmanager(self.service)
        shutil.rmtree(self.desired, ignore_errors=True)
        self.desired.mkdir(parents=True)
        # What Prometheus and Alertmanager mount must exist before they start: monop's own
        # directories, and a first alertmanager.yml (Alertmanager exits without one) that monop
        # replaces with the receivers' once amtool has passed it.
        for directory in (self.sd_dir, self.rules_dir, self.alertmanager_config.parent):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        self.alertmanager_config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
        for name, text in STACK.items():
            (self.desired / name).write_text(
                text.format(
                    node_exporter=images.NODE_EXPORTER,
                    metrics=images.METRICS,
                    prometheus=images.PROMETHEUS,
                    alertmanager=images.ALERTMANAGER,
                    prometheus_port=self.prometheus_port,
                    alertmanager_port=self.alertmanager_port,
                    rules_dir=self.rules_dir,
                    sd_dir=self.sd_dir,
                    alertmanager_dir=self.alertmanager_config.parent,
                    socket=self.service.socket,
                    cadvisor_volumes=json.dumps(
                        [
                            v
                            for v in cadvisor_volumes(str(self.service.socket))
                            if not v.startswith("/var/run:")
                            and (Path("/dev/disk").exists() or "/dev/disk" not in v)
                        ]
                    ),
                )
            )

    def write_prometheus_config(self) -> None:
        """Prometheus's config in the desired tree (mounted by its container): `monop render
        prometheus`, evaluated every 5 s, alerts sent to the Alertmanager container."""
        config_file = self.desired / "prometheus" / "prometheus.yml"
        config_file.parent.mkdir(exist_ok=True)
        config_file.write_text("{}\n")  # the desired tree names it: it must exist to be read
        done = subprocess.run(
            self.monop("render", "prometheus", "-d", str(self.desired)),
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        config = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            **yaml.safe_load(done.stdout),
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]
            },
        }
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    def monop(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "monop", *args]

    def run(self, metrics_address: str, until_converged: float | None) -> int:
        self.prepare()
        self.write_prometheus_config()
        me = f"{sys.argv[0]}" if sys.argv[0].endswith("demo") else "scripts/demo"
        say(
            "\n".join(
                [
                    f"Podman (private): {self.service.url}",
                    f"desired state:    {self.desired}   <- edit, add or delete files and watch",
                    f"metrics:          http://{metrics_address}/metrics",
                    f"Prometheus:       {self.prometheus_url}/targets   (a container monop runs)",
                    f"Alertmanager:     http://127.0.0.1:{self.alertmanager_port}/#/status",
                    "in another terminal:",
                    f"  {me} status                       drift at a glance",
                    f"  {me} podman kill business-metrics  and watch monop start it again",
                    f"  edit {self.desired}/business.yaml: a scrape port nothing serves turns TARGET Down",
                    f"  edit {self.desired}/alert-rules.yaml: Prometheus is reloaded (container_reloaded), "
                    "not recreated",
                    f"  {me} podman ps",
                    "Ctrl-C stops the daemon, removes the demo's containers (Prometheus too), stops its Podman.",
                ]
            )
        )
        daemon = subprocess.Popen(
            self.monop(
                "run",
                "--desired", str(self.desired),
                "--state-dir", str(self.state_dir),
                "--metrics-address", metrics_address,
            ),
            env=self.env,
        )  # fmt: skip
        try:
            if until_converged is None:
                return daemon.wait()
            try:
                wait_for(
                    lambda: self.converged() or daemon.poll() is not None, until_converged, "convergence"
                )
            except TimeoutError:
                say(f"not converged after {until_converged:g}s:")
                self.status([])
                return 1
            if daemon.poll() is not None:
                say(f"the daemon exited with {daemon.returncode}")
                return 1
            say("converged: every resource is InSync")
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(60)
            self.teardown()

    def converged(self) -> bool:
        done = subprocess.run(
            self.monop("status", "-d", str(self.desired), "--state-dir", str(self.state_dir)),
            env=self.env,
            capture_output=True,
            timeout=60,
        )
        return done.returncode == 0

    def teardown(self) -> None:
        say("removing the demo's containers, stopping Podman")
        self.service.remove_all_containers()
        self.service.stop()

    def status(self, args: list[str]) -> int:
        if not self.service.answers():
            say(f"the demo is not running (no Podman at {self.service.url}); start it with scripts/demo")
            return 2
        cmd = self.monop("status", "-d", str(self.desired), "--state-dir", str(self.state_dir), *args)
        return subprocess.run(cmd, env=self.env).returncode

    def podman(self, args: list[str]) -> int:
        return subprocess.run(["podman", *self.service.flags, *args], env=self.service.env).returncode


def say(text: str) -> None:
    print(f"\033[1mdemo:\033[0m {text}" if sys.stdout.isatty() else f"demo: {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Run monop's daemon on a demo stack shaped like the seed's, on a private Podman.",
    )
    parser.add_argument(
        "--base", type=Path, default=DEFAULT_BASE, help=f"where the demo lives ({DEFAULT_BASE})"
    )
    parser.add_argument("--metrics-address", default=METRICS_ADDRESS, help="the daemon's HTTP address")
    parser.add_argument(
        "--prometheus-port", type=int, default=PROMETHEUS_PORT, help="the demo Prometheus's port on 127.0.0.1"
    )
    parser.add_argument(
        "--alertmanager-port",
        type=int,
        default=ALERTMANAGER_PORT,
        help="the demo Alertmanager's port on 127.0.0.1",
    )
    parser.add_argument(
        "--until-converged",
        type=float,
        metavar="SECONDS",
        help="exit once everything is InSync (fail after SECONDS) instead of running until Ctrl-C",
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "status", "podman"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for status or podman")
    options = parser.parse_args(argv)
    demo = Demo(options.base, options.prometheus_port, options.alertmanager_port)
    if options.command == "status":
        return demo.status(options.args)
    if options.command == "podman":
        return demo.podman(options.args)
    started = time.monotonic()
    code = demo.run(options.metrics_address, options.until_converged)
    if options.until_converged is not None:
        say(f"done in {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
