"""`spec.reload`: one way to reload, refused at its line otherwise; never part of the container."""

from __future__ import annotations

from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop.reconcile.plan import units

SERVICE = """\
apiVersion: monop.dev/v1alpha1
kind: BusinessService
metadata: {{name: prometheus}}
spec:
  image: docker.io/prom/prometheus:v2.42.0
  ports: ["9090:9090"]
{reload}
"""


def problems_of(tree: Path) -> list[str]:
    with pytest.raises(InvalidDesiredState) as err:
        load(tree, check_rules=False)
    return [str(p).replace(f"{tree}/", "") for p in err.value.problems]


@pytest.mark.parametrize(
    ("reload", "expected"),
    [
        ("  reload: {}", "reload takes one of http: {path, port} or signal: SIGHUP"),
        ("  reload: {signal: SIGHUP, http: {port: 9090}}", "reload takes one of http"),
        ("  reload: {signal: SIGNOPE}", "'SIGNOPE' is not a signal name"),
        ("  reload: {http: {path: reload, port: 9090}}", "must start with '/'"),
        ("  reload: {http: {port: 0}}", "spec.reload.http.port"),
        ("  reload: {http: {path: '/-/reload?token=s3cret', port: 9090}}", "takes no query"),
    ],
)
def test_a_wrong_reload_is_refused_at_its_line(tmp_path: Path, reload: str, expected: str) -> None:
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload=reload))
    [problem] = problems_of(tmp_path)
    assert problem.startswith("p.yaml:7: BusinessService/prometheus: spec.reload")
    assert expected in problem


def test_changing_how_it_reloads_recreates_nothing(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload="  reload: {http: {path: /-/reload, port: 9090}}"))
    by_http = units(load(tmp_path, check_rules=False))[0].spec_hash
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload="  reload: {signal: SIGHUP}"))
    by_signal = units(load(tmp_path, check_rules=False))[0].spec_hash
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload=""))
    assert by_http == by_signal == units(load(tmp_path, check_rules=False))[0].spec_hash


def test_a_reload_port_that_is_not_published_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload="  reload: {http: {port: 9093}}"))
    [problem] = problems_of(tmp_path)
    assert problem == (
        "p.yaml:7: BusinessService/prometheus: spec.reload.http.port: container port 9093 is not "
        "published: monop reaches the reload endpoint from the host, so publish it in spec.ports "
        '("127.0.0.1:9093:9093") or use the host network'
    )


def test_a_prometheus_reloaded_over_http_without_the_lifecycle_api_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SERVICE.format(reload="  reload: {http: {port: 9090}}"))
    [warning] = load(tmp_path).warnings
    assert "only when started with --web.enable-lifecycle" in str(warning)
    assert (warning.line, warning.resource, warning.field) == (
        7,
        "BusinessService/prometheus",
        "spec.reload.http",
    )


def test_a_reload_path_with_a_query_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        SERVICE.format(reload="  reload: {http: {path: '/-/reload?token=s3cret', port: 9090}}")
    )
    [problem] = problems_of(tmp_path)
    assert "'/-/reload': a reload path takes no query" in problem
    assert "s3cret" not in problem
