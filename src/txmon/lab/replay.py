"""`txmon replay FILE --speed 60`: feed a CSV into the raw tables minute by minute.

The file is checked and read like `txmon load` (the same readers and field rules), registered
as one load, and its rows are written through the one writer a minute at a time on a simulated
clock (speed 60: one hour of data per real minute), each minute committed on its own, so the
scheduler, the API and the dashboards see data arrive as they would live. Lines that cannot be
parsed are recorded as rejects first; rows refused when their minute is written (an id already
stored, time sanity) are rejects of that minute. Replaying content already loaded writes
nothing, as `txmon load` does; `txmon loads remove ID` makes room for a second replay.

Staleness is judged against the real clock: turn it off ([rules] stale_after_minutes = 0) when
replaying old data faster than real time.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from txmon.core.config import Ingest
from txmon.core.errors import LoadError
from txmon.ingest.fields import TIME_FIELD, TIME_INDEX
from txmon.ingest.files import write_lines
from txmon.ingest.loads import (
    add_to_load,
    finish_open_transaction,
    loads_with_hash,
    register_load,
)
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ingest.readers import (
    CsvFile,
    Line,
    checked_path,
    inspect,
    read_header,
    read_lines,
    shape_of,
    zone_of,
)
from txmon.ingest.writer import LOCK_LOADS, RawWriter, RejectLog


@dataclass(frozen=True)
class ReplaySummary:
    minutes: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    load_id: int | None = None
    skipped: bool = False  # the same content was loaded before; nothing was written


def read_minutes(
    path: Path, timezone: str
) -> tuple[CsvFile, dict[datetime, list[Line]], list[Line]]:
    """The checked file, its parsed lines by UTC minute (in order), and the lines that do not
    parse. A LoadError when the file cannot be replayed at all."""
    zone = zone_of(timezone)
    source = checked_path(path)
    sha256 = inspect(source)
    text, names = read_header(source)
    if not set(names) & set(TIME_FIELD.values()):
        raise LoadError(f"{source}: no timestamp or created_at column to replay by")
    csv_file = CsvFile(source, sha256, *shape_of(source, text, names))
    time_at = TIME_INDEX[csv_file.shape]
    minutes: dict[datetime, list[Line]] = defaultdict(list)
    unparsed = []
    for line in read_lines(csv_file, zone):
        if line.row is None:
            unparsed.append(line)
        else:
            minutes[line.row[time_at].replace(second=0, microsecond=0)].append(line)
    return csv_file, dict(sorted(minutes.items())), unparsed


def replay_file(
    conn: psycopg.Connection,
    path: Path,
    *,
    speed: float,
    timezone: str = "UTC",
    ingest: Ingest | None = None,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    if not (math.isfinite(speed) and speed > 0):
        raise LoadError("--speed must be positive (60 = one hour of data per real minute)")
    csv_file, minutes, unparsed = read_minutes(path, timezone)
    started = time.monotonic()
    finish_open_transaction(conn)
    with conn.transaction():
        conn.execute(LOCK_LOADS)
        ensure_raw_tables(conn)
        if previous := loads_with_hash(conn, csv_file.sha256):
            say(
                f"{csv_file.path} was already loaded as load {previous[0]} (same content); "
                f"nothing was written (`txmon loads remove {previous[0]}` to replay it again)"
            )
            return ReplaySummary(0, 0, 0, time.monotonic() - started, previous[0], skipped=True)
        load_id = register_load(conn, str(csv_file.path), csv_file.sha256, csv_file.shape, timezone)
        rejects = RejectLog(conn, load_id, str(csv_file.path))
        for line in unparsed:
            rejects.add(line.number, line.text, line.reason or "")
        rejects.flush()
        add_to_load(conn, load_id, 0, rejects.rejected, None, None)
    loaded, rejected = 0, rejects.rejected
    seconds_per_minute = 60.0 / speed
    for index, (minute, lines) in enumerate(minutes.items()):
        due = started + index * seconds_per_minute
        if (delay := due - time.monotonic()) > 0:
            sleep(delay)
        with conn.transaction():
            writer = RawWriter(
                conn, csv_file.shape, ingest=ingest, load_id=load_id, position="line"
            )
            rejects = RejectLog(conn, load_id, str(csv_file.path))
            write_lines(lines, writer, rejects)
            add_to_load(
                conn,
                load_id,
                writer.rows_written,
                rejects.rejected,
                writer.first_at,
                writer.last_at,
            )
        loaded += writer.rows_written
        rejected += rejects.rejected
        if rejects.rejected or index % 60 == 0 or index == len(minutes) - 1:
            say(
                f"replayed {minute:%Y-%m-%d %H:%M} ({index + 1}/{len(minutes)} "
                f"minutes): {loaded:,} rows loaded, {rejected:,} rejected"
            )
    return ReplaySummary(len(minutes), loaded, rejected, time.monotonic() - started, load_id)
