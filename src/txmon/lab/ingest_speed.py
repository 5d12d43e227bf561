"""How fast `txmon load` reads counts files: the target size, and each line-end style.

`target_file_speed` loads a counts file of 26,000 rows (5,200 minutes of five statuses) and
prints its seconds beside the target (under 5 s); `txmon bench` prints it every run.
`ingest_throughput` writes a counts file of about the given size in each style (LF, CRLF, CR,
mixed), loads each into a scratch database of its own and reports rows per second: the four
figures should be close, since reading is linear whatever ends the lines (`txmon bench
--ingest-mb`). The tests use `write_counts_file` for their large files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from txmon.core.errors import TxmonError
from txmon.db.connection import connect, scratch_database
from txmon.ingest.fields import COUNTS_COLUMNS
from txmon.ingest.files import load_file
from txmon.ingest.raw_tables import ensure_raw_tables

STYLES = ("lf", "crlf", "cr", "mixed")
_ENDS = {"lf": ("\n",), "crlf": ("\r\n",), "cr": ("\r",), "mixed": ("\n", "\r\n", "\r")}
_STATUSES = ("approved", "denied", "failed", "reversed", "pending")
# Old enough that no row is ahead of the clock; one minute after another, so no gap.
_START = datetime(2020, 1, 1)
_WRITE_BLOCK = 20_000  # lines joined and written at a time
# The file `txmon load` must take in under TARGET_SECONDS: about 18 days of counts.
TARGET_MINUTES = 5_200
TARGET_SECONDS = 5.0


@dataclass(frozen=True)
class Throughput:
    style: str
    megabytes: float
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def write_counts_file(
    path: Path, megabytes: float, style: str, *, minutes: int | None = None
) -> tuple[int, int]:
    """A counts file of about `megabytes` MiB (or of exactly `minutes` minutes) whose lines end
    in `style` ("mixed": LF, CRLF and CR in turn); five statuses a minute from 2020-01-01.
    Returns (data rows, sum of counts)."""
    if style not in _ENDS:
        raise TxmonError(f"unknown line-end style {style!r}: one of {', '.join(STYLES)}")
    ends = _ENDS[style]
    target = int(megabytes * 2**20)
    rows = total = written = 0
    minute = 0

    def more() -> bool:
        return written < target if minutes is None else minute < minutes

    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(COUNTS_COLUMNS) + ends[0])
        while more():
            block = []
            for _ in range(_WRITE_BLOCK // len(_STATUSES)):
                if minutes is not None and minute >= minutes:
                    break
                stamp = (_START + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M")
                for status in _STATUSES:
                    count = rows % 97
                    block.append(f"{stamp},{status},{count}{ends[rows % len(ends)]}")
                    rows += 1
                    total += count
                minute += 1
            text = "".join(block)
            handle.write(text)
            written += len(text)
    return rows, total


def _timed_load(
    conn_url: str, path: Path, style: str, megabytes: float, minutes: int | None = None
) -> Throughput:
    """Write a counts file, load it into a scratch database beside `conn_url` whose raw tables
    already exist (the load is timed, not their creation) and delete both. Raises TxmonError
    when the load does not keep every row."""
    try:
        rows, _ = write_counts_file(path, megabytes, style, minutes=minutes)
        size = path.stat().st_size / 2**20
        with scratch_database(conn_url, "txmon_ingest") as url, connect(url) as conn:
            ensure_raw_tables(conn)
            conn.commit()
            started = time.monotonic()
            summary = load_file(conn, path)
            seconds = time.monotonic() - started
    finally:
        path.unlink(missing_ok=True)
    if (summary.rows_loaded, summary.rows_rejected) != (rows, 0):
        raise TxmonError(
            f"{path.name}: {summary.rows_loaded:,} rows loaded and {summary.rows_rejected:,} "
            f"rejected of {rows:,} written"
        )
    return Throughput(style, size, rows, seconds)


def ingest_throughput(
    conn_url: str,
    folder: Path,
    megabytes: float = 100.0,
    say: Callable[[str], None] = print,
) -> list[Throughput]:
    """Load a file of about `megabytes` MiB of each line-end style into a scratch database
    created beside `conn_url` (dropped afterwards), print rows per second per style and
    return the figures. Raises TxmonError when a load does not keep every row."""
    if megabytes <= 0:
        raise TxmonError("megabytes must be positive")
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    say(f"ingest: a counts file of about {megabytes:g} MB per line-end style")
    for style in STYLES:
        result = _timed_load(conn_url, folder / f"ingest-{style}.csv", style, megabytes)
        results.append(result)
        say(
            f"  {style:<5} {result.megabytes:6.1f} MB  {result.rows:>10,} rows  "
            f"{result.seconds:6.1f} s  {result.rows_per_second:>9,.0f} rows/s"
        )
    return results


def target_file_speed(
    conn_url: str, folder: Path, say: Callable[[str], None] = print
) -> Throughput:
    """Load the target file (TARGET_MINUTES minutes of five statuses) into a scratch database
    beside `conn_url` and print its seconds and rows per second beside the target."""
    folder.mkdir(parents=True, exist_ok=True)
    result = _timed_load(conn_url, folder / "ingest-target.csv", "lf", 0, TARGET_MINUTES)
    verdict = "within" if result.seconds < TARGET_SECONDS else "OVER"
    say(
        f"ingest: a {result.rows:,}-row counts file loads in {result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s), {verdict} the target of "
        f"{TARGET_SECONDS:g} s"
    )
    return result
