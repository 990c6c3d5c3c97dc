"""The nearest existing metric names offered for a dead one: shared tokens first, then spelling."""

from __future__ import annotations

import random

import pytest

from monop.prometheus.deadrules import nearest, similarity

# Names a node exporter and nvidia_gpu_exporter serve.
SERVED = [
    "nvidia_smi_temperature_gpu",
    "nvidia_smi_memory_used_bytes",
    "nvidia_smi_memory_total_bytes",
    "nvidia_smi_utilization_gpu_ratio",
    "node_memory_Buffers_bytes",
    "node_memory_MemTotal_bytes",
    "node_cpu_seconds_total",
    "node_filesystem_avail_bytes",
    "go_gc_duration_seconds",
]


@pytest.mark.parametrize(
    ("dead", "first"),
    [
        ("nvidia_gpu_temperature_celsius", "nvidia_smi_temperature_gpu"),  # the seed's
        ("nvidia_gpu_memory_used_bytes", "nvidia_smi_memory_used_bytes"),  # the seed's
        ("nvidia_gpu_memory_total_bytes", "nvidia_smi_memory_total_bytes"),  # the seed's
        ("gpu_memory_used_bytes", "nvidia_smi_memory_used_bytes"),  # edit distance: node_memory_Buffers_bytes
        ("node_cpu_second_total", "node_cpu_seconds_total"),
        ("node_filesystem_free_bytes", "node_filesystem_avail_bytes"),
    ],
)
def test_the_nearest_name_is_the_one_meant(dead: str, first: str) -> None:
    assert nearest(dead, SERVED)[0] == first


def test_nothing_alike_offers_nothing_and_the_name_itself_is_never_offered() -> None:
    assert nearest("haproxy_backend_up", SERVED) == ()
    assert "node_cpu_seconds_total" not in nearest("node_cpu_seconds_total", SERVED)
    assert len(nearest("nvidia_gpu_memory_used_bytes", SERVED)) <= 3


def test_similarity_is_symmetric_in_its_tokens_and_bounded() -> None:
    assert similarity("a_b_c", "a_b_c") == pytest.approx(1.0)
    assert 0.0 <= similarity("nvidia_gpu_temperature_celsius", "go_gc_duration_seconds") < 0.35
    assert similarity("node_temp_celsius", "node_temperature_celsius") > similarity(
        "node_temp_celsius", "node_load1"
    )


def test_the_indexed_ranking_is_the_ranking_of_every_name() -> None:
    # Only names sharing a token are ranked, spelling only while it can matter: the answer
    # must be the one scoring every candidate gives (names as a large Prometheus holds).
    rng = random.Random(7)
    parts = ["kube", "pod", "container", "http", "server", "node", "memory", "mem", "cpu", "temp"]
    ends = ["total", "seconds", "bytes", "ratio", "celsius", "temperature", "info"]
    names = {"_".join([*rng.sample(parts, rng.randint(1, 3)), rng.choice(ends)]) for _ in range(3000)} | set(
        SERVED
    )
    for dead in [*(rng.choice(sorted(names)) + "x" for _ in range(20)), "pod_mem_temp", "up", "zzz"]:
        brute = sorted(((similarity(dead, c), c) for c in names if c != dead), key=lambda sc: (-sc[0], sc[1]))
        wanted = tuple(c for score, c in brute[:3] if score >= 0.35)
        assert nearest(dead, names) == wanted, dead
