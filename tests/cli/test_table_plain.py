"""`status` without colour lays its table out itself: the same text rich makes, row for row.

rich took most of `monop status`'s time with 1,000 resources; the coloured table still uses it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monop.cli import output

HEADER = ("KIND", "NAME", "STATE", "REASON")
CASES = [
    [],
    [("Exporter", "node", "InSync", "")],
    [("BusinessService", "svc-1", "Drifted", "env.PORT: 1 -> 2"), ("A", "", "", "x")],
    [("K", "café", "InSync", "日本語 wide"), ("K2", "n", "Missing", "no container")],
    [("K", "trailing  ", "  lead", ""), ("KIND-LONGER-THAN-HEADER", "a", "b", "c  ")],
]


def rich_table(rows: Sequence[Sequence[str]], headers: bool) -> str:
    """The table as rich lays it out (what `output.table` did for every table before)."""
    grid = Table(box=None, show_header=headers, pad_edge=False, padding=(0, 1))
    for name in HEADER:
        grid.add_column(name, no_wrap=True, overflow="ignore")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))
    width = sum(max([len(h), *(len(r[i]) for r in rows)]) + 2 for i, h in enumerate(HEADER))
    out = io.StringIO()
    Console(file=out, width=width + 10, color_system=None, no_color=True, highlight=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


@pytest.mark.parametrize("rows", CASES)
@pytest.mark.parametrize("headers", [True, False])
def test_the_plain_table_is_the_one_rich_makes(rows: list[tuple[str, ...]], headers: bool) -> None:
    assert output.table(HEADER, rows, colour=False, headers=headers) == rich_table(rows, headers)
