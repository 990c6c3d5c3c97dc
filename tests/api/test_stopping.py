"""stopSignal and stopTimeout as users write them, and the errors they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from monop.desired.loader import load
from monop.errors import InvalidDesiredState
from monop.runtime.container import ContainerConfig, PortMapping
from monop.runtime.expand import expand, spec_hash

SPEC = """\
apiVersion: monop.dev/v1alpha1
kind: Exporter
metadata: {{name: e}}
spec:
  image: localhost/x:1
  scrape: {{enabled: false}}
{extra}
"""


def config_of(tmp_path: Path, extra: str) -> ContainerConfig:
    (tmp_path / "e.yaml").write_text(SPEC.format(extra=extra))
    [loaded] = load(tmp_path, exists_on_host=lambda _: True).resources
    return expand(loaded.resource, tmp_path)


@pytest.mark.parametrize(
    ("written", "number"),
    [("SIGTERM", 15), ("TERM", 15), ("sigint", 2), ("SIGKILL", 9), ("15", 15), ("'3'", 3), ("SIGRTMIN", 34)],
)
def test_stop_signal_by_name_or_number(tmp_path: Path, written: str, number: int) -> None:
    assert config_of(tmp_path, f"  stopSignal: {written}").stop_signal == number


def test_the_three_fields_reach_the_runtime_config(tmp_path: Path) -> None:
    config = config_of(tmp_path, "  stopTimeout: 1m\n  stopSignal: SIGINT\n  init: true")
    assert (config.stop_timeout_s, config.stop_signal, config.init) == (60, 2, True)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  stopSignal: SIGFOO", "'SIGFOO' is not a signal name (examples: SIGTERM, SIGINT, SIGKILL, 15)"),
        ("  stopSignal: 99", "signal number 99 is not in 1..64"),
        ("  stopSignal: true", "stopSignal is a signal name or number"),
        ("  stopTimeout: 1500ms", "stopTimeout 1s500ms is not whole seconds"),
        ("  stopTimeout: 2d", "stopTimeout 48h is longer than 24h"),
        ("  stopTimeout: fast", "'fast' is not a duration"),
    ],
)
def test_a_bad_value_is_refused_at_its_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(InvalidDesiredState) as caught:
        config_of(tmp_path, extra)
    [problem] = caught.value.problems
    assert problem.line == 7 and message in str(problem)
    assert "int" not in str(problem).replace("SIGINT", "")


def test_unset_fields_leave_the_hash_of_existing_containers_alone() -> None:
    # The hash of this config before the fields existed: upgrading monop must not recreate it.
    config = ContainerConfig("a", "localhost/x:1", env=(("A", "1"),), ports=(PortMapping(80, 8080),))
    assert spec_hash(config, ["d1"]) == "85716fd264d6ece7"
