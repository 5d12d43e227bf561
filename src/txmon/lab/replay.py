"""`txmon replay FILE --speed 60`: feed a CSV into the raw tables minute by minute.

The file's minutes are loaded in order on a simulated clock (speed 60: one hour of data per
real minute), each through the ordinary loader, so validation, rejects and idempotence are the
same as `txmon load` and the scheduler, the API and the dashboards see data arrive as they would
live. Staleness is judged against the real clock: turn it off ([rules] stale_after_minutes = 0)
when replaying old data faster than real time.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from txmon.core.errors import LoadError
from txmon.core.paths import txmon_home
from txmon.ingest.loading import load_file

TIMESTAMP_COLUMNS = ("timestamp", "created_at")


@dataclass(frozen=True)
class ReplaySummary:
    minutes: int
    rows_loaded: int
    rows_rejected: int
    seconds: float


def _minutes_of(path: Path) -> tuple[str, dict[str, list[str]]]:
    """The header line and the file's data lines grouped by the minute they belong to."""
    if not path.is_file():
        raise LoadError(f"{path} does not exist or is not a file")
    with path.open(encoding="utf-8", errors="replace", newline="") as source:
        header = source.readline()
        if not header.strip():
            raise LoadError(f"{path} is empty: expected a header line and rows")
        names = [name.strip().lower() for name in next(csv.reader([header]), [])]
        column = next((names.index(name) for name in TIMESTAMP_COLUMNS if name in names), None)
        if column is None:
            raise LoadError(f"{path}: no timestamp or created_at column to replay by")
        minutes: dict[str, list[str]] = defaultdict(list)
        for line in source:
            if not line.strip():
                continue
            fields = next(csv.reader(io.StringIO(line)), [])
            stamp = fields[column].strip() if column < len(fields) else ""
            # Minute text (YYYY-MM-DD HH:MM); lines that do not parse are kept, and rejected
            # with their reason by the loader, in their own group at the end.
            minutes[stamp[:16].replace("T", " ") if len(stamp) >= 16 else "~unparsed"].append(
                line if line.endswith("\n") else line + "\n"
            )
    return header, dict(sorted(minutes.items()))


def replay_file(
    conn: psycopg.Connection,
    path: Path,
    *,
    speed: float,
    timezone: str = "UTC",
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    if not (math.isfinite(speed) and speed > 0):
        raise LoadError("--speed must be positive (60 = one hour of data per real minute)")
    header, minutes = _minutes_of(path)
    folder = txmon_home() / "replay"
    folder.mkdir(parents=True, exist_ok=True)
    seconds_per_minute = 60.0 / speed
    started = time.monotonic()
    loaded = rejected = 0
    for index, (minute, lines) in enumerate(minutes.items()):
        due = started + index * seconds_per_minute
        if (delay := due - time.monotonic()) > 0:
            sleep(delay)
        chunk = folder / f"{path.stem}.{index:06d}.csv"
        chunk.write_text(header + "".join(lines), encoding="utf-8")
        try:
            summary = load_file(conn, chunk, timezone=timezone)
        finally:
            chunk.unlink(missing_ok=True)
        loaded += summary.rows_loaded
        rejected += summary.rows_rejected
        if summary.rows_rejected or index % 60 == 0 or index == len(minutes) - 1:
            say(
                f"replayed {minute} ({index + 1}/{len(minutes)} minutes): {loaded:,} rows loaded, "
                f"{rejected:,} rejected"
            )
    return ReplaySummary(len(minutes), loaded, rejected, time.monotonic() - started)
