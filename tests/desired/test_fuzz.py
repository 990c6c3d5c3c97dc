"""Whatever bytes are in a desired file, the loader answers with problems, never a traceback;
and whatever it accepts, everything downstream (container, create request, Prometheus files) takes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from downstream import render_everything
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monop.desired.loader import load
from monop.errors import InvalidDesiredState

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
field_names = st.sampled_from(
    [
        "image",
        "ports",
        "env",
        "volumes",
        "devices",
        "network",
        "scrape",
        "command",
        "args",
        "limits",
        "healthcheck",
        "capabilities",
        "port",
        "probe",
        "user",
        "restartPolicy",
        "labels",
        "bogus",
    ]
)
# Documents that look like resources, so the generated values reach the models' validators.
resources = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["monop.dev/v1alpha1", "v1", 3]),
        "kind": st.sampled_from(["Exporter", "CAdvisor", "BusinessService", "Nope"]),
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "Bad Name", ""]) | values}),
        "spec": st.dictionaries(field_names, values, max_size=6),
    }
)


def check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.yaml").write_bytes(data)
        try:
            state = load(tmp, exists_on_host=lambda _: True)
        except InvalidDesiredState as err:
            assert err.problems, "an invalid state names at least one problem"
            assert all(p.file.endswith("r.yaml") and p.message for p in err.problems)
        else:
            assert state.resources or state.rule_groups
            render_everything(state)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("ab:- \n[]{}&*!|>'\"#%@`,?0123456789\t"), max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    check(text.encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(resources, min_size=1, max_size=3))
def test_resource_shaped_documents(docs: list[object]) -> None:
    check(yaml.safe_dump_all(docs, allow_unicode=True).encode())


# Unquoted scalars YAML 1.1 reads as other types, and numbers that are not numbers.
plain = st.sampled_from(
    [
        "0022",
        "1:30",
        "1.10",
        "yes",
        "off",
        "~",
        ".inf",
        "-.inf",
        ".nan",
        "9" * 30,
        "1e400",
        "0x1F",
        "2001-12-14",
    ]
)
leaf_fields = st.sampled_from(
    [
        "  env: {{A: {v}}}",
        "  args: [{v}]",
        "  user: {v}",
        "  labels: {{a: {v}}}",
        "  ports: [{v}]",
        "  ports: [{{containerPort: {v}}}]",
        "  limits: {{cpus: {v}, memory: {v}}}",
        "  healthcheck: {{test: [{v}], interval: {v}, retries: {v}}}",
        "  scrape: {{port: {v}, interval: {v}, timeout: {v}}}",
        "  privileged: {v}",
        "  restartPolicy: {v}",
        "  extraHosts: [{v}]",
        "  port: {v}",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Exporter", "CAdvisor", "BusinessService"]),
    st.lists(st.tuples(leaf_fields, plain), max_size=4, unique_by=lambda t: t[0].split(":")[0]),
)
def test_unquoted_scalars_in_any_field(kind: str, fields: list[tuple[str, str]]) -> None:
    lines = [f"apiVersion: monop.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: a}}\nspec:\n  image: x:1"]
    lines += [
        template.format(v=value)
        for template, value in fields
        if kind == "CAdvisor" or "port:" not in template[:8]
    ]
    check(("\n".join(lines) + "\n").encode())
