"""How fast `txmon load` reads files of each line-end style (LF, CRLF, CR, mixed).

`ingest_throughput` writes a counts file of about the given size in each style, loads each into
a scratch database of its own and reports rows per second: the four figures should be close,
since reading is linear whatever ends the lines. `txmon bench` calls it; the tests use
`write_counts_file` for their large files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from txmon.core.errors import TxmonError
from txmon.db.connection import connect, scratch_database
from txmon.ingest.loading import load_file

STYLES = ("lf", "crlf", "cr", "mixed")
_ENDS = {"lf": ("\n",), "crlf": ("\r\n",), "cr": ("\r",), "mixed": ("\n", "\r\n", "\r")}
_STATUSES = ("approved", "denied", "failed", "reversed", "pending")
# Old enough that no row is ahead of the clock; one minute after another, so no gap.
_START = datetime(2020, 1, 1)
_WRITE_BLOCK = 20_000  # lines joined and written at a time


@dataclass(frozen=True)
class Throughput:
    style: str
    megabytes: float
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def write_counts_file(path: Path, megabytes: float, style: str) -> tuple[int, int]:
    """A counts file of about `megabytes` MiB whose lines end in `style` ("mixed": LF, CRLF and
    CR in turn); five statuses a minute from 2020-01-01. Returns (data rows, sum of counts)."""
    if style not in _ENDS:
        raise TxmonError(f"unknown line-end style {style!r}: one of {', '.join(STYLES)}")
    ends = _ENDS[style]
    target = int(megabytes * 2**20)
    rows = total = written = 0
    minute = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("timestamp,status,count" + ends[0])
        while written < target:
            block = []
            for _ in range(_WRITE_BLOCK // len(_STATUSES)):
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
        path = folder / f"ingest-{style}.csv"
        try:
            rows, _ = write_counts_file(path, megabytes, style)
            size = path.stat().st_size / 2**20
            with scratch_database(conn_url, "txmon_ingest") as url, connect(url) as conn:
                started = time.monotonic()
                summary = load_file(conn, path)
                seconds = time.monotonic() - started
        finally:
            path.unlink(missing_ok=True)
        if (summary.rows_loaded, summary.rows_rejected) != (rows, 0):
            raise TxmonError(
                f"{style}: {summary.rows_loaded:,} rows loaded and {summary.rows_rejected:,} "
                f"rejected of {rows:,} written"
            )
        result = Throughput(style, size, rows, seconds)
        results.append(result)
        say(
            f"  {style:<5} {size:6.1f} MB  {rows:>10,} rows  {seconds:6.1f} s  "
            f"{result.rows_per_second:>9,.0f} rows/s"
        )
    return results
