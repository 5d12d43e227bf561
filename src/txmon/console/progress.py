"""Progress of long work (a load, a generated file, a dbt build), once it has lasted a second:
when stderr is a terminal a rich progress bar there, which disappears when the work ends;
otherwise (a log, a pipe) one plain line saying what started, on stdout before the caller's own
summary, which is the line at the end.

The work reports through `Meter.update`, a plain callable that the rooms below take without
knowing rich (`txmon.ingest`, `txmon.pipeline`, the generator); nothing is shown for work that
ends, or fails, within the second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

SHOW_AFTER_SECONDS = 1.0
# "bytes" shows sizes (12.3/45.6 MB); any other unit counts items (120/180 nodes).
Unit = Literal["bytes", "rows", "minutes", "nodes"]


def stderr_console() -> Console:
    """Where the bar goes: stderr, so that stdout keeps only results (and data, with `-`)."""
    return Console(file=sys.stderr, highlight=False, markup=False, emoji=False)


def stdout_console() -> Console:
    """Where the line that work started goes in a log: with the summary that ends it."""
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False)


class Meter:
    """One piece of work's progress; `update` is the callable given to the work."""

    def __init__(
        self,
        label: str,
        *,
        total: float | None,
        unit: Unit,
        console: Console,
        log: Console,
        show_after: float,
    ) -> None:
        self.label, self.unit, self.console, self.log = label, unit, console, log
        self.total = total
        self.completed = 0.0
        self.shown = False
        self._started = time.monotonic()
        self._show_after = show_after
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    @property
    def on_terminal(self) -> bool:
        return self.console.is_terminal and not self.console.is_dumb_terminal

    def update(self, completed: float, total: float | None = None) -> None:
        """The work done so far, and the total when it becomes known (None: not known yet)."""
        self.completed = completed
        if total is not None:
            self.total = total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=completed, total=self.total)
        elif not self.shown and not self._finished() and self._has_lasted():
            self._show()

    def _finished(self) -> bool:
        return self.total is not None and self.completed >= self.total

    def _has_lasted(self) -> bool:
        return time.monotonic() - self._started >= self._show_after

    def _show(self) -> None:
        self.shown = True
        if not self.on_terminal:
            self.log.print(f"{self.label}...", soft_wrap=True)
            return
        amount: ProgressColumn = DownloadColumn() if self.unit == "bytes" else MofNCompleteColumn()
        columns: list[ProgressColumn] = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            amount,
        ]
        if self.unit != "bytes":
            columns.append(TextColumn(self.unit))
        columns.append(TimeElapsedColumn())
        # transient: the bar goes when the work ends and the caller's summary takes its place.
        self._bar = Progress(*columns, console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=self.total, completed=self.completed)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def progress(
    label: str,
    *,
    total: float | None = None,
    unit: Unit = "rows",
    console: Console | None = None,
    log: Console | None = None,
    show_after: float | None = None,
) -> Iterator[Meter]:
    """A meter for work named `label` ("loading counts.csv"), shown once the work has lasted
    `show_after` seconds (SHOW_AFTER_SECONDS) and is not done: as a bar on `console` (stderr)
    when it is a terminal, hidden again at the end, else as a line on `log` (stdout; give
    stderr when stdout carries data)."""
    meter = Meter(
        label,
        total=total,
        unit=unit,
        console=console or stderr_console(),
        log=log or stdout_console(),
        show_after=SHOW_AFTER_SECONDS if show_after is None else show_after,
    )
    try:
        yield meter
    finally:
        meter.close()
