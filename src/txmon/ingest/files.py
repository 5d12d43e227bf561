"""`txmon load`: one CSV file of per-minute counts or of single transactions, as one load.

A load is one transaction: the `loads` row, every valid data row and every rejected line with
its reason are committed together or not at all. The file's SHA-256 makes loading the same
content twice a no-op, and `force=True` replaces the earlier load instead of adding to it.

May import: the other `txmon.ingest` modules, `txmon.core`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from txmon.core.config import Ingest
from txmon.core.facts import RAW_SCHEMA
from txmon.ingest.fields import Row
from txmon.ingest.loads import (
    LoadSummary,
    add_to_load,
    finish_open_transaction,
    loads_with_hash,
    minute_of,
    register_load,
    remove,
)
from txmon.ingest.raw_tables import PARTITIONED_RAW_TABLES, ensure_raw_tables
from txmon.ingest.readers import Line, open_csv, read_lines, zone_of
from txmon.ingest.writer import LOCK_LOADS, RawWriter, RejectLog

# Rows are validated in Python and written with COPY in batches: memory stays bounded and the
# transaction-id lookups against earlier loads happen between COPY operations.
BATCH_ROWS = 5_000
ONE_MINUTE = timedelta(minutes=1)


def load_file(
    conn: psycopg.Connection,
    path: str | os.PathLike[str],
    *,
    timezone: str = "UTC",
    force: bool = False,
    ingest: Ingest | None = None,
    on_read: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Load one CSV file in one transaction and return what happened.

    The load is committed when this returns: a transaction the caller left open (connect()
    opens one to set the session time zone) is committed first so the load stands on its own.
    Any error rolls back everything the load wrote. `ingest` holds the time-sanity settings
    (the [ingest] section of the settings file; its defaults when None). `on_read` is told the
    bytes of the file read so far as its rows are written (for a progress bar).
    """
    started = time.monotonic()
    zone = zone_of(timezone)
    csv_file = open_csv(path)
    source = csv_file.path
    finish_open_transaction(conn)
    with conn.transaction():
        # One load at a time, counts too: two loads of one file would race on its hash.
        conn.execute(LOCK_LOADS)
        ensure_raw_tables(conn)
        previous = loads_with_hash(conn, csv_file.sha256)
        if previous and not force:
            return _skipped(conn, source, previous[0], csv_file.sha256, timezone)
        replaced = remove(conn, previous) if previous else []
        warnings = _same_path_warnings(conn, source, csv_file.sha256)
        load_id = register_load(conn, str(source), csv_file.sha256, csv_file.shape, timezone, force)
        writer = RawWriter(conn, csv_file.shape, ingest=ingest, load_id=load_id, position="line")
        rejects = RejectLog(conn, load_id, str(source))
        write_lines(read_lines(csv_file, zone, on_read), writer, rejects)
        add_to_load(
            conn, load_id, writer.rows_written, rejects.rejected, writer.first_at, writer.last_at
        )
        overlaps = _overlaps(conn, load_id, writer.first_at, writer.last_at)
    return LoadSummary(
        load_id=load_id,
        path=source,
        input_shape=csv_file.shape,
        rows_loaded=writer.rows_written,
        rows_rejected=rejects.rejected,
        first_rejects=sorted(rejects.first_rejects),
        timezone=timezone,
        forced=force,
        replaced_load_ids=replaced,
        warnings=warnings,
        file_sha256=csv_file.sha256,
        seconds=time.monotonic() - started,
        first_minute_at=minute_of(writer.first_at),
        last_minute_at=minute_of(writer.last_at),
        overlaps=overlaps,
    )


def write_lines(lines: Iterable[Line], writer: RawWriter, rejects: RejectLog) -> None:
    """Write the rows of these lines through the writer, in batches of BATCH_ROWS, and log
    every line that could not be parsed or written."""
    rows: list[Row] = []
    numbers: list[int] = []
    texts: list[str] = []

    def flush() -> None:
        kept, problems = writer.screen(rows, numbers)
        for problem in problems:
            assert problem.index is not None
            rejects.add(numbers[problem.index], texts[problem.index], problem.reason)
        writer.copy([rows[i] for i in kept], [numbers[i] for i in kept])
        rejects.flush()
        rows.clear()
        numbers.clear()
        texts.clear()

    for line in lines:
        if line.row is None:
            rejects.add(line.number, line.text, line.reason or "")
        else:
            rows.append(line.row)
            numbers.append(line.number)
            texts.append(line.text)
        if len(rows) + len(rejects.pending) >= BATCH_ROWS:
            flush()
    flush()


def _skipped(
    conn: psycopg.Connection, source: Path, load_id: int, sha256: str, timezone: str
) -> LoadSummary:
    row = conn.execute(
        f"select input_shape from {RAW_SCHEMA}.loads where load_id = %s", (load_id,)
    ).fetchone()
    shape = row[0] if row else ""
    return LoadSummary(
        load_id, source, shape, 0, 0, skipped=True, timezone=timezone, file_sha256=sha256
    )


def _same_path_warnings(conn: psycopg.Connection, source: Path, sha256: str) -> list[str]:
    # An edited file has a new hash; its rows add to the old load's rather than replacing them.
    rows = conn.execute(
        f"select load_id from {RAW_SCHEMA}.loads where file_name = %s and file_sha256 <> %s"
        " order by load_id",
        (str(source), sha256),
    ).fetchall()
    if not rows:
        return []
    earlier = ", ".join(str(row[0]) for row in rows)
    return [
        f"Note: load(s) {earlier} came from the same path with different content and are kept; "
        f"counts from both add up (`txmon loads remove {rows[0][0]}` removes one)."
    ]


def _overlaps(
    conn: psycopg.Connection,
    load_id: int,
    first: datetime | None,
    last: datetime | None,
) -> list[tuple[int | None, int]]:
    """Other loads (None: rows written outside `txmon load`) with rows in minutes this load
    filled too, and how many such minutes: their counts add up in the models.

    One pass over the rows of both tables in the load's range, grouped by minute and load, with
    no join: its plan cannot go quadratic on tables that have no statistics yet."""
    if first is None or last is None:
        return []
    window = {"first": minute_of(first), "end": last.replace(second=0, microsecond=0) + ONE_MINUTE}
    loaded = " union all ".join(
        f"select {column} as at, load_id from {RAW_SCHEMA}.{table}"
        f" where {column} >= %(first)s and {column} < %(end)s"
        for table, column in PARTITIONED_RAW_TABLES.items()
    )
    rows = conn.execute(
        f"""
        with per_minute as (
            select date_trunc('minute', at) as minute_at, load_id
            from ({loaded}) as loaded
            group by 1, 2
        ),
        marked as (
            select load_id,
                bool_or(load_id is not distinct from %(load)s)
                    over (partition by minute_at) as shares_a_minute
            from per_minute
        )
        select load_id, count(*)
        from marked
        where shares_a_minute and load_id is distinct from %(load)s
        group by load_id
        order by load_id nulls last
        """,
        {"load": load_id, **window},
    ).fetchall()
    return [(row[0], int(row[1])) for row in rows]
