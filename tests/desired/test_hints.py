"""What a Kubernetes or compose user writes first gets a hint in monop's terms, at its line.

Each row: the spec lines as such a user writes them, and every problem said about them
(line, field, message), exactly: one message per mistake, never one per part of it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState, Problem, Severity

HEAD = "apiVersion: monop.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: x\nspec:\n  image: example/x:1\n  ports: ['9100:9100']\n"


# (kind, spec lines, [(line, field, message)]); most are one unknown field of spec, at line 8.
def _spec(spec: str, message: str, kind: str = "Exporter") -> tuple[str, str, list[tuple[int, str, str]]]:
    field = spec.split(":")[0].strip()
    return kind, spec, [(8, "spec", f"unknown field {field!r}: {message}")]


HINTS: list[tuple[str, str, list[tuple[int, str, str]]]] = [
    _spec(
        "  resources:\n    limits: {memory: 1Gi, cpu: 500m}\n    requests: {cpu: 100m}\n",
        "monop's limits sit directly under spec: limits: {memory: 1Gi, cpus: 500m} (Podman has no requests)",
    ),
    _spec(
        "  resources: {requests: {memory: 1Gi}}\n",
        "monop's limits sit directly under spec: limits: {memory: 256Mi, cpus: 500m} (Podman has no requests)",
    ),
    _spec(
        "  livenessProbe:\n    httpGet: {path: /metrics, port: 9100}\n",
        "use healthcheck (a command Podman runs in the container: healthcheck: {test: [CMD, ...], interval: 30s}) or, on a BusinessService, probe (an HTTP GET monop sends from the host: probe: {path: /metrics, port: 9100}); a failing one makes the resource Unhealthy and monop restarts it",
    ),
    _spec(
        "  livenessProbe:\n    exec: {command: [cat, /tmp/ok]}\n",
        "use healthcheck (a command Podman runs in the container: healthcheck: {test: [cat, /tmp/ok]}) or probe (an HTTP GET monop sends from the host: probe: {path: /healthz, port: 8080}); a failing one makes the resource Unhealthy and monop restarts it",
        kind="BusinessService",
    ),
    _spec(
        "  readinessProbe: {httpGet: {port: 9100}}\n",
        "nothing routes traffic by readiness here; to restart on failure, use healthcheck (a command Podman runs in the container: healthcheck: {test: [CMD, ...], interval: 30s}) or probe (an HTTP GET monop sends from the host: probe: {path: /, port: 9100}); a failing one makes the resource Unhealthy and monop restarts it",
        kind="BusinessService",
    ),
    _spec(
        "  startupProbe: {exec: {command: [true]}}\n",
        "use healthcheck's startPeriod: how long after a start failed checks do not count",
    ),
    (
        "Exporter",
        "  volumes:\n    - name: sys\n      hostPath: {path: /sys}\n  volumeMounts:\n    - {name: sys, mountPath: /host/sys, readOnly: true}\n",
        [
            (
                9,
                "spec.volumes[0]",
                "a Kubernetes volume; a monop volume names both paths: {hostPath: /sys, containerPath: /host/sys, readOnly: true}",
            ),
            (
                11,
                "spec",
                "unknown field 'volumeMounts': a monop volume names both paths, host and container: volumes: ['/sys:/host/sys:ro']",
            ),
        ],
    ),
    (
        "Exporter",
        "  volumes: [{name: data, hostPath: {path: /srv}}]\n",
        [
            (
                8,
                "spec.volumes[0]",
                "a Kubernetes volume; a monop volume names both paths: {hostPath: /data, containerPath: /data, readOnly: true}",
            )
        ],
    ),
    (
        "Exporter",
        "  volumes:\n    - {type: bind, source: /sys, target: /sys, read_only: true}\n",
        [
            (
                9,
                "spec.volumes[0]",
                "compose's long volume syntax; monop's is {hostPath: /sys, containerPath: /sys, readOnly: true}",
            )
        ],
    ),
    _spec(
        "  environment:\n    - A=1\n    - B=two\n",
        "monop's is env, a map or a list of {name, value}: env: {A: '1', B: two}",
    ),
    _spec("  environment: {A: x}\n", "monop's is env, a map or a list of {name, value}: env: {A: x}"),
    (
        "Exporter",
        "  env:\n    - A=1\n",
        [
            (
                9,
                "spec.env[0]",
                "compose's NAME=VALUE form; monop's env is a map, env: {A: '1'}, or a list of {name, value}",
            )
        ],
    ),
    (
        "Exporter",
        "  env:\n    - name: A\n      valueFrom: {secretKeyRef: {name: s, key: k}}\n",
        [
            (
                10,
                "spec.env[0].valueFrom",
                "monop reads no Kubernetes secrets or config maps; put secret values in a file named by secretEnvFrom (NAME=VALUE lines, mode 0600)",
            )
        ],
    ),
    (
        "Exporter",
        "  cap_add: [NET_ADMIN, SYS_TIME]\n  cap_drop: [ALL]\n",
        [
            (8, "spec", "unknown field 'cap_add': write capabilities: {add: [NET_ADMIN, SYS_TIME]}"),
            (9, "spec", "unknown field 'cap_drop': write capabilities: {drop: [ALL]}"),
        ],
    ),
    _spec("  mem_limit: 512m\n", "write limits: {memory: 512m}"),
    _spec("  cpus: 0.5\n", "write limits: {cpus: 0.5}"),
    _spec(
        "  restart: unless-stopped\n",
        "write restartPolicy: unless-stopped (monop starts a stopped container again in any case)",
    ),
    _spec("  restart: no\n", "write restartPolicy: no (monop starts a stopped container again in any case)"),
    _spec("  restart: on-failure:3\n", "write restartPolicy: on-failure (Podman's retry count is not taken)"),
    _spec(
        "  entrypoint: [/bin/exporter]\n",
        "monop's command is the entrypoint, as in Kubernetes; compose's command is monop's args",
    ),
    _spec("  container_name: node\n", "the container's name is metadata.name"),
    _spec("  network_mode: host\n", "write network: host"),
    _spec("  imagePullPolicy: Always\n", "write pullPolicy: Always"),
    _spec(
        "  securityContext: {privileged: true}\n", "privileged, user and capabilities sit directly under spec"
    ),
    _spec(
        "  containers: [{name: a}]\n",
        "a resource is one container: its image, args, ports, ... sit directly under spec",
    ),
    (
        "BusinessService",
        "  ports:\n    - {target: 80, published: 8080}\n",
        [(8, "spec.ports[0]", "compose's long port syntax; monop's is {containerPort: 80, hostPort: 8080}")],
    ),
    (
        "Exporter",
        "  healthcheck: {test: 'true', start_perod: 5s}\n",
        [(8, "spec.healthcheck", "unknown field 'start_perod' (did you mean 'startPeriod'?)")],
    ),
]


def _problems(kind: str, spec: str) -> list[Problem]:
    text = HEAD.format(kind=kind) + spec
    if "ports:\n" in spec:
        text = text.replace("  ports: ['9100:9100']\n", "")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_text(text)
        try:
            state = load(tmp, exists_on_host=lambda _: True)
        except InvalidDesiredState as err:
            return list(err.problems)
        return list(state.warnings)


@pytest.mark.parametrize(("kind", "spec", "said"), HINTS, ids=[h[1].split(":")[0].strip() for h in HINTS])
def test_a_kubernetes_or_compose_shape_gets_monops_form_at_its_line(
    kind: str, spec: str, said: list[tuple[int, str, str]]
) -> None:
    problems = _problems(kind, spec)
    assert all(p.severity is Severity.ERROR for p in problems)
    assert sorted((p.line or 0, p.field or "", p.message) for p in problems) == sorted(said)


def test_a_command_that_begins_with_a_flag_is_warned_about_at_its_line() -> None:
    [warning] = _problems("Exporter", "  command:\n    - --path.rootfs=/host\n")
    assert (warning.severity, warning.line, warning.field, warning.message) == (
        Severity.WARNING,
        8,
        "spec.command",
        "starts with the flag '--path.rootfs': did you mean args? monop's command is the entrypoint, "
        "as in Kubernetes (compose's command is monop's args)",
    )


def test_the_flag_warning_never_quotes_the_flags_value() -> None:
    [warning] = _problems("Exporter", "  command: [--password=hunter2secret, --x]\n")
    assert "'--password'" in warning.message
    assert "hunter2secret" not in warning.message


@pytest.mark.parametrize("spec", ["  command: [/bin/exporter, --flag]\n", "  args: [--flag]\n"])
def test_an_entrypoint_or_args_that_begin_with_a_flag_are_not_warned_about(spec: str) -> None:
    assert _problems("Exporter", spec) == []


def test_a_compose_named_volume_is_said_to_be_one() -> None:
    [problem] = _problems("Exporter", "  volumes: [data:/data]\n")
    assert (problem.line, problem.field) == (8, "spec.volumes[0]")
    assert problem.message.startswith("hostPath 'data' does not exist (looked for /")
    assert problem.message.endswith(
        "/data); monop mounts host paths only: for compose's named volume, a directory (/srv/data:/data)"
    )


SECRETS = [
    (
        "  environment: [DB_PASSWORD=hunter2-long, LEVEL=debug]\n",
        "hunter2-long",
        "env: {DB_PASSWORD: <secret>, LEVEL: debug}",
    ),
    ("  environment: {API_TOKEN: abc}\n", "abc", "env: {API_TOKEN: <secret>}"),
    ("  env: [MYSQL_PWD=xyz]\n", "xyz", "env: {MYSQL_PWD: <secret>}"),
    ("  environment: [DSN=postgres://app:s3cr3t-pw@db/app]\n", "s3cr3t-pw", "postgres://app:<secret>@db/app"),
    (
        "  livenessProbe: {exec: {command: [check, --password=hunter2-long]}}\n",
        "hunter2-long",
        "{test: [check, --password=<secret>]}",
    ),
]


@pytest.mark.parametrize(("spec", "secret", "shown"), SECRETS, ids=[s[1] for s in SECRETS])
def test_a_hint_never_shows_a_secret_it_was_written_with(spec: str, secret: str, shown: str) -> None:
    [problem] = _problems("Exporter", spec)
    assert secret not in problem.message and secret not in str(problem)
    assert shown in problem.message
