"""Only regular files are read as desired state, and only so much of each: nothing can block the reader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monop.desired.loader import MAX_FILE_BYTES, NotRegular, load, read_regular
from monop.errors import InvalidDesiredState


def problems_of(tree: Path) -> list[str]:
    with pytest.raises(InvalidDesiredState) as err:
        load(tree)
    return [str(p).replace(f"{tree}/", "") for p in err.value.problems]


def test_a_fifo_a_device_and_a_dangling_link_are_refused_without_being_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # reading it would block until a writer came
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")  # reading it would never end
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere")
    assert problems_of(tmp_path) == [
        "gone.yaml: cannot read: No such file or directory",
        "pipe.yaml: is a FIFO, not a regular file (nor a symlink to one)",
        "zero.yaml: is a character device, not a regular file (nor a symlink to one)",
    ]


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_bytes(b"kind: x\n")
    (tmp_path / "link.yaml").symlink_to(target)
    assert read_regular(tmp_path / "link.yaml", MAX_FILE_BYTES) == b"kind: x\n"


def test_what_is_read_is_capped(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 101)
    with pytest.raises(NotRegular, match="file is 101 bytes; a desired-state file may have at most 100"):
        read_regular(big, 100)
    assert read_regular(big, 101) == b"#" * 101
