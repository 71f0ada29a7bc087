"""What the command shows: results on stdout, progress and messages on stderr.

- ``--json``: exactly one JSON document on stdout (the result, or ``{"error": …}``), nothing
  else there; progress still goes to stderr.
- Otherwise results are text or rich tables on stdout. Progress is a rich bar (bytes, rate,
  time left) when stderr is a terminal, and otherwise a plain line at every tenth of the way
  (``upload  30.0 MiB of 300.0 MiB (10%), 85.2 MiB/s, 3 s left``), so logs stay readable.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "as_json"):
        return value.as_json()
    return str(value)


def size_text(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


@dataclass
class Output:
    """Where and how the command writes (see the module docstring)."""

    json_mode: bool = False
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self.out = Console(file=self.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=self.stderr, highlight=False, soft_wrap=True)

    def result(self, data: Any, human: Callable[[Console], None]) -> None:
        """The command's result: ``data`` as JSON with ``--json``, else ``human``'s text."""
        if self.json_mode:
            self.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False))
            self.stdout.write("\n")
            self.stdout.flush()
        else:
            human(self.out)

    def message(self, text: str) -> None:
        """A note for the person at the terminal (stderr, never mixed into ``--json``)."""
        self.err.print(text, markup=False)

    def warning(self, text: str) -> None:
        self.err.print(f"warning: {text}", style="bold yellow", markup=False)

    def error(self, text: str, data: dict[str, Any] | None = None) -> None:
        self.err.print(f"ketenhub-client: error: {text}", style="bold red", markup=False)
        if self.json_mode and data is not None:
            self.result(data, lambda _: None)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str) -> None:
        table = Table(title=title, title_justify="left")
        for number, column in enumerate(columns):
            # The first column is an id to copy: never cut or wrapped, whatever the width.
            table.add_column(column, no_wrap=number == 0, min_width=36 if number == 0 else None)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.out.print(table)

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int, int | None], None]]:
        """A callback ``(done, total)`` that shows a transfer's progress on stderr."""
        if self.err.is_terminal:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.err,
                transient=False,
            ) as bar:
                task = bar.add_task(label, total=None)

                def update(done: int, total: int | None) -> None:
                    bar.update(task, completed=done, total=total)

                yield update
            return
        yield _Lines(self, label)


class _Lines:
    """Progress as a plain line at every tenth (stderr that is not a terminal)."""

    def __init__(self, output: Output, label: str) -> None:
        self._output = output
        self._label = label
        self._started = time.monotonic()
        self._first: int | None = None
        self._shown = -1

    def __call__(self, done: int, total: int | None) -> None:
        if self._first is None:
            self._first = done  # a resumed transfer's rate counts only this run's bytes
        if not total:
            return
        tenth = min(10, done * 10 // total)
        if tenth <= self._shown:
            return
        self._shown = tenth
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = (done - self._first) / elapsed
        left = f"{(total - done) / rate:.0f} s left" if rate > 0 else "time left unknown"
        self._output.message(
            f"{self._label}  {size_text(done)} of {size_text(total)} ({tenth * 10}%), "
            f"{size_text(rate)}/s, {left}"
        )
