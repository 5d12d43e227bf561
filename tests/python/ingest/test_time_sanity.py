"""Time sanity: rows far ahead of the clock or far from the other data are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest_helpers import (
    COUNTS_HEADER,
    EVENTS_HEADER,
    LoadCsv,
    load,
    query,
    rejects,
    utc,
    write,
)
from txmon.core.config import Ingest

pytest_plugins = ["ingest_fixtures"]


def july_day(folder: Path) -> Path:
    lines = [
        f"2025-07-10 {minute // 60:02d}:{minute % 60:02d},{status},5"
        for minute in range(1440)
        for status in ("approved", "failed")
    ]
    return write(folder, "july.csv", COUNTS_HEADER + "\n".join(lines) + "\n")


def test_rows_far_from_the_loaded_data_are_rejected(
    load_csv: LoadCsv, database_url: str, tmp_path: Path
) -> None:
    load(database_url, july_day(tmp_path))
    content = (
        COUNTS_HEADER
        + "2025-07-11 00:00:00,approved,5\n"  # the next minute
        + "2025-08-02 00:00:00,approved,5\n"  # the row: 22 days after the data
        + "2025-07-01 00:00:00,approved,5\n"  # 9 days before it
        + "2025-07-16 00:00:00,approved,5\n"  # within 7 days of the newest accepted row
        + "9999-12-31 00:00:00,approved,5\n"
    )
    summary = load_csv(content, "late.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 3)
    assert summary.first_rejects == [
        (
            3,
            "timestamp 2025-08-02 00:00 UTC is 22 days after the newest data (2025-07-11 00:00"
            " UTC): a gap of more than 7 day(s) is refused ([ingest] max_gap_days)",
        ),
        (
            4,
            "timestamp 2025-07-01 00:00 UTC is 9 days before the oldest data (2025-07-10 00:00"
            " UTC): a gap of more than 7 day(s) is refused ([ingest] max_gap_days)",
        ),
        (6, "timestamp '9999-12-31 00:00:00' is out of range (years 1970 to 2099)"),
    ]
    assert [row[:2] for row in rejects(database_url)] == [
        (line, reason) for line, reason in summary.first_rejects
    ]
    assert query(database_url, "select max(observed_at) from txmon_raw.transaction_counts") == [
        (utc("2025-07-16 00:00"),)
    ]


def test_rows_ahead_of_the_clock_are_rejected(database_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    stamps = [now - timedelta(minutes=5), now + timedelta(minutes=5), now + timedelta(hours=2)]
    content = COUNTS_HEADER + "".join(f"{at.isoformat()},approved,1\n" for at in stamps)
    path = write(tmp_path, "now.csv", content)
    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    [(line, reason)] = summary.first_rejects
    assert line == 4 and "ahead of the clock" in reason
    assert "at most 10 minute(s) ahead are accepted ([ingest] future_horizon_minutes)" in reason
    # The horizon is a setting.
    roomy = load(database_url, path, force=True, ingest=Ingest(future_horizon_minutes=180))
    assert (roomy.rows_loaded, roomy.rows_rejected) == (3, 0)


def test_a_gap_inside_the_first_file_is_refused_too(load_csv: LoadCsv) -> None:
    # An empty database: the first row starts the span, and each accepted row widens it.
    content = (
        COUNTS_HEADER
        + "2025-01-01 00:00,ok,1\n"
        + "2025-01-07 00:00,ok,1\n"  # 6 days: accepted, the span now ends here
        + "2025-01-13 00:00,ok,1\n"  # 6 more: accepted
        + "2025-01-28 00:00,ok,1\n"  # 15 days after: refused
        + "2025-01-19 12:00,ok,1\n"  # 6.5 days after the newest accepted: accepted
    )
    summary = load_csv(content, "gaps.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (4, 1)
    assert summary.first_rejects[0][0] == 5
    assert (summary.first_minute_at, summary.last_minute_at) == (
        utc("2025-01-01 00:00"),
        utc("2025-01-19 12:00"),
    )


def test_events_are_judged_by_created_at(load_csv: LoadCsv) -> None:
    content = (
        EVENTS_HEADER
        + "tx-1,2025-01-01 10:00,approved,1\n"
        + "tx-2,2025-03-01 10:00,approved,1\n"
        + "tx-3,2025-01-01 10:01,approved,1\n"
    )
    summary = load_csv(content, "events.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert "a gap of more than 7 day(s)" in summary.first_rejects[0][1]
