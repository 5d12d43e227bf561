"""`txmon prune`: drop whole days of raw data older than the retention window.

The raw tables are partitioned by UTC day (macros/inputs/raw_tables_ddl.sql), so pruning drops
day partitions: no row-by-row deletes, no bloat. A day is dropped only when all of it lies
before the cutoff; a partly covered day is kept whole. The cutoff counts back from the newest
minute in the data, not from the clock, so replayed or backfilled history is never wiped, and
it never passes the start of an episode still open, nor the warm-up the baseline needs before
the first minute kept.

May import: `txmon.ingest.raw_tables`, `txmon.core`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.ingest.raw_tables import PARTITIONED_RAW_TABLES, ensure_raw_tables

# Kept before the oldest minute that must stay judged. The trailing baseline learns from the
# minutes before a minute (min_history_minutes, the evaluation window and the level's
# half-lives are all at most a few hours): one whole day covers them with room to spare.
WARMUP_MARGIN = timedelta(days=1)
# Longer than any real retention, short enough that dates never overflow.
MAX_KEEP = timedelta(days=100 * 366)

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"\s*(\d{1,6})\s*([mhdw])\s*", re.ASCII)
_DAY_PARTITION = re.compile(r"_p(\d{8})")
# One prune at a time (the scheduler's daily one and a `txmon prune`, say).
_LOCK_PRUNE = "select pg_advisory_xact_lock(hashtext('txmon.prune'))"


def parse_duration(text: str) -> timedelta:
    """A retention like 90d, 12h, 2w or 30m as a positive timedelta."""
    match = _DURATION.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise TxmonError(f"expected a duration such as 90d, 12h or 2w, got {text!r}")
    keep = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if keep > MAX_KEEP:
        raise TxmonError(f"a retention of {text.strip()} is longer than 100 years")
    return keep


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    for unit, size in (("w", 7 * 1440), ("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


@dataclass(frozen=True)
class DroppedPartition:
    table: str
    day: date
    rows: int


@dataclass(frozen=True)
class PruneReport:
    """What `prune` dropped (or, with dry_run, would drop)."""

    keep: timedelta
    dry_run: bool
    newest_at: datetime | None = None
    oldest_open_episode_at: datetime | None = None
    cutoff: datetime | None = None  # days that end at or before this are dropped
    dropped: tuple[DroppedPartition, ...] = ()
    loads_deleted: int = 0
    rejects_deleted: int = 0

    @property
    def days(self) -> list[date]:
        return sorted({partition.day for partition in self.dropped})

    def rows(self, table: str) -> int:
        return sum(partition.rows for partition in self.dropped if partition.table == table)

    @property
    def text(self) -> str:
        if self.newest_at is None or self.cutoff is None:
            return "nothing to prune: the raw tables hold no data"
        why = f"newest minute {self.newest_at:%Y-%m-%d %H:%M}, keep {format_duration(self.keep)}"
        if self.oldest_open_episode_at is not None:
            why += f", episode open since {self.oldest_open_episode_at:%Y-%m-%d %H:%M}"
        why += f", {format_duration(WARMUP_MARGIN)} warm-up"
        kept = f"kept from {self.cutoff:%Y-%m-%d %H:%M} UTC ({why})"
        if not self.dropped:
            return f"nothing to prune: no whole day before the cutoff; {kept}"
        days = self.days
        span = f"{days[0]}" if len(days) == 1 else f"{days[0]} to {days[-1]}"
        verb = "would drop" if self.dry_run else "dropped"
        return (
            f"{verb} {len(days)} day(s) ({span}): "
            f"{self.rows('transaction_counts'):,} count rows, "
            f"{self.rows('transactions'):,} transactions, {self.loads_deleted:,} load(s) "
            f"and {self.rejects_deleted:,} reject(s) left without data; {kept}"
        )


def prune(conn: psycopg.Connection, keep: timedelta, dry_run: bool = False) -> PruneReport:
    """Drop the day partitions of the raw tables that lie wholly before the cutoff, then the
    loads (and their rejects) that no longer have any rows. One transaction; with dry_run
    nothing is changed and the report says what would go."""
    if not timedelta(0) < keep <= MAX_KEEP:
        raise TxmonError("the retention must be positive and at most 100 years, e.g. 90d")
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.INTRANS:
        conn.commit()  # prune stands on its own, like a load
    # First, in a transaction of its own, rows that writers left in the default partitions
    # get their day partition, waiting for the tables if need be (ensure_raw_tables does not).
    with conn.transaction():
        conn.execute(_LOCK_PRUNE)
        ensure_raw_tables(conn)
        for table, column in PARTITIONED_RAW_TABLES.items():
            conn.execute(
                f"select {RAW_SCHEMA}.partition_default_rows(%s::regclass, %s, true)",
                (f"{RAW_SCHEMA}.{table}", column),
            )
    with conn.transaction():
        conn.execute(_LOCK_PRUNE)
        if not dry_run:
            # loads first, the tables second: the order in which partition_default_rows takes
            # them, so a concurrent load or build waits for the drop instead of deadlocking.
            conn.execute(f"lock table {RAW_SCHEMA}.loads in row exclusive mode")
            conn.execute(
                sql.SQL("lock table {} in access exclusive mode").format(
                    sql.SQL(", ").join(
                        sql.Identifier(RAW_SCHEMA, table) for table in PARTITIONED_RAW_TABLES
                    )
                )
            )
        newest = _newest_at(conn)
        if newest is None:
            return PruneReport(keep=keep, dry_run=dry_run)
        episode = _oldest_open_episode_at(conn)
        keep_from = newest - keep
        if episode is not None:
            keep_from = min(keep_from, episode)
        cutoff = keep_from - WARMUP_MARGIN
        dropped, kept = _partitions_before(conn, cutoff)
        counted = tuple(
            DroppedPartition(table, day, _count(conn, name)) for table, day, name in dropped
        )
        gone = _loads_left_without_data(conn, [name for _, _, name in dropped], kept)
        rejects = _count_rejects(conn, gone)
        report = PruneReport(
            keep=keep,
            dry_run=dry_run,
            newest_at=newest,
            oldest_open_episode_at=episode,
            cutoff=cutoff,
            dropped=counted,
            loads_deleted=len(gone),
            rejects_deleted=rejects,
        )
        if dry_run or not dropped:
            return report
        conn.execute(
            sql.SQL("drop table {}").format(
                sql.SQL(", ").join(sql.Identifier(RAW_SCHEMA, name) for _, _, name in dropped)
            )
        )
        # Their rejects go with them (on delete cascade).
        conn.execute(f"delete from {RAW_SCHEMA}.loads where load_id = any(%s)", (gone,))
    return report


def _newest_at(conn: psycopg.Connection) -> datetime | None:
    # Each max() is a backward scan of the partitions' time index: cheap at any size.
    newest = ", ".join(
        f"(select max({column}) from {RAW_SCHEMA}.{table})"
        for table, column in PARTITIONED_RAW_TABLES.items()
    )
    row = conn.execute(f"select greatest({newest})").fetchone()
    return row[0] if row else None


def _oldest_open_episode_at(conn: psycopg.Connection) -> datetime | None:
    """The start of the oldest ongoing episode; None before the first build made the view."""
    exists = conn.execute(
        "select to_regclass(%s)", (f"{PUBLIC_SCHEMA}.anomaly_episodes",)
    ).fetchone()
    if not exists or exists[0] is None:
        return None
    row = conn.execute(
        f"select min(started_at) from {PUBLIC_SCHEMA}.anomaly_episodes where is_ongoing"
    ).fetchone()
    return row[0] if row else None


def _partitions_before(
    conn: psycopg.Connection, cutoff: datetime
) -> tuple[list[tuple[str, date, str]], list[str]]:
    """(table, day, partition) of the day partitions txmon made that end at or before the
    cutoff, and the names of every other partition of the raw tables."""
    found = conn.execute(
        "select parent.relname, child.relname from pg_inherits i"
        " join pg_class parent on parent.oid = i.inhparent"
        " join pg_class child on child.oid = i.inhrelid"
        " where parent.relnamespace = %s::regnamespace and parent.relname = any(%s)"
        " order by 1, 2",
        (RAW_SCHEMA, list(PARTITIONED_RAW_TABLES)),
    ).fetchall()
    dropped: list[tuple[str, date, str]] = []
    kept: list[str] = []
    for table, name in found:
        match = _DAY_PARTITION.fullmatch(name.removeprefix(table))
        day = datetime.strptime(match.group(1), "%Y%m%d").date() if match else None
        # Only whole days go: the partition of `day` holds [day 00:00, next day 00:00) UTC.
        if day is not None and datetime.combine(day + timedelta(days=1), time(), UTC) <= cutoff:
            dropped.append((table, day, name))
        else:
            kept.append(name)
    return dropped, kept


def _count(conn: psycopg.Connection, partition: str) -> int:
    row = conn.execute(
        sql.SQL("select count(*) from {}").format(sql.Identifier(RAW_SCHEMA, partition))
    ).fetchone()
    return int(row[0]) if row else 0


def _loads_left_without_data(
    conn: psycopg.Connection, dropped: list[str], kept: list[str]
) -> list[int]:
    """Loads with rows in the dropped partitions and none in any partition kept."""
    candidates: set[int] = set()
    for partition in dropped:
        rows = conn.execute(
            sql.SQL("select distinct load_id from {} where load_id is not null").format(
                sql.Identifier(RAW_SCHEMA, partition)
            )
        ).fetchall()
        candidates.update(row[0] for row in rows)
    for partition in kept:
        if not candidates:
            break
        rows = conn.execute(
            sql.SQL("select distinct load_id from {} where load_id = any(%s)").format(
                sql.Identifier(RAW_SCHEMA, partition)
            ),
            (sorted(candidates),),
        ).fetchall()
        candidates.difference_update(row[0] for row in rows)
    return sorted(candidates)


def _count_rejects(conn: psycopg.Connection, loads: list[int]) -> int:
    if not loads:
        return 0
    row = conn.execute(
        f"select count(*) from {RAW_SCHEMA}.load_rejects where load_id = any(%s)", (loads,)
    ).fetchone()
    return int(row[0]) if row else 0
