"""GrafanaDashboards and GrafanaDatasources: refused at their lines, built with Grafana's model, rendered.

Grafana itself cannot be installed here (no registry this machine reaches has it), so what
monop writes is checked against what stands for it: grafana-foundation-sdk's dashboard model
(Grafana Labs' code generated from the dashboard schema) and Grafana's file-provisioning format
as its documentation gives it (administration/provisioning). PromQL is parsed by the real
promtool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as sdk

from monop.api.grafana import GrafanaDashboardResource
from monop.desired.grafana import panel_queries, substitute
from monop.desired.grafana_files import render
from monop.desired.grafana_model import layout
from monop.desired.loader import load
from monop.errors import InvalidDesiredState, Problem, Severity

DESIRED = Path(__file__).resolve().parents[2] / "desired"

# The seed's example, exactly as it stands there (section "Grafana Dashboard Provisioning").
SEED_EXAMPLE = """\
{
  "dashboard": {
    "title": "System Overview",
    "uid": "system-overview",
    "version": 1,
    "panels": [
      {
        "title": "CPU Usage",
        "type": "stat",
        "targets": [
          { "expr": "100 - (avg by(instance) (irate(node_cpu_seconds_total{mode='idle'}[5m])) * 100)" }
        ]
      },
      {
        "title": "Memory Usage",
        "type": "stat",
        "targets": [
          { "expr": "(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) / node_memory_MemTotal_bytes * 100" }
        ]
      },
      {
        "title": "Disk Usage",
        "type": "bargauge",
        "targets": [
          { "expr": "(node_filesystem_size_bytes - node_filesystem_free_bytes) / node_filesystem_size_bytes * 100" }
        ]
      }
    ]
  }
}
"""

DATASOURCE = """\
apiVersion: monop.dev/v1alpha1
kind: GrafanaDatasource
metadata: {name: prometheus}
spec: {url: "http://prometheus:9090", isDefault: true}
"""


def dashboard(name: str, spec: str) -> str:
    return f"---\napiVersion: monop.dev/v1alpha1\nkind: GrafanaDashboard\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def problems_of(path: Path, *, check_rules: bool = False) -> list[Problem]:
    with pytest.raises(InvalidDesiredState) as caught:
        load(path, check_rules=check_rules, exists_on_host=lambda _: True)
    return [p for p in caught.value.problems if p.severity is Severity.ERROR]


def tree(tmp_path: Path, text: str, files: dict[str, str] | None = None, datasource: bool = True) -> Path:
    (tmp_path / "grafana.yaml").write_text((DATASOURCE if datasource else "") + text)
    for name, content in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    return tmp_path


# --- the seed ------------------------------------------------------------------------------------


def test_the_seed_example_as_a_json_file_is_refused_with_its_envelope_named(tmp_path: Path) -> None:
    root = tree(
        tmp_path, dashboard("system-overview", "  jsonFile: seed.json\n"), {"seed.json": SEED_EXAMPLE}
    )
    [problem] = problems_of(root)
    assert (problem.file, problem.line, problem.field) == (f"{root}/seed.json", 2, "dashboard")
    assert problem.resource == "GrafanaDashboard/system-overview"
    assert '{"dashboard": ...}' in problem.message and "HTTP API" in problem.message
    assert '"title cannot be empty"' in problem.message
    assert 'take what is inside "dashboard" out to the top level' in problem.message


def test_the_seed_example_inline_is_refused_at_its_line(tmp_path: Path) -> None:
    inline = "  json: |\n" + "".join(f"    {line}\n" for line in SEED_EXAMPLE.splitlines())
    root = tree(tmp_path, dashboard("system-overview", inline))
    [problem] = problems_of(root)
    text = (root / "grafana.yaml").read_text().splitlines()
    assert '"dashboard": {' in text[problem.line - 1]
    assert "envelope" in problem.message

    as_mapping = "  json:\n" + "".join(
        f"    {line}\n" for line in yaml.safe_dump(json.loads(SEED_EXAMPLE)).splitlines()
    )
    root = tree(tmp_path, dashboard("system-overview", as_mapping))
    [problem] = problems_of(root)
    assert problem.field == "spec.json.dashboard"
    assert (root / "grafana.yaml").read_text().splitlines()[problem.line - 1].strip() == "dashboard:"


def test_the_corrected_seed_dashboards_and_monops_validate_and_render() -> None:
    state = load(DESIRED, check_rules=True, exists_on_host=lambda _: True)
    assert not [p for p in state.warnings if p.resource and p.resource.startswith("Grafana")]
    titles = {d.title for d in state.dashboards}
    assert titles == {"System Overview", "GPU Performance", "Media Pipeline", "Mobile Status", "monop"}
    files = render(state.dashboards, state.grafana)
    boards = {path: json.loads(text) for path, text in files.items() if path.endswith(".json")}
    assert sorted(boards) == [
        "dashboards/monop/Seed/gpu-performance.json",
        "dashboards/monop/Seed/media-pipeline.json",
        "dashboards/monop/Seed/mobile-status.json",
        "dashboards/monop/Seed/system-overview.json",
        "dashboards/monop/monop.json",
    ]
    for board in boards.values():
        assert "dashboard" not in board and board["title"].strip()  # the file is the dashboard itself
        assert all(p["datasource"] == {"type": "prometheus", "uid": "prometheus"} for p in board["panels"])


def sdk_json(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=JSONEncoder))


def test_a_dashboard_written_shortly_is_exactly_the_sdk_models_json() -> None:
    """Read back into Grafana's model and written out again, each file is unchanged: every key
    is one the schema has, every value of the type it says."""
    state = load(DESIRED, exists_on_host=lambda _: True)
    short = [d for d in state.dashboards if d.uid != "system-overview"]
    assert len(short) == 4
    for board in short:
        written = json.loads(board.to_json())
        assert sdk_json(sdk.Dashboard.from_json(written)) == written
        assert written["schemaVersion"] == sdk.Dashboard().schema_version


def test_a_dashboard_given_as_json_is_written_as_given_and_reads_into_the_model() -> None:
    state = load(DESIRED, exists_on_host=lambda _: True)
    [board] = [d for d in state.dashboards if d.uid == "system-overview"]
    given = json.loads((DESIRED / "dashboards" / "system-overview.json").read_text())
    written = json.loads(board.to_json())
    assert written == given
    model = sdk.Dashboard.from_json(written)
    assert model.title == "System Overview" and model.uid == "system-overview"
    assert [p.title for p in model.panels or []] == ["CPU Usage", "Memory Usage", "Disk Usage"]


# --- Grafana's provisioning format ----------------------------------------------------------------

# The keys Grafana's provisioning reads (docs: administration/provisioning), with their types.
PROVIDER_KEYS = {
    "name": str,
    "orgId": int,
    "folder": str,
    "folderUid": str,
    "type": str,
    "disableDeletion": bool,
    "updateIntervalSeconds": int,
    "allowUiUpdates": bool,
    "options": dict,
}
DATASOURCE_KEYS = {
    "name": str,
    "type": str,
    "access": str,
    "orgId": int,
    "uid": str,
    "url": str,
    "user": str,
    "database": str,
    "basicAuth": bool,
    "basicAuthUser": str,
    "withCredentials": bool,
    "isDefault": bool,
    "jsonData": dict,
    "secureJsonData": dict,
    "version": int,
    "editable": bool,
}


def test_the_provider_and_datasource_files_are_in_grafanas_provisioning_format() -> None:
    state = load(DESIRED, exists_on_host=lambda _: True)
    files = render(state.dashboards, state.grafana)
    provider = yaml.safe_load(files["dashboards/monop.yaml"])
    assert provider["apiVersion"] == 1 and set(provider) == {"apiVersion", "providers"}
    [entry] = provider["providers"]
    assert all(isinstance(entry[k], PROVIDER_KEYS[k]) for k in entry)
    assert entry["type"] == "file"
    # Grafana reads the dashboards below the path it is given, as mounted in its container.
    assert entry["options"] == {
        "path": "/etc/grafana/provisioning/dashboards/monop",
        "foldersFromFilesStructure": True,
    }
    assert "folder" not in entry  # Grafana refuses folder together with foldersFromFilesStructure

    sources = yaml.safe_load(files["datasources/monop.yaml"])
    assert sources["apiVersion"] == 1 and sources["prune"] is True
    [source] = sources["datasources"]
    assert all(isinstance(source[k], DATASOURCE_KEYS[k]) for k in source)
    assert source == {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": "prometheus",
        "access": "proxy",
        "orgId": 1,
        "url": "http://host.containers.internal:9090",
        "isDefault": True,
        "editable": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
    }


def test_rendering_is_deterministic() -> None:
    first = load(DESIRED, exists_on_host=lambda _: True)
    second = load(DESIRED, exists_on_host=lambda _: True)
    assert render(first.dashboards, first.grafana) == render(second.dashboards, second.grafana)


# --- refusals, each at its line -------------------------------------------------------------------

PANEL = "    - title: {title}\n      targets: [{{expr: up}}]\n"


def test_empty_and_missing_titles_are_refused(tmp_path: Path) -> None:
    text = dashboard("a", '  title: " "\n  panels:\n' + PANEL.format(title="x"))
    text += dashboard("b", "  jsonFile: b.json\n")
    root = tree(tmp_path, text, {"b.json": json.dumps({"uid": "b", "panels": []})})
    found = {(p.resource, p.field): p for p in problems_of(root)}
    assert found["GrafanaDashboard/a", "spec.title"].line == 10
    assert "title is empty" in found["GrafanaDashboard/a", "spec.title"].message
    missing = found["GrafanaDashboard/b", None]
    assert missing.file == f"{root}/b.json" and "title is missing" in missing.message
    assert '"title cannot be empty"' in missing.message


def test_two_dashboards_with_one_uid_are_refused(tmp_path: Path) -> None:
    text = dashboard("first", "  title: A\n  uid: shared\n  panels:\n" + PANEL.format(title="x"))
    text += dashboard("second", "  jsonFile: d.json\n")
    root = tree(tmp_path, text, {"d.json": '{\n  "title": "B",\n  "uid": "shared",\n  "panels": []\n}\n'})
    [problem] = problems_of(root)
    assert (problem.file, problem.line, problem.field) == (f"{root}/d.json", 3, "uid")
    assert f"also the uid of GrafanaDashboard/first at {root}/grafana.yaml:11" in problem.message


@pytest.mark.parametrize(
    ("where", "uid", "said"),
    [
        ("spec", "a" * 41, "41 characters; Grafana takes at most 40"),
        ("spec", "system.overview", "has '.'"),
        ("json", "sys overview", "has ' '"),
        ("name", None, "the uid defaults to the name"),
    ],
)
def test_uids_grafana_refuses_are_refused(tmp_path: Path, where: str, uid: str | None, said: str) -> None:
    name = "a-very-long-dashboard-name-that-grafana-will-refuse" if where == "name" else "d"
    if where == "json":
        text = dashboard(name, "  jsonFile: d.json\n")
        files = {"d.json": json.dumps({"title": "T", "uid": uid, "panels": []})}
    else:
        uid_line = f"  uid: {uid}\n" if uid else ""
        text, files = dashboard(name, f"  title: T\n{uid_line}  panels:\n" + PANEL.format(title="x")), {}
    [problem] = problems_of(tree(tmp_path, text, files))
    assert said in problem.message
    assert problem.field == {"spec": "spec.uid", "json": "uid", "name": "metadata.name"}[where]


def test_a_panel_without_a_query_is_refused(tmp_path: Path) -> None:
    text = dashboard("d", "  title: T\n  panels:\n    - title: Empty\n      type: stat\n")
    text += dashboard("e", "  jsonFile: e.json\n")
    files = {"e.json": json.dumps({"title": "E", "panels": [{"title": "Nothing", "type": "timeseries"}]})}
    found = {p.resource: p for p in problems_of(tree(tmp_path, text, files))}
    assert found["GrafanaDashboard/d"].field == "spec.panels[0].targets"
    assert found["GrafanaDashboard/d"].line == 12  # the panel's: it has no targets to point at
    assert "panel 'Empty' has no query" in found["GrafanaDashboard/d"].message
    assert found["GrafanaDashboard/e"].field == "panels[0]"


def test_unparsable_promql_is_refused_at_its_expr(tmp_path: Path) -> None:
    spec = (
        "  title: T\n  panels:\n    - title: Rate\n      targets:\n"
        "        - expr: sum(rate(x[$__rate_interval])\n"  # one parenthesis short
        '        - expr: up{job=~"$job"}\n'  # a dashboard variable: parses once substituted
    )
    root = tree(tmp_path, dashboard("d", spec))
    load(root, exists_on_host=lambda _: True)  # without check_rules promtool is not run
    [problem] = problems_of(root, check_rules=True)
    assert (problem.line, problem.field) == (14, "spec.panels[0].targets[0].expr")
    assert problem.message.startswith("PromQL does not parse:") and "parenthesis" in problem.message


def test_overlapping_grid_positions_are_refused(tmp_path: Path) -> None:
    spec = "  title: T\n  panels:\n" + "".join(
        f"    - title: {t}\n      gridPos: {{x: {x}, y: 0, w: 12, h: 8}}\n      targets: [{{expr: up}}]\n"
        for t, x in (("left", 0), ("right", 12), ("over", 6))
    )
    [problem] = problems_of(tree(tmp_path, dashboard("d", spec)))
    assert problem.field == "spec.panels[2].gridPos" and problem.line == 19
    assert "panel 'over' (x 6-17, y 0-7) overlaps panel 'left' at spec.panels[0]" in problem.message


def test_a_datasource_uid_nothing_provides_is_refused(tmp_path: Path) -> None:
    spec = "  title: T\n  datasource: thanos\n  panels:\n" + PANEL.format(title="x")
    [problem] = problems_of(tree(tmp_path, dashboard("d", spec)))
    assert problem.field == "spec.datasource" and problem.line == 11
    assert "'thanos' is provided by no GrafanaDatasource (uids: prometheus)" in problem.message

    files = {
        "d.json": json.dumps(
            {
                "title": "T",
                "panels": [
                    {
                        "type": "stat",
                        "targets": [{"expr": "up", "datasource": {"type": "prometheus", "uid": "gone"}}],
                    }
                ],
            },
            indent=1,
        )
    }
    [problem] = problems_of(tree(tmp_path, dashboard("d", "  jsonFile: d.json\n"), files))
    assert problem.field == "panels[0].targets[0].datasource"

    # An old dashboard's string is a name or a uid, as Grafana looks it up.
    old = {
        "title": "T",
        "panels": [{"type": "stat", "datasource": "prometheus", "targets": [{"expr": "up"}]}],
    }
    load(tree(tmp_path, dashboard("d", "  jsonFile: d.json\n"), {"d.json": json.dumps(old)}))
    old["panels"][0]["datasource"] = "Thanos"
    [problem] = problems_of(
        tree(tmp_path, dashboard("d", "  jsonFile: d.json\n"), {"d.json": json.dumps(old)})
    )
    assert problem.field == "panels[0].datasource" and "'Thanos'" in problem.message

    # Exported "for sharing externally": an import input, which provisioning never fills.
    old["panels"][0]["datasource"] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    [problem] = problems_of(
        tree(tmp_path, dashboard("d", "  jsonFile: d.json\n"), {"d.json": json.dumps(old)})
    )
    assert "import (__inputs), which file provisioning never fills" in problem.message
    old["templating"] = {"list": [{"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"}]}
    load(tree(tmp_path, dashboard("d", "  jsonFile: d.json\n"), {"d.json": json.dumps(old)}))


def test_panels_written_shortly_need_a_datasource(tmp_path: Path) -> None:
    root = tree(
        tmp_path, dashboard("d", "  title: T\n  panels:\n" + PANEL.format(title="x")), datasource=False
    )
    [problem] = problems_of(root)
    assert "no GrafanaDatasource" in problem.message and problem.field == "spec"


def test_a_datasource_must_be_one_grafana_takes(tmp_path: Path) -> None:
    text = (
        DATASOURCE
        + "---\n"
        + DATASOURCE.replace("isDefault: true", "uid: prometheus, isDefault: true").replace(
            "{name: prometheus}", "{name: other}"
        )
    )
    text += "---\napiVersion: monop.dev/v1alpha1\nkind: GrafanaDatasource\nmetadata: {name: bad}\n"
    text += 'spec: {url: "http://user:pw@prometheus:9090"}\n'
    (tmp_path / "ds.yaml").write_text(text)
    found = {(p.resource, p.field): p.message for p in problems_of(tmp_path)}
    assert (
        f"taken by GrafanaDatasource/prometheus at {tmp_path}/ds.yaml:1"
        in found["GrafanaDatasource/other", "spec.uid"]
    )
    assert "default already" in found["GrafanaDatasource/other", "spec.isDefault"]
    assert "no datasource secrets" in found["GrafanaDatasource/bad", "spec.url"]


# --- pure parts -----------------------------------------------------------------------------------


def panels(*items: dict[str, Any]) -> GrafanaDashboardResource:
    spec = {
        "title": "T",
        "panels": [{"title": str(i), "targets": [{"expr": "up"}], **p} for i, p in enumerate(items)],
    }
    return GrafanaDashboardResource.model_validate(
        {
            "apiVersion": "monop.dev/v1alpha1",
            "kind": "GrafanaDashboard",
            "metadata": {"name": "d"},
            "spec": spec,
        }
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{}, {}, {}], [(0, 0, 12, 8), (12, 0, 12, 8), (0, 8, 12, 8)]),
        (
            [{"width": 6, "height": 4}] * 5,
            [(0, 0, 6, 4), (6, 0, 6, 4), (12, 0, 6, 4), (18, 0, 6, 4), (0, 4, 6, 4)],
        ),
        ([{"width": 24, "height": 3}, {}], [(0, 0, 24, 3), (0, 3, 12, 8)]),
        # A panel placed by hand keeps its place (also at 0, 0); the others go below it.
        ([{}, {"gridPos": {"x": 0, "y": 0, "w": 24, "h": 5}}], [(0, 5, 12, 8), (0, 0, 24, 5)]),
    ],
)
def test_automatic_layout(items: list[dict[str, Any]], expected: list[tuple[int, int, int, int]]) -> None:
    assert layout(panels(*items).spec.panels) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(x[$__rate_interval])", "rate(x[240s])"),
        ("rate(x[${__interval}])", "rate(x[60s])"),
        ("increase(x[$__range])", "increase(x[21600s])"),
        ('up{job=~"$job"}', 'up{job=~".*"}'),
        ("up{job=~'[[job]]'}", "up{job=~'.*'}"),
        ("rate(x[$window])", "rate(x[5m])"),
        ("sum by ($label) (x)", "sum by (monop_variable) (x)"),
        ('x{a="$"}', 'x{a="$"}'),
        ('x{a="\\"$v"}', 'x{a="\\".*"}'),
    ],
)
def test_grafana_variables_are_substituted(expr: str, expected: str) -> None:
    assert substitute(expr) == expected


def test_panel_queries_list_every_query_with_where_it_is() -> None:
    state = load(DESIRED, exists_on_host=lambda _: True)
    queries = panel_queries(state.dashboards)
    assert len(queries) == sum(len(p.queries) for d in state.dashboards for p in d.panels) == 26
    latency = [q for q in queries if q.panel_title == "Repair latency (Podman event to repaired)"]
    assert [(q.dashboard_uid, q.ref_id, q.legend) for q in latency] == [
        ("monop", "A", "p50"),
        ("monop", "B", "p90"),
        ("monop", "C", "p99"),
    ]
    assert latency[0].file == "desired/monop-dashboard.yaml" or latency[0].file.endswith(
        "monop-dashboard.yaml"
    )
    lines = (DESIRED / "monop-dashboard.yaml").read_text().splitlines()
    assert "monop_event_to_repair_seconds_bucket" in lines[latency[0].line - 1]
    [cpu] = [q for q in queries if q.panel_title == "CPU Usage"]
    assert cpu.file.endswith("dashboards/system-overview.json") and cpu.datasource_uid == "prometheus"
    assert (
        "node_cpu_seconds_total"
        in (DESIRED / "dashboards/system-overview.json").read_text().splitlines()[cpu.line - 1]
    )


# --- golden files ---------------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "grafana"


@pytest.mark.parametrize(
    "path", ["dashboards/monop.yaml", "datasources/monop.yaml", "dashboards/monop/monop.json"]
)
def test_the_rendered_files_match_the_golden_files(path: str) -> None:
    """What monop writes for desired/, reviewed as a diff: a new SDK release that changes the JSON
    shows here first. `MONOP_UPDATE_GOLDEN=1` rewrites them."""
    state = load(DESIRED, exists_on_host=lambda _: True)
    text = render(state.dashboards, state.grafana)[path]
    golden = GOLDEN / path.replace("/", "__")
    if os.environ.get("MONOP_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"{path} changed: review, then MONOP_UPDATE_GOLDEN=1"
