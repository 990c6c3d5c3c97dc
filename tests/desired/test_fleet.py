"""One tree, many hosts: placement, `hosts/<name>/` overrides, and validation for every host named.

The loader is given each host by hand (monop.desired.fleet.Host); the daemons that follow one
repository on three hosts are tests/daemon/test_fleet_daemons.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monop.api.placement import Placement
from monop.desired.fleet import Host
from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop_testbed.desired import service_yaml


def placed(name: str, port: int, placement: str) -> str:
    return service_yaml(name, port) + f"  placement:\n{placement}"


@pytest.mark.parametrize(
    ("placement", "labels", "runs"),
    [
        ({}, {}, True),
        ({"matchLabels": {"gpu": "true"}}, {"gpu": "true"}, True),
        ({"matchLabels": {"gpu": "true"}}, {"gpu": "false"}, False),
        ({"matchLabels": {"gpu": "true"}}, {}, False),
        (
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
            {"zone": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, {"zone": "b"}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, {"zone": "a"}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {"gpu": ""}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, {"gpu": "1"}, False),
        (
            {"matchLabels": {"zone": "a"}, "matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
            {"zone": "a"},
            False,
        ),
    ],
)
def test_placement_matches_as_a_kubernetes_label_selector(
    placement: dict[str, object], labels: dict[str, str], runs: bool
) -> None:
    assert Placement.model_validate(placement).matches(labels) is runs


def test_each_host_runs_what_its_name_and_labels_select(tmp_path: Path) -> None:
    (tmp_path / "everywhere.yaml").write_text(service_yaml("everywhere", 20601))
    (tmp_path / "on-beta.yaml").write_text(placed("on-beta", 20602, "    matchLabels: {hostname: beta}\n"))
    gpu = "    matchExpressions: [{key: gpu, operator: Exists}]\n"
    (tmp_path / "gpu.yaml").write_text(placed("gpu", 20603, gpu))
    selected = {
        name: [r.name for r in load(tmp_path, host=Host(name, labels)).resources]
        for name, labels in {"alpha": {"gpu": "a100"}, "beta": {}, "gamma": {}}.items()
    }
    assert selected == {
        "alpha": ["everywhere", "gpu"],
        "beta": ["everywhere", "on-beta"],
        "gamma": ["everywhere"],
    }
    state = load(tmp_path, host=Host("gamma"))
    assert (state.host, state.hosts) == ("gamma", ("beta", "gamma"))


def test_another_hosts_labels_are_unknown_so_what_they_place_is_left_out_of_its_checks(
    tmp_path: Path,
) -> None:
    # Both publish one host port; no host runs both (gpu hosts are core), but alpha cannot know
    # beta's labels: there, both are undecided, not both placed.
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    (tmp_path / "hosts" / "beta" / "web.yaml").write_text(service_yaml("web", 20612))
    no_gpu = "    matchExpressions: [{key: gpu, operator: DoesNotExist}]\n"
    (tmp_path / "cpu.yaml").write_text(placed("cpu-exporter", 20613, no_gpu))
    not_core = "    matchExpressions: [{key: role, operator: NotIn, values: [core]}]\n"
    (tmp_path / "edge.yaml").write_text(placed("edge-proxy", 20613, not_core))
    alpha = load(tmp_path, host=Host("alpha", {"gpu": "a100", "role": "core"}))
    assert ([r.name for r in alpha.resources], alpha.undecided) == ([], ())
    beta = load(tmp_path, host=Host("beta", labels_known=False))
    assert [r.name for r in beta.resources] == ["web"]
    assert beta.undecided == ("BusinessService/cpu-exporter", "BusinessService/edge-proxy")


@pytest.mark.parametrize(
    ("placement", "decided"),
    [
        ({"matchLabels": {"hostname": "beta"}}, True),
        ({"matchLabels": {"hostname": "alpha", "gpu": "true"}}, False),
        ({"matchLabels": {"hostname": "beta", "gpu": "true"}}, None),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, None),
        ({"matchExpressions": [{"key": "hostname", "operator": "NotIn", "values": ["beta"]}]}, False),
    ],
)
def test_a_placement_on_a_label_not_known_is_undecided(placement: dict[str, object], decided: object) -> None:
    host = Host("beta", labels_known=False)
    assert Placement.model_validate(placement).decides(host.all_labels(), host.known()) is decided


def test_a_host_folder_replaces_a_shared_document_whole_and_adds_its_own(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20604, metrics="shared 1"))
    beta = tmp_path / "hosts" / "beta"
    beta.mkdir(parents=True)
    (beta / "web.yaml").write_text(service_yaml("web", 20605, metrics="beta 1"))
    (beta / "extra.yaml").write_text(service_yaml("extra", 20606))

    def env(host: str) -> dict[str, tuple[str, ...]]:
        state = load(tmp_path, host=Host(host))
        return {r.name: (r.resource.spec.env["METRICS"], r.file) for r in state.resources}

    assert env("alpha") == {"web": ("shared 1", f"{tmp_path}/web.yaml")}
    assert env("beta") == {
        "extra": ("1" and "app_up 1", f"{tmp_path}/hosts/beta/extra.yaml"),
        "web": ("beta 1", f"{tmp_path}/hosts/beta/web.yaml"),
    }


def test_a_commit_that_breaks_only_one_host_is_refused_on_every_host_naming_it(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20607))
    beta = tmp_path / "hosts" / "beta"
    beta.mkdir(parents=True)
    # Valid alone, but beta would run two containers publishing one host port.
    (beta / "clash.yaml").write_text(service_yaml("clash", 20607))
    said = {}
    for host in ("alpha", "beta"):
        with pytest.raises(InvalidDesiredState) as raised:
            load(tmp_path, host=Host(host))
        said[host] = [p.message for p in raised.value.problems]
        assert {p.file for p in raised.value.problems} == {f"{tmp_path}/hosts/beta/clash.yaml"}
        assert any("host port 20607/tcp is also published by BusinessService/web" in m for m in said[host])
    # Another host names the host whose selection is broken; beta's own daemon needs not.
    assert said["alpha"] == [f"on host beta: {m}" for m in said["beta"]]


def test_a_problem_every_host_has_is_said_once_without_a_host(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(service_yaml("web", 20608))
    (tmp_path / "b.yaml").write_text(service_yaml("web", 20609))
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    (tmp_path / "hosts" / "beta" / "x.yaml").write_text(service_yaml("x", 20610))
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    (problem,) = raised.value.problems
    assert "is also used by" in problem.message and "on host" not in problem.message


def test_a_file_directly_in_hosts_belongs_to_no_host(tmp_path: Path) -> None:
    (tmp_path / "hosts").mkdir()
    (tmp_path / "hosts" / "web.yaml").write_text(service_yaml("web", 20611))
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    assert [p.message for p in raised.value.problems] == [
        "in hosts/ itself, a file belongs to no host; put it in hosts/<hostname>/"
    ]


def test_a_host_folder_is_named_as_a_host_is(tmp_path: Path) -> None:
    (tmp_path / "hosts" / "bad name").mkdir(parents=True)
    (tmp_path / "hosts" / "bad name" / "web.yaml").write_text(service_yaml("web", 20614))
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    ((file, message),) = [(p.file, p.message) for p in raised.value.problems]
    assert file == f"{tmp_path}/hosts/bad name/web.yaml"
    assert message.startswith("hosts/bad name/: 'bad name' is not a host name: letters, digits")


def test_host_folders_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    for name, port in (("alpha", 20615), ("Alpha", 20616)):
        (tmp_path / "hosts" / name).mkdir(parents=True)
        (tmp_path / "hosts" / name / "web.yaml").write_text(service_yaml("web", port))
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    assert [p.message for p in raised.value.problems] == [
        "hosts/Alpha/, hosts/alpha/: host names that differ only in case name one host; keep one folder"
    ]


def test_a_host_folder_document_its_placement_leaves_out_is_a_located_warning(tmp_path: Path) -> None:
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    elsewhere = placed("web", 20617, "    matchLabels: {hostname: gamma}\n")
    (tmp_path / "hosts" / "beta" / "web.yaml").write_text(elsewhere)
    state = load(tmp_path, host=Host("alpha"))
    (warning,) = state.warnings
    assert (warning.file, warning.resource, warning.field) == (
        f"{tmp_path}/hosts/beta/web.yaml",
        "BusinessService/web",
        "spec.placement",
    )
    assert warning.line is not None and warning.line > 1
    assert warning.message == "never runs: it is in hosts/beta/, and its placement leaves host beta out"


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ("    matchExpressions: [{key: gpu, operator: In}]\n", "operator In needs at least one of values"),
        (
            "    matchExpressions: [{key: gpu, operator: Exists, values: [a]}]\n",
            "operator Exists takes no values",
        ),
        (
            "    matchExpressions: [{key: gpu, operator: Maybe}]\n",
            "should be one of In, NotIn, Exists, DoesNotExist; got 'Maybe'",
        ),
        ("    matchLabel: {gpu: a}\n", "unknown field 'matchLabel' (did you mean 'matchLabels'?)"),
    ],
)
def test_a_wrong_placement_is_a_located_error(tmp_path: Path, placement: str, message: str) -> None:
    (tmp_path / "web.yaml").write_text(placed("web", 20612, placement))
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    (problem,) = raised.value.problems
    assert problem.line == 13 and problem.resource == "BusinessService/web", problem
    assert message in problem.message, problem
    assert (problem.field or "").startswith("spec.placement"), problem


def test_a_kubernetes_node_selector_is_pointed_at_placement(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20613) + "  nodeSelector: {gpu: 'true'}\n")
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"))
    assert [p.message for p in raised.value.problems] == [
        "unknown field 'nodeSelector': write placement: {matchLabels: {...}}, matched against the host's labels"
    ]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) is needed")
def test_promtool_checks_the_rule_groups_only_another_host_has(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20614))
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    group = "apiVersion: monop.dev/v1alpha1\nkind: AlertRuleGroup\nmetadata: {name: g}\nspec:\n  rules:\n"
    (tmp_path / "hosts" / "beta" / "g.yaml").write_text(group + "    - {alert: A, expr: 'sum(up'}\n")
    load(tmp_path, host=Host("alpha"))  # without check_rules, as before: promtool is not asked
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"), check_rules=True)
    (problem,) = raised.value.problems
    assert (problem.file, problem.line, problem.field) == (
        f"{tmp_path}/hosts/beta/g.yaml",
        6,
        "spec.rules[0].expr",
    )
    assert problem.message.startswith("promtool: ")


BROKEN_TEMPLATE_ROUTING = """\
apiVersion: monop.dev/v1alpha1
kind: AlertRouting
metadata: {name: alertmanager}
spec: {receiver: ops, templates: [ops.tmpl]}
---
apiVersion: monop.dev/v1alpha1
kind: AlertReceiver
metadata: {name: ops}
spec:
  webhookConfigs: [{url: "http://127.0.0.1:5001/x"}]
"""
BROKEN_QUERY_DASHBOARD = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDatasource
metadata: {name: prometheus}
spec: {url: "http://prometheus:9090", isDefault: true}
---
apiVersion: monop.dev/v1alpha1
kind: GrafanaDashboard
metadata: {name: d}
spec:
  title: T
  panels:
    - title: Rate
      targets: [{expr: "sum(rate(x[5m])"}]
"""


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (Debian's prometheus-alertmanager) not installed"
)
def test_amtool_checks_the_alertmanager_config_only_another_host_has(tmp_path: Path) -> None:
    beta = tmp_path / "hosts" / "beta"
    beta.mkdir(parents=True)
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20618))
    (beta / "alerting.yaml").write_text(BROKEN_TEMPLATE_ROUTING)
    (beta / "ops.tmpl").write_text('{{ define "ops.title" }}{{ if }}{{ end }}\n')
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"), check_rules=True)
    (problem,) = raised.value.problems
    assert problem.file == f"{beta}/alerting.yaml"
    assert problem.message.startswith("on host beta: amtool: template: ops.tmpl:1:")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_promtool_checks_the_dashboard_queries_only_another_host_has(tmp_path: Path) -> None:
    beta = tmp_path / "hosts" / "beta"
    beta.mkdir(parents=True)
    (tmp_path / "web.yaml").write_text(service_yaml("web", 20619))
    (beta / "dashboard.yaml").write_text(BROKEN_QUERY_DASHBOARD)
    with pytest.raises(InvalidDesiredState) as raised:
        load(tmp_path, host=Host("alpha"), check_rules=True)
    (problem,) = raised.value.problems
    assert (problem.file, problem.field) == (f"{beta}/dashboard.yaml", "spec.panels[0].targets[0].expr")
    assert problem.message.startswith("on host beta: PromQL does not parse:")


def test_a_scrape_label_host_in_a_fleets_tree_is_a_located_warning(tmp_path: Path) -> None:
    (tmp_path / "hosts" / "beta").mkdir(parents=True)
    (tmp_path / "hosts" / "beta" / "web.yaml").write_text(service_yaml("web", 20620))
    (tmp_path / "app.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: BusinessService\nmetadata: {name: app}\nspec:\n"
        "  image: localhost/x:1\n  ports: ['127.0.0.1:20621:20621']\n"
        "  scrape:\n    port: 20621\n    labels: {host: db-1}\n"
    )
    (warning,) = load(tmp_path, host=Host("alpha")).warnings
    assert (warning.file, warning.line, warning.field) == (
        f"{tmp_path}/app.yaml",
        9,
        "spec.scrape.labels.host",
    )
    assert "'db-1' is replaced by it; use another label name" in warning.message
