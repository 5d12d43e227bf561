"""Shared steps of the ingest tests (tests/python/ingest): CSV files written and loaded into a
test database, and the raw tables read back. The fixtures are in ingest_fixtures.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.ingest.loads import LoadSummary

COUNTS_HEADER = "timestamp,status,count\n"
EVENTS_HEADER = "transaction_id,created_at,status,amount\n"
RAW_TABLES = {"loads", "transaction_counts", "transactions", "load_rejects", "load_removals"}
DATA_TABLES = {"loads", "transaction_counts", "transactions", "load_rejects"}
GOOD_COUNT = "2025-01-01 10:00,approved,1"
GOOD_EVENT_BEFORE = "tx-a,2025-01-01 10:00,approved,1"
GOOD_EVENT_AFTER = "tx-b,2025-01-01 10:01,approved,2"

LoadCsv = Callable[..., LoadSummary]


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def load(url: str, path: Path | str, **options: Any) -> LoadSummary:
    with connect(url) as conn:
        return load_file(conn, path, **options)


def query(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def counts(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "select observed_at, status, transaction_count, line_number"
        " from txmon_raw.transaction_counts order by line_number",
    )


def rejects(url: str) -> list[tuple[Any, ...]]:
    return query(url, "select line_number, reason, raw_line from txmon_raw.load_rejects order by 1")


def table_sizes(url: str) -> dict[str, int]:
    return {
        table: query(url, f"select count(*) from txmon_raw.{table}")[0][0] for table in DATA_TABLES
    }


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def minutes_file(folder: Path, name: str, first: int, last: int, count: int = 1) -> Path:
    """A counts file of one approved row a minute, 10:first to 10:last on 2025-01-01."""
    lines = [f"2025-01-01 10:{minute:02d},approved,{count}" for minute in range(first, last + 1)]
    return write(folder, name, COUNTS_HEADER + "\n".join(lines) + "\n")
