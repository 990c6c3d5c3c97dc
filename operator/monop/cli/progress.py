"""A spinner on stderr while a long command works (pulls, recreates), only when stderr is a terminal.

Nothing is drawn when stderr is piped or a file: logs and CI output get no escape codes.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Progress:
    """`with Progress("applying") as p: ... p.advance("create Exporter/x")` counts what is done."""

    def __init__(self, doing: str) -> None:
        self.doing = doing
        self.done = 0
        self._started = time.monotonic()
        self._live: Any = None
        self._spinner: Any = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live
            from rich.spinner import Spinner

            self._spinner = Spinner("dots", text=f"{self.doing}…")
            self._live = Live(
                self._spinner,
                console=Console(stderr=True),
                refresh_per_second=8,
                transient=True,
                # Lines for stdout go above the spinner when both are this terminal; to stdout otherwise.
                redirect_stdout=sys.stdout.isatty(),
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def advance(self, what: str) -> None:
        self.done += 1
        if self._spinner is not None:
            seconds = time.monotonic() - self._started
            self._spinner.update(text=f"{self.doing}: {self.done} done in {seconds:.0f}s, last: {what}")

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
