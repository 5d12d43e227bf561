"""Loads: each file (or replay) written to the raw tables is one row of `loads`, with its
content hash, its totals and the minutes it covers. Registering, listing and removing them, and
the summary of one load.

A batch sent with an idempotency key is a load too, whose identity is the key (`KeyedLoad`):
it lives, and can be removed, like any load, and a retry finds it after any restart.

May import: `txmon.ingest.fields`, `txmon.ingest.raw_tables`, `txmon.ingest.writer`,
`txmon.core`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.pq import TransactionStatus

from txmon.core.errors import LoadError
from txmon.core.facts import RAW_SCHEMA
from txmon.ingest.fields import FIELDS, TABLES, Row, Shape
from txmon.ingest.raw_tables import PARTITIONED_RAW_TABLES, ensure_raw_tables
from txmon.ingest.writer import LOCK_LOADS


@dataclass(frozen=True)
class LoadInfo:
    """One row of `txmon loads list`."""

    load_id: int
    file_name: str
    input_shape: str
    rows_loaded: int
    rows_rejected: int
    first_minute_at: datetime | None
    last_minute_at: datetime | None
    loaded_at: datetime
    is_forced: bool


def _measured(end: str) -> str:
    # The first or last minute of a load's rows, measured in the data tables.
    ends = ", ".join(
        f"(select {'min' if end == 'least' else 'max'}({column}) from {RAW_SCHEMA}.{table}"
        " as data where data.load_id = l.load_id)"
        for table, column in PARTITIONED_RAW_TABLES.items()
    )
    return f"date_trunc('minute', {end}({ends}))"


# Minute ranges are stored with each load; loads made before that are measured on the fly.
_LOADS = f"""
    select load_id, file_name, input_shape, rows_loaded, rows_rejected,
        coalesce(first_minute_at, {_measured("least")}),
        coalesce(last_minute_at, {_measured("greatest")}),
        loaded_at, is_forced
    from {RAW_SCHEMA}.loads l
"""


def finish_open_transaction(conn: psycopg.Connection) -> None:
    """Commit the transaction connect() leaves open, so that `conn.transaction()` after it is a
    real transaction that commits a load, not a savepoint the caller could still roll back."""
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.INTRANS:
        conn.commit()


def register_load(
    conn: psycopg.Connection,
    file_name: str,
    sha256: str,
    shape: str,
    timezone: str,
    force: bool = False,
) -> int:
    """A new load (no rows yet); its id."""
    row = conn.execute(
        f"insert into {RAW_SCHEMA}.loads (file_name, file_sha256, input_shape, source_timezone,"
        " is_forced) values (%s, %s, %s, %s, %s) returning load_id",
        (file_name, sha256, shape, timezone, force),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_to_load(
    conn: psycopg.Connection,
    load_id: int,
    loaded: int,
    rejected: int,
    first_at: datetime | None,
    last_at: datetime | None,
) -> None:
    """Add rows written and rejected to a load's totals and widen its minute range."""
    conn.execute(
        f"update {RAW_SCHEMA}.loads set rows_loaded = rows_loaded + %s,"
        " rows_rejected = rows_rejected + %s,"
        " first_minute_at = least(first_minute_at, %s),"
        " last_minute_at = greatest(last_minute_at, %s) where load_id = %s",
        (loaded, rejected, minute_of(first_at), minute_of(last_at), load_id),
    )


def minute_of(at: datetime | None) -> datetime | None:
    return at.replace(second=0, microsecond=0) if at is not None else None


# --- loads keyed by the sender -------------------------------------------------------------

# Serialises the writers of one key (two int4 keys: apart from LOCK_LOADS's single bigint key),
# so a retry sent while the first attempt is still writing waits for it and then finds it.
LOCK_KEY = "select pg_advisory_xact_lock(hashtext('txmon.idempotency_key'), hashtext(%s))"


@dataclass(frozen=True)
class KeyedLoad:
    """A load registered under a sender's idempotency key."""

    load_id: int
    input_shape: str
    rows_loaded: int


def key_identity(key: str) -> str:
    """What a keyed load stores as its content hash: a file can never have it, since no file
    whose bytes are this text has a CSV header (it holds a NUL)."""
    return hashlib.sha256(f"idempotency-key\x00{key}".encode()).hexdigest()


def keyed_source(source: str, key: str) -> str:
    """A keyed load's name in `txmon loads list`."""
    return f"{source} (Idempotency-Key {key!r})"


def find_keyed_load(conn: psycopg.Connection, key: str) -> KeyedLoad | None:
    """The load registered under `key`, if any. The caller holds LOCK_KEY for it."""
    row = conn.execute(
        f"select load_id, input_shape, rows_loaded from {RAW_SCHEMA}.loads"
        " where file_sha256 = %s order by load_id limit 1",
        (key_identity(key),),
    ).fetchone()
    return KeyedLoad(*row) if row else None


def register_keyed_load(conn: psycopg.Connection, key: str, source: str, shape: Shape) -> int:
    """A new load under `key` (no rows yet); its id. The caller holds LOCK_KEY for it."""
    return register_load(conn, keyed_source(source, key), key_identity(key), shape, "UTC")


def load_rows(conn: psycopg.Connection, load_id: int, shape: Shape) -> list[Row]:
    """A load's rows as they were written, in schema order and in the order they were given."""
    columns = ", ".join(field.column for field in FIELDS[shape])
    return conn.execute(
        f"select {columns} from {RAW_SCHEMA}.{TABLES[shape]} where load_id = %s"
        " order by line_number",
        (load_id,),
    ).fetchall()


def loads_with_hash(conn: psycopg.Connection, sha256: str) -> list[int]:
    rows = conn.execute(
        f"select load_id from {RAW_SCHEMA}.loads where file_sha256 = %s order by load_id",
        (sha256,),
    ).fetchall()
    return [row[0] for row in rows]


def list_loads(conn: psycopg.Connection) -> list[LoadInfo]:
    """Every load, oldest first."""
    ensure_raw_tables(conn)
    rows = conn.execute(_LOADS + " order by load_id").fetchall()
    return [LoadInfo(*row) for row in rows]


def remove_loads(conn: psycopg.Connection, load_ids: Sequence[int]) -> list[LoadInfo]:
    """Delete these loads with their rows and rejects, in one transaction, and record the
    minutes they covered in load_removals so a build can judge them again. An id that is not
    a load is an error and nothing is removed."""
    wanted = sorted(set(load_ids))
    finish_open_transaction(conn)
    with conn.transaction():
        conn.execute(LOCK_LOADS)
        ensure_raw_tables(conn)
        found = [
            LoadInfo(*row)
            for row in conn.execute(
                _LOADS + " where load_id = any(%s) order by load_id", (wanted,)
            ).fetchall()
        ]
        unknown = sorted(set(wanted) - {load.load_id for load in found})
        if unknown:
            raise LoadError(
                f"no load {', '.join(str(load_id) for load_id in unknown)}; nothing was removed "
                "(`txmon loads list` shows the loads)"
            )
        remove(conn, wanted)
    return found


def remove(conn: psycopg.Connection, load_ids: list[int]) -> list[int]:
    """Delete loads, their rows and rejects, recording the minutes they covered; the ids
    removed. The caller holds the load lock."""
    conn.execute(
        f"insert into {RAW_SCHEMA}.load_removals (load_id, first_minute_at, last_minute_at)"
        f" select load_id, first_at, last_at from ({_LOADS}) as loads"
        "  (load_id, file_name, input_shape, rows_loaded, rows_rejected, first_at, last_at,"
        "   loaded_at, is_forced)"
        " where load_id = any(%s) on conflict (load_id) do nothing",
        (load_ids,),
    )
    # Explicit deletes rather than only the foreign keys' cascade: the data tables stay
    # correct whatever constraints a partitioned layout keeps.
    for table in [*PARTITIONED_RAW_TABLES, "load_rejects"]:
        conn.execute(f"delete from {RAW_SCHEMA}.{table} where load_id = any(%s)", (load_ids,))
    rows = conn.execute(
        f"delete from {RAW_SCHEMA}.loads where load_id = any(%s) returning load_id",
        (load_ids,),
    ).fetchall()
    return sorted(row[0] for row in rows)


@dataclass
class LoadSummary:
    """What one `load_file` call did, for the command line and for tests."""

    load_id: int | None
    path: Path
    input_shape: str
    rows_loaded: int
    rows_rejected: int
    skipped: bool = False
    first_rejects: list[tuple[int, str]] = field(default_factory=list)
    timezone: str = "UTC"
    forced: bool = False
    replaced_load_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_sha256: str = ""
    seconds: float = 0.0
    first_minute_at: datetime | None = None
    last_minute_at: datetime | None = None
    # Other loads whose rows fall in minutes this load also filled: (load_id or None for rows
    # written outside `txmon load`, number of shared minutes).
    overlaps: list[tuple[int | None, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return format_summary(self)

    @property
    def overlap_warning(self) -> str | None:
        """One line saying which loads this one adds up with and how to replace one."""
        if not self.overlaps:
            return None
        ids = [load_id for load_id, _ in self.overlaps if load_id is not None]
        others = []
        if ids:
            others.append(f"load(s) {', '.join(str(load_id) for load_id in ids)}")
        if any(load_id is None for load_id, _ in self.overlaps):
            others.append("rows written outside txmon load (POST /transactions or SQL)")
        minutes = sum(count for _, count in self.overlaps)
        example = ids[0] if ids else "ID"
        return (
            f"{self.path} (load {self.load_id}) fills {minutes:,} minute(s) that "
            f"{' and '.join(others)} already filled, so their counts add up; to replace a load, "
            f"`txmon loads remove {example}` and load again (or `txmon load --force` the same "
            "file)"
        )


def format_summary(summary: LoadSummary) -> str:
    """One paragraph saying what was loaded, what was rejected and why."""
    if summary.skipped:
        return (
            f"{summary.path} was already loaded as load {summary.load_id} (same content, "
            f"sha256 {summary.file_sha256[:12]}); nothing was written. "
            "Use --force to replace that load."
        )
    parts = [
        f"Loaded {summary.path} as load {summary.load_id} ({summary.input_shape}; "
        f"timestamps without an offset read as {summary.timezone}): "
        f"{summary.rows_loaded:,} rows loaded, {summary.rows_rejected:,} rejected "
        f"in {summary.seconds:.1f}s."
    ]
    if summary.replaced_load_ids:
        replaced = ", ".join(str(load_id) for load_id in summary.replaced_load_ids)
        parts.append(f"It replaces earlier load(s) {replaced} of the same content.")
    if summary.first_rejects:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in summary.first_rejects)
        more = summary.rows_rejected - len(summary.first_rejects)
        parts.append(f"Rejected {shown}" + (f"; and {more:,} more." if more > 0 else "."))
        parts.append(f"All rejects are in {RAW_SCHEMA}.load_rejects (load_id = {summary.load_id}).")
    parts.extend(summary.warnings)
    return " ".join(parts)
