"""`txmon replay`: a file written minute by minute through the one writer, as one load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from txmon.core.errors import LoadError
from txmon.db.connection import connect
from txmon.lab.replay import ReplaySummary, replay_file

COUNTS = (
    "timestamp,status,count\n"
    "2025-07-12 10:01:30,approved,2\n"
    "2025-07-12 10:00:00,approved,5\n"
    "not a time,approved,1\n"
    "2025-07-12 10:00:10,denied,1\n"
    "2025-07-12 10:02:00,approved,-1\n"
    "2025-07-12 10:02:00,approved,4\n"
)


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(statement).fetchall()


def replay(url: str, path: Path, said: list[str], **options: Any) -> ReplaySummary:
    with connect(url) as conn:
        return replay_file(conn, path, speed=60_000, say=said.append, **options)


@pytest.fixture()
def counts_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.csv"
    path.write_text(COUNTS)
    return path


def test_minutes_are_committed_one_by_one_in_order(database_url: str, counts_file: Path) -> None:
    seen: list[int] = []  # rows another connection sees before each later minute is written

    def sleep(_: float) -> None:
        seen.append(query(database_url, "select count(*) from txmon_raw.transaction_counts")[0][0])

    said: list[str] = []
    with connect(database_url) as conn:
        summary = replay_file(conn, counts_file, speed=0.5, say=said.append, sleep=sleep)

    assert (summary.minutes, summary.rows_loaded, summary.rows_rejected) == (3, 4, 2)
    assert seen == [2, 3]  # 10:00 (two rows), then 10:01, before 10:02 is due
    assert said[-1] == "replayed 2025-07-12 10:02 (3/3 minutes): 4 rows loaded, 2 rejected"
    assert query(
        database_url,
        "select observed_at, transaction_count, load_id, line_number"
        " from txmon_raw.transaction_counts order by line_number",
    ) == [
        (datetime(2025, 7, 12, 10, 1, 30, tzinfo=UTC), 2, summary.load_id, 2),
        (datetime(2025, 7, 12, 10, 0, tzinfo=UTC), 5, summary.load_id, 3),
        (datetime(2025, 7, 12, 10, 0, 10, tzinfo=UTC), 1, summary.load_id, 5),
        (datetime(2025, 7, 12, 10, 2, tzinfo=UTC), 4, summary.load_id, 7),
    ]
    assert query(database_url, "select line_number, reason from txmon_raw.load_rejects") == [
        (4, "unparseable timestamp 'not a time'"),
        (6, "count must be a non-negative integer, got '-1'"),
    ]
    # One load for the whole file, with its totals and minutes, as `txmon loads list` shows.
    assert query(
        database_url,
        "select file_name, input_shape, rows_loaded, rows_rejected, first_minute_at,"
        " last_minute_at from txmon_raw.loads",
    ) == [
        (
            str(counts_file),
            "counts",
            4,
            2,
            datetime(2025, 7, 12, 10, 0, tzinfo=UTC),
            datetime(2025, 7, 12, 10, 2, tzinfo=UTC),
        )
    ]


def test_replaying_the_same_content_again_writes_nothing(
    database_url: str, counts_file: Path
) -> None:
    first = replay(database_url, counts_file, [])
    said: list[str] = []
    again = replay(database_url, counts_file, said)

    assert (again.skipped, again.load_id, again.rows_loaded) == (True, first.load_id, 0)
    assert f"`txmon loads remove {first.load_id}` to replay it again" in said[0]
    assert query(database_url, "select count(*) from txmon_raw.transaction_counts") == [(4,)]


def test_events_are_replayed_and_ids_stay_unique(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "transaction_id,created_at,status,amount,channel\n"
        "tx-1,2025-07-12 10:00:05,approved,10.50,web\n"
        "tx-2,2025-07-12 10:01:00,denied,3,\n"
        "tx-1,2025-07-12 10:02:00,approved,1,pos\n"
    )
    summary = replay(database_url, path, [])

    assert (summary.minutes, summary.rows_loaded, summary.rows_rejected) == (3, 2, 1)
    assert query(database_url, "select line_number, reason from txmon_raw.load_rejects") == [
        (4, f"transaction_id tx-1 already loaded (load {summary.load_id})")
    ]
    assert query(
        database_url, "select transaction_id, channel from txmon_raw.transactions order by 1"
    ) == [("tx-1", "web"), ("tx-2", None)]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("status,count\napproved,3\n", {}, "no timestamp or created_at column to replay by"),
        ("", {}, "is empty"),
        (COUNTS, {"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (COUNTS, {"speed": 0}, "--speed must be positive"),
    ],
)
def test_a_file_that_cannot_be_replayed_writes_nothing(
    database_url: str, tmp_path: Path, content: str, options: dict[str, Any], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with connect(database_url) as conn, pytest.raises(LoadError, match=message):
        replay_file(conn, path, **{"speed": 60.0, **options})

    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]
