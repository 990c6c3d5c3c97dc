"""Loading the desired-state tree: every problem, located, in one run; nothing half-loaded."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState, Severity

EXPORTER = """\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata:
  name: {name}
spec:
  image: quay.io/prometheus/node-exporter:v1.8.2
  ports: ["{port}:9100"]
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidDesiredState) as err:
        load(path, exists_on_host=lambda _: True)
    return [str(p) for p in err.value.problems if p.severity is Severity.ERROR]


def test_the_repositorys_desired_state_is_valid(repo: Path) -> None:
    state = load(repo / "desired", exists_on_host=lambda _: True)
    assert [r.key for r in state.resources] == [
        "BusinessService/alertmanager",
        "BusinessService/business-dashboard",
        "BusinessService/business-metrics",
        "BusinessService/prometheus",
        "CAdvisor/cadvisor",
        "Exporter/node-exporter",
        "Exporter/nvidia-gpu-exporter",
    ]
    assert state.warnings == ()


def test_the_seeds_original_port_clash_is_caught(repo: Path, tmp_path: Path) -> None:
    # The seed published 8501 from both business-metrics and business-dashboard.
    shutil.copytree(repo / "desired", tmp_path / "desired")
    business = tmp_path / "desired" / "business.yaml"
    business.write_text(business.read_text().replace('"8502:8501"', '"8501:8501"'))
    assert problems_of(tmp_path / "desired") == [
        f"{tmp_path}/desired/business.yaml:34: BusinessService/business-dashboard: spec.ports[0]: "
        f"host port 8501/tcp is also published by BusinessService/business-metrics at "
        f"{tmp_path}/desired/business.yaml:18"
    ]


def test_every_problem_is_reported_in_one_run_through_the_cli(repo: Path, tmp_path: Path) -> None:
    tree = tmp_path / "desired"
    shutil.copytree(repo / "desired", tree)
    business = tree / "business.yaml"
    business.write_text(business.read_text().replace('"8502:8501"', '"8501:8501"'))
    (tree / "bad-port.yaml").write_text(EXPORTER.format(name="bad-port", port=99999))
    (tree / "unknown-field.yaml").write_text(
        EXPORTER.format(name="typo", port=9101) + "  imagePullPolicy: Always\n"
    )
    (tree / "broken.yaml").write_text("apiVersion: monop.dev/v1alpha1\nkind: [Exporter\n")
    result = subprocess.run(
        [sys.executable, "-m", "monop", "validate", "desired"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    # Warnings depend on the host: the nvidia devices, and the seed's socket mount point.
    host_lacks = [not Path(f"/dev/{d}").exists() for d in ("nvidia0", "nvidiactl", "nvidia-modeset")]
    host_lacks += [not Path(f"/dev/{d}").exists() for d in ("nvidia-uvm", "nvidia-uvm-tools")]
    host_lacks += [not Path("/var/run/docker.sock").exists()]
    # Problems are diagnostics, on stderr; the verdict is the result, on stdout.
    assert result.stderr.count(": warning: ") == sum(host_lacks)
    assert result.stdout == f"desired: invalid: 4 error(s), {sum(host_lacks)} warning(s)\n"
    assert [line for line in result.stderr.splitlines() if ": warning: " not in line] == [
        "desired/bad-port.yaml:7: Exporter/bad-port: spec.ports[0]: host port 99999 is not in 1..65535",
        "desired/broken.yaml:3: invalid YAML: while parsing a flow sequence: did not find expected ',' or ']'",
        "desired/business.yaml:34: BusinessService/business-dashboard: spec.ports[0]: host port 8501/tcp "
        "is also published by BusinessService/business-metrics at desired/business.yaml:18",
        "desired/unknown-field.yaml:8: Exporter/typo: spec: unknown field 'imagePullPolicy': "
        "write pullPolicy: Always",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "f.yaml: no resources in this file (it is empty or only comments)"),
        ("# only a comment\n", "f.yaml: no resources in this file (it is empty or only comments)"),
        (
            "- a\n- b\n",
            "f.yaml:1: a resource is a mapping with apiVersion, kind, metadata and spec, not a list",
        ),
        ("kind: Exporter\n", "f.yaml:1: apiVersion: missing; use monop.dev/v1alpha1"),
        ("apiVersion: v1\nkind: Exporter\n", "f.yaml:1: apiVersion: 'v1' is not monop.dev/v1alpha1"),
        (
            "apiVersion: monop.dev/v1alpha1\nkind: Exportr\n",
            "f.yaml:2: kind: unknown kind 'Exportr' (did you mean 'Exporter'?); one of AlertReceiver, AlertRouting, AlertRuleGroup, BusinessService, CAdvisor, Exporter",
        ),
        (
            "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec: {}\n",
            "f.yaml:4: Exporter/x: spec.image: required field is missing",
        ),
        (
            "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: Bad_Name}\nspec: {image: a:1}\n",
            "f.yaml:3: Exporter/Bad_Name: metadata.name: name 'Bad_Name' must be lower-case letters, digits "
            "and '-', start and end with a letter or digit, at most 63 characters",
        ),
        (
            "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec:\n  image: a:1\n"
            "  privileged: maybe\n",
            "f.yaml:6: Exporter/x: spec.privileged: should be true or false; got a string",
        ),
        (
            "apiVersion: monop.dev/v1alpha1\nkind: Exporter\nmetadata: {name: x}\nspec:\n  image: a:1\n"
            "  image: b:2\n",
            "f.yaml:6: invalid YAML: duplicate key 'image'",
        ),
        ("a: &a [*a]\n", "f.yaml:1: invalid YAML: values nested more than 64 deep"),
    ],
)
def test_bad_documents_get_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "f.yaml").write_text(text)
    [problem] = problems_of(tmp_path / "f.yaml")
    assert problem.replace(str(tmp_path / "f.yaml"), "f.yaml").startswith(expected)


def test_binary_and_huge_files_are_refused_without_reading_them_as_yaml(tmp_path: Path) -> None:
    (tmp_path / "garbage.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp_path / "huge.yaml").write_bytes(b"# x\n" * 300_000)
    assert [p.replace(str(tmp_path) + "/", "") for p in problems_of(tmp_path)] == [
        "garbage.yaml: not a text file (it contains NUL bytes)",
        "huge.yaml: file is 1200000 bytes; a desired-state file may have at most 1048576",
        "latin1.yaml:1: not UTF-8 text (byte 0xe9)",
    ]


def test_several_documents_per_file_and_hidden_folders_skipped(tmp_path: Path) -> None:
    (tmp_path / "two.yml").write_text(
        EXPORTER.format(name="a", port=9101) + "---\n---\n" + EXPORTER.format(name="b", port=9102)
    )
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "junk.yaml").write_text("not: [valid")
    (tmp_path / "README.md").write_text("not yaml at all: [")
    state = load(tmp_path)
    assert [(r.key, r.line) for r in state.resources] == [("Exporter/a", 1), ("Exporter/b", 10)]


def test_duplicate_names_across_kinds_and_clashing_scrape_targets(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(EXPORTER.format(name="same", port=9101))
    (tmp_path / "b.yaml").write_text(
        EXPORTER.format(name="same", port=9102).replace("kind: Exporter", "kind: BusinessService")
        + "  scrape: {port: 9101}\n"
    )
    assert [p.replace(str(tmp_path) + "/", "") for p in problems_of(tmp_path)] == [
        "b.yaml:4: BusinessService/same: metadata.name: name 'same' is also used by Exporter/same at a.yaml:4",
        "b.yaml:8: BusinessService/same: spec.scrape: scrape target http://host.containers.internal:9101/metrics "
        "is also claimed by Exporter/same at a.yaml:5",
    ]


def test_host_network_port_mapping_that_would_be_discarded_is_an_error(tmp_path: Path) -> None:
    # The seed's cAdvisor mistake: --network=host with 8083:8080 serves on 8080, scraped on 8083.
    (tmp_path / "a.yaml").write_text(
        EXPORTER.format(name="cadv", port=8083).replace("9100", "8080") + "  network: host\n"
    )
    [problem] = problems_of(tmp_path)
    assert (
        "spec.ports[0]: network is host, where ports are not published: the container listens on 8080, not 8083"
        in problem
    )


def test_warnings_unpinned_images_and_missing_devices(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        EXPORTER.format(name="a", port=9101).replace(":v1.8.2", ":latest") + "  devices: [/dev/nvidia0]\n"
    )
    state = load(tmp_path, exists_on_host=lambda path: path != "/dev/nvidia0")
    assert [str(w).replace(str(tmp_path) + "/", "") for w in state.warnings] == [
        "a.yaml:6: warning: Exporter/a: spec.image: image 'quay.io/prometheus/node-exporter:latest' is not pinned "
        "to a version or digest; it changes under you",
        "a.yaml:8: warning: Exporter/a: spec.devices[0]: device /dev/nvidia0 does not exist on this host",
    ]


def test_mounted_files_from_the_tree_are_digested_and_not_read_as_resources(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "exporter.yml").write_text("a: 1\n")
    base = EXPORTER.format(name="a", port=9101)
    (tmp_path / "a.yaml").write_text(base + "  volumes: [./conf/exporter.yml:/etc/exporter.yml:ro]\n")
    first = load(tmp_path).resources[0].mounted
    (tmp_path / "conf" / "exporter.yml").write_text("a: 2\n")
    second = load(tmp_path).resources[0].mounted
    assert [m.path for m in first] == [tmp_path / "conf" / "exporter.yml"]
    assert first[0].sha256 != second[0].sha256

    (tmp_path / "a.yaml").write_text(
        base + "  volumes: [./conf/exporter.yml:/e.yml, ../outside:/x, ./nothere:/y]\n"
    )
    assert [p.split(": ", 1)[1] for p in problems_of(tmp_path)] == [
        "Exporter/a: spec.volumes[1]: hostPath '../outside' leaves the desired tree",
        f"Exporter/a: spec.volumes[2]: hostPath './nothere' does not exist (looked for {tmp_path}/nothere)",
    ]


def test_a_mount_point_inside_a_read_only_mount_must_exist_on_the_host(tmp_path: Path) -> None:
    """The seed's cAdvisor: the socket at /var/run/docker.sock inside /var/run mounted read-only."""
    (tmp_path / "c.yaml").write_text(
        "apiVersion: monop.dev/v1alpha1\nkind: CAdvisor\nmetadata: {name: cadvisor}\n"
        "spec: {image: 'gcr.io/cadvisor/cadvisor:v0.49.1', port: 8083}\n"
    )
    missing = load(tmp_path, exists_on_host=lambda path: path != "/var/run/docker.sock")
    [warning] = [str(w) for w in missing.warnings]
    assert warning.startswith(
        f"{tmp_path}/c.yaml:4: warning: CAdvisor/cadvisor: spec.volumes[3]: /var/run/docker.sock is inside "
        "the read-only mount of /var/run at /var/run, and /var/run/docker.sock does not exist on this host"
    )
    assert load(tmp_path, exists_on_host=lambda _: True).warnings == ()


def test_a_scrape_block_after_a_disabled_one_is_named_by_its_own_index(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        EXPORTER.format(name="a", port=9101).replace("kind: Exporter", "kind: BusinessService")
        + "  scrape:\n    - {port: 9101, enabled: false}\n    - {port: nonesuch}\n"
    )
    assert [p.replace(str(tmp_path) + "/", "") for p in problems_of(tmp_path)] == [
        "a.yaml:10: BusinessService/a: spec.scrape[1].port: no port of spec.ports is named 'nonesuch' (names: none)"
    ]
