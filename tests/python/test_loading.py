"""Loading CSV files into the raw tables: shapes, rejects, idempotence, atomicity, speed."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers import TXMON
from txmon.core.config import Ingest
from txmon.core.errors import LoadError
from txmon.db.connection import connect, ensure_raw_tables
from txmon.ingest import loading
from txmon.ingest.loading import LoadSummary, format_summary, load_file
from txmon.lab.ingest_speed import ingest_throughput, write_counts_file

COUNTS_HEADER = "timestamp,status,count\n"
EVENTS_HEADER = "transaction_id,created_at,status,amount\n"
RAW_TABLES = {"loads", "transaction_counts", "transactions", "load_rejects", "load_removals"}
DATA_TABLES = {"loads", "transaction_counts", "transactions", "load_rejects"}


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


# --- good files -----------------------------------------------------------------------------


def test_counts_file_lands_with_types_and_repeated_rows_kept(
    database_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "counts.csv",
        COUNTS_HEADER
        + "2025-01-01 10:00,approved,120\n"
        + "2025-01-01 10:00, DENIED ,7\n"
        + "2025-01-01 10:00,approved,5\n"
        + "2025-01-01 10:01:30,Approved,0\n",
    )
    summary = load(database_url, path)

    assert (summary.input_shape, summary.rows_loaded, summary.rows_rejected) == ("counts", 4, 0)
    assert summary.skipped is False and summary.first_rejects == []
    assert counts(database_url) == [
        (utc("2025-01-01 10:00"), "approved", 120, 2),
        (utc("2025-01-01 10:00"), "denied", 7, 3),
        (utc("2025-01-01 10:00"), "approved", 5, 4),
        (utc("2025-01-01 10:01:30"), "approved", 0, 5),
    ]
    total = query(
        database_url,
        "select sum(transaction_count) from txmon_raw.transaction_counts where status = 'approved'",
    )
    assert total == [(125,)]
    loads = query(
        database_url,
        "select load_id, file_name, file_sha256, input_shape, rows_loaded, rows_rejected,"
        " source_timezone, is_forced from txmon_raw.loads",
    )
    assert len(loads) == 1
    load_id, file_name, sha256, shape, loaded, rejected, zone, forced = loads[0]
    assert (load_id, file_name, shape, loaded, rejected) == (
        summary.load_id,
        str(path),
        "counts",
        4,
        0,
    )
    assert len(sha256) == 64 and (zone, forced) == ("UTC", False)
    assert query(database_url, "select distinct load_id from txmon_raw.transaction_counts") == [
        (summary.load_id,)
    ]
    assert "4 rows loaded, 0 rejected" in summary.text


def test_header_is_case_insensitive_spaced_and_in_any_order(
    database_url: str, tmp_path: Path
) -> None:
    # A BOM and CRLF line ends, as spreadsheet exports write them.
    content = "\ufeff Count , STATUS,TimeStamp \r\n7,approved,2025-01-01 10:00\r\n\r\n"
    summary = load(database_url, write(tmp_path, "counts.csv", content))

    assert (summary.input_shape, summary.rows_loaded, summary.rows_rejected) == ("counts", 1, 0)
    assert counts(database_url) == [(utc("2025-01-01 10:00"), "approved", 7, 2)]


def test_events_file_with_all_optional_columns(database_url: str, tmp_path: Path) -> None:
    content = (
        "status,amount,created_at,transaction_id,channel,product,acquirer,card_type,"
        "auth_code,duration_ms\n"
        "APPROVED,10.50,2025-01-01 10:00:05,tx-1,web,credit,acme,visa,000123,250\n"
        'denied,-3,2025-01-01T10:00:06Z,tx-2,"pos, in store",,,,,\n'
    )
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.input_shape, summary.rows_loaded, summary.rows_rejected) == ("events", 2, 0)
    rows = query(
        database_url,
        "select transaction_id, created_at, status, amount, channel, product, acquirer,"
        " card_type, auth_code, duration_ms, line_number, load_id"
        " from txmon_raw.transactions order by transaction_id",
    )
    assert rows == [
        ("tx-1", utc("2025-01-01 10:00:05"), "approved", Decimal("10.50"), "web", "credit",
         "acme", "visa", "000123", 250, 2, summary.load_id),
        ("tx-2", utc("2025-01-01 10:00:06"), "denied", Decimal("-3.00"), "pos, in store", None,
         None, None, None, None, 3, summary.load_id),
    ]  # fmt: skip


def test_events_file_with_required_columns_only(database_url: str, tmp_path: Path) -> None:
    content = EVENTS_HEADER + "tx-1,2025-01-01 10:00,approved,1\ntx-2,2025-01-01 10:01,denied,2.5\n"
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.input_shape, summary.rows_loaded) == ("events", 2)
    assert query(
        database_url,
        "select transaction_id, amount, channel, duration_ms from txmon_raw.transactions"
        " order by 1",
    ) == [("tx-1", Decimal("1.00"), None, None), ("tx-2", Decimal("2.50"), None, None)]


def test_header_only_file_loads_nothing(database_url: str, tmp_path: Path) -> None:
    summary = load(database_url, write(tmp_path, "counts.csv", COUNTS_HEADER))

    assert (summary.rows_loaded, summary.rows_rejected, summary.skipped) == (0, 0, False)
    assert table_sizes(database_url)["loads"] == 1


def test_unknown_statuses_are_accepted_and_normalised(database_url: str, tmp_path: Path) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01 10:00,chargeback_pending,3\n"
        + "2025-01-01 10:00,  Timeout Retry.v2-b ,4\n"
        + "2025-01-01 10:00,Aprovação,5\n"
    )
    summary = load(database_url, write(tmp_path, "counts.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 0)
    assert [row[1] for row in counts(database_url)] == [
        "chargeback_pending",
        "timeout retry.v2-b",
        "aprovação",
    ]


def test_out_of_order_timestamps_are_accepted(database_url: str, tmp_path: Path) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01 10:05,approved,1\n"
        + "2025-01-01 09:00,approved,2\n"
        + "2025-01-01 10:01,approved,3\n"
    )
    summary = load(database_url, write(tmp_path, "counts.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 0)
    assert [row[0] for row in counts(database_url)] == [
        utc("2025-01-01 10:05"),
        utc("2025-01-01 09:00"),
        utc("2025-01-01 10:01"),
    ]


def test_load_is_committed_when_load_file_returns(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + "2025-01-01 10:00,approved,1\n")
    with connect(database_url) as conn:
        load_file(conn, path)
        # Another connection sees the load while this one is still open.
        assert table_sizes(database_url)["transaction_counts"] == 1


# --- rejected rows ------------------------------------------------------------------------

GOOD_COUNT = "2025-01-01 10:00,approved,1"
GOOD_EVENT_BEFORE = "tx-a,2025-01-01 10:00,approved,1"
GOOD_EVENT_AFTER = "tx-b,2025-01-01 10:01,approved,2"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2025-13-45 10:00,approved,5", "unparseable timestamp '2025-13-45 10:00'"),
        ("yesterday,approved,5", "unparseable timestamp 'yesterday'"),
        ("2025-01-01,approved,5", "unparseable timestamp '2025-01-01'"),
        ("01/02/2025 10:00,approved,5", "unparseable timestamp '01/02/2025 10:00'"),
        ("2025-01-01 10:00+25:00,approved,5", "unparseable timestamp '2025-01-01 10:00+25:00'"),
        (",approved,5", "empty timestamp"),
        ("2025-01-01 10:00,approved,-3", "count must be a non-negative integer, got '-3'"),
        ("2025-01-01 10:00,approved,2.5", "count must be a non-negative integer, got '2.5'"),
        ("2025-01-01 10:00,approved,1e3", "count must be a non-negative integer, got '1e3'"),
        ("2025-01-01 10:00,approved,", "empty count"),
        (
            "2025-01-01 10:00,approved,9223372036854775808",
            "count '9223372036854775808' is larger than the maximum 9,223,372,036,854,775,807",
        ),
        ("2025-01-01 10:00,,5", "empty status"),
        ("2025-01-01 10:00,   ,5", "empty status"),
        ("2025-01-01 10:00,approved,5,extra", "expected 3 columns, got 4"),
        ("2025-01-01 10:00,approved", "expected 3 columns, got 2"),
        (
            "2025-01-01 10:00,appr;oved,5",
            "status 'appr;oved' has characters other than letters, digits, '_', '-', '.' and ' '",
        ),
        ("2025-01-01 10:00," + "a" * 65 + ",5", "status is longer than 64 characters"),
        (
            '2025-01-01 10:00,"approved,5',
            "malformed CSV quoting: unexpected end of data",
        ),
        ("timestamp,status,count", "repeated header line"),
    ],
)
def test_bad_counts_row_is_rejected_and_neighbours_load(
    database_url: str, tmp_path: Path, line: str, reason: str
) -> None:
    content = f"{COUNTS_HEADER}{GOOD_COUNT}\n{line}\n{GOOD_COUNT}\n"
    summary = load(database_url, write(tmp_path, "counts.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert summary.first_rejects == [(3, reason)]
    assert rejects(database_url) == [(3, reason, line)]
    assert [row[3] for row in counts(database_url)] == [2, 4]
    assert query(database_url, "select rows_loaded, rows_rejected from txmon_raw.loads") == [(2, 1)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",2025-01-01 10:00,approved,1", "empty transaction_id"),
        (
            "x" * 129 + ",2025-01-01 10:00,approved,1",
            "transaction_id is longer than 128 characters",
        ),
        ("tx-1,2025-02-30 10:00,approved,1", "unparseable timestamp '2025-02-30 10:00'"),
        ("tx-1,2025-01-01 10:00,,1", "empty status"),
        ("tx-1,2025-01-01 10:00,approved,abc", "amount must be a decimal number, got 'abc'"),
        ("tx-1,2025-01-01 10:00,approved,", "amount must be a decimal number, got ''"),
        ("tx-1,2025-01-01 10:00,approved,NaN", "amount must be a decimal number, got 'NaN'"),
        ("tx-1,2025-01-01 10:00,approved,1,000", "expected 4 columns, got 5"),
        ("tx-1,2025-01-01 10:00,approved,1.005", "amount '1.005' has more than 2 decimal places"),
        (
            "tx-1,2025-01-01 10:00,approved,12345678901234567",
            "amount '12345678901234567' is too large (at most 16 digits before the point)",
        ),
    ],
)
def test_bad_events_row_is_rejected_and_neighbours_load(
    database_url: str, tmp_path: Path, line: str, reason: str
) -> None:
    content = f"{EVENTS_HEADER}{GOOD_EVENT_BEFORE}\n{line}\n{GOOD_EVENT_AFTER}\n"
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(database_url) == [(3, reason, line)]
    assert query(database_url, "select transaction_id from txmon_raw.transactions order by 1") == [
        ("tx-a",),
        ("tx-b",),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-5", "duration_ms must be a non-negative integer, got '-5'"),
        ("1.5", "duration_ms must be a non-negative integer, got '1.5'"),
        ("fast", "duration_ms must be a non-negative integer, got 'fast'"),
        ("2147483648", "duration_ms '2147483648' is larger than the maximum 2,147,483,647"),
    ],
)
def test_bad_duration_is_rejected(
    database_url: str, tmp_path: Path, value: str, reason: str
) -> None:
    content = (
        "transaction_id,created_at,status,amount,duration_ms\n"
        "tx-a,2025-01-01 10:00,approved,1,10\n"
        f"tx-1,2025-01-01 10:00,approved,1,{value}\n"
        "tx-b,2025-01-01 10:00,approved,1,\n"
    )
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(database_url)[0][:2] == (3, reason)


def test_largest_bigint_count_is_accepted(database_url: str, tmp_path: Path) -> None:
    content = COUNTS_HEADER + "2025-01-01 10:00,approved,9223372036854775807\n"
    summary = load(database_url, write(tmp_path, "counts.csv", content))

    assert summary.rows_loaded == 1
    assert counts(database_url)[0][2] == 2**63 - 1


def test_duplicate_transaction_id_within_a_file(database_url: str, tmp_path: Path) -> None:
    content = (
        EVENTS_HEADER
        + "tx-0,2025-01-01 10:00,approved,1\n"
        + "tx-1,2025-01-01 10:00,approved,1\n"
        + "tx-2,2025-01-01 10:00,approved,1\n"
        + "tx-1,2025-01-01 10:05,denied,9\n"
    )
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 1)
    assert rejects(database_url) == [
        (5, "duplicate transaction_id tx-1 (first on line 3)", "tx-1,2025-01-01 10:05,denied,9")
    ]
    kept = query(
        database_url, "select status from txmon_raw.transactions where transaction_id = 'tx-1'"
    )
    assert kept == [("approved",)]


def test_transaction_id_loaded_by_an_earlier_file(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "BATCH_ROWS", 2)  # the clash falls in a later batch
    first = load(
        database_url,
        write(tmp_path, "a.csv", EVENTS_HEADER + "tx-1,2025-01-01 10:00,approved,1\n"),
    )
    content = (
        EVENTS_HEADER
        + "tx-2,2025-01-01 10:01,approved,1\n"
        + "tx-3,2025-01-01 10:01,approved,1\n"
        + "tx-1,2025-01-01 10:02,approved,1\n"
        + "tx-4,2025-01-01 10:03,approved,1\n"
    )
    second = load(database_url, write(tmp_path, "b.csv", content))

    assert (second.rows_loaded, second.rows_rejected) == (3, 1)
    reason = f"transaction_id tx-1 already loaded (load {first.load_id})"
    assert second.first_rejects == [(4, reason)]
    assert query(
        database_url,
        "select reason, load_id from txmon_raw.load_rejects",
    ) == [(reason, second.load_id)]
    assert query(
        database_url, "select transaction_id, load_id from txmon_raw.transactions order by 1"
    ) == [
        ("tx-1", first.load_id),
        ("tx-2", second.load_id),
        ("tx-3", second.load_id),
        ("tx-4", second.load_id),
    ]


def test_many_rejects_and_rows_across_batches(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "BATCH_ROWS", 7)
    lines = [
        f"2025-01-01 10:{minute:02d},approved,{minute}" if minute % 3 else "bad,approved,1"
        for minute in range(60)
    ]
    summary = load(database_url, write(tmp_path, "c.csv", COUNTS_HEADER + "\n".join(lines)))

    assert (summary.rows_loaded, summary.rows_rejected) == (40, 20)
    assert len(summary.first_rejects) == loading.FIRST_REJECTS
    assert table_sizes(database_url)["load_rejects"] == 20
    assert "and 10 more" in format_summary(summary)


# --- hostile input ------------------------------------------------------------------------


def test_hostile_strings_are_data_or_rejects_and_break_nothing(
    database_url: str, tmp_path: Path
) -> None:
    sql = "'; drop table txmon_raw.loads; --"
    formula = "=cmd|' /C calc'!A0"
    huge = "tx-7,2025-01-01 10:00,approved,1,web," + "y" * 50_000
    events = (
        EVENTS_HEADER.strip() + ",channel,product\n"
        f'"{sql}",2025-01-01 10:00,approved,1,"{formula}",x\n'  # line 2: data
        f"tx-2,2025-01-01 10:00,{sql},1,web,x\n"  # line 3: bad status
        f"tx-3,2025-01-01 10:00,{formula},1,web,x\n"  # line 4: bad status
        "tx-4,2025-01-01 10:00,approved,1,web\tapp,\\N\n"  # line 5: tab and \N are data
        "tx-\x005,2025-01-01 10:00,approved,1,web,x\n"  # line 6: NUL byte
        "tx-6,2025-01-01 10:00,approved,1,we\x07b,x\n"  # line 7: control character
        f"{huge}\n"  # line 8: a huge line
        "tx-8,2025-01-01 10:00,approved,1,w\reb,x\n"  # lines 9 and 10: a CR ends a line
        "$$,2025-01-01 10:00,approved,1,web,x\n"  # line 11: data
    )
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
        conn.execute("create table public.bystander (id int)")
        conn.execute("insert into public.bystander values (1)")
    summary = load(database_url, write(tmp_path, "hostile.csv", events))

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 7)
    stored = query(
        database_url,
        "select transaction_id, channel, product from txmon_raw.transactions order by line_number",
    )
    assert stored == [(sql, formula, "x"), ("tx-4", "web\tapp", "\\N"), ("$$", "web", "x")]
    found = rejects(database_url)
    assert [(line, reason.split(" ")[0]) for line, reason, _ in found] == [
        (3, "status"),
        (4, "status"),
        (6, "line"),
        (7, "line"),
        (8, "line"),
        (9, "expected"),
        (10, "expected"),
    ]
    assert found[2][1:] == ("line contains NUL bytes", "tx-5,2025-01-01 10:00,approved,1,web,x")
    assert found[3][1] == "line contains control character U+0007"
    assert found[4][1] == f"line is {len(huge):,} characters long, more than 10,000"
    assert found[4][2] == huge[:2_000]
    assert found[5][1:] == ("expected 6 columns, got 5", "tx-8,2025-01-01 10:00,approved,1,w")
    assert found[6][1:] == ("expected 6 columns, got 2", "eb,x")
    tables = query(
        database_url,
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('public', 'txmon_raw') and c.relkind in ('r', 'p')"
        " and not c.relispartition order by 1, 2",  # day partitions come and go with the data
    )
    assert tables == [("public", "bystander")] + [("txmon_raw", t) for t in sorted(RAW_TABLES)]
    assert query(database_url, "select id from public.bystander") == [(1,)]
    assert query(database_url, "select count(*) from txmon_raw.loads") == [(1,)]


def test_hostile_counts_file_name_and_values(database_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x'; drop table txmon_raw.loads; --.csv",
        COUNTS_HEADER + "2025-01-01 10:00,approved,1); delete from txmon_raw.loads; --\n",
    )
    summary = load(database_url, path)

    assert summary.rows_rejected == 1
    assert query(database_url, "select file_name from txmon_raw.loads") == [(str(path),)]
    assert query(database_url, "select file_name from txmon_raw.load_rejects") == [(str(path),)]


# --- idempotence --------------------------------------------------------------------------

IDEMPOTENT = COUNTS_HEADER + "2025-01-01 10:00,approved,10\n2025-01-01 10:00,denied,x\n"


def test_same_file_twice_is_skipped(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", IDEMPOTENT)
    first = load(database_url, path)
    copy = write(tmp_path, "renamed copy.csv", IDEMPOTENT)  # same content, other name
    second = load(database_url, copy)

    assert second.skipped is True and second.load_id == first.load_id
    assert (second.rows_loaded, second.rows_rejected) == (0, 0)
    assert "already loaded as load" in second.text and "--force" in second.text
    assert table_sizes(database_url) == {
        "loads": 1,
        "transaction_counts": 1,
        "transactions": 0,
        "load_rejects": 1,
    }


def test_force_replaces_the_earlier_load(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", IDEMPOTENT)
    first = load(database_url, path)
    forced = load(database_url, path, force=True)
    again = load(database_url, path, force=True)

    assert forced.replaced_load_ids == [first.load_id]
    assert again.replaced_load_ids == [forced.load_id]
    assert (again.skipped, again.rows_loaded, again.rows_rejected) == (False, 1, 1)
    assert query(database_url, "select load_id, is_forced from txmon_raw.loads") == [
        (again.load_id, True)
    ]
    assert query(
        database_url,
        "select sum(transaction_count), min(load_id) from txmon_raw.transaction_counts",
    ) == [(10, again.load_id)]
    assert table_sizes(database_url)["load_rejects"] == 1


def test_forced_events_reload_does_not_clash_with_itself(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", EVENTS_HEADER + "tx-1,2025-01-01 10:00,approved,1\n")
    load(database_url, path)
    forced = load(database_url, path, force=True)

    assert (forced.rows_loaded, forced.rows_rejected) == (1, 0)
    assert table_sizes(database_url)["transactions"] == 1


def test_edited_file_at_same_path_gets_a_note(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    first = load(database_url, path)
    write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n" + GOOD_COUNT + "\n")
    second = load(database_url, path)

    assert second.skipped is False
    assert second.warnings and f"load(s) {first.load_id}" in second.warnings[0]


# --- time zones ---------------------------------------------------------------------------


def test_naive_timestamps_are_read_in_the_given_time_zone(
    database_url: str, tmp_path: Path
) -> None:
    content = (
        COUNTS_HEADER
        + "2025-03-10 10:00,approved,1\n"  # São Paulo is UTC-3 (no DST since 2019)
        + "2019-01-10 10:00,approved,1\n"  # UTC-2 under the old summer time
        + "2018-11-04 00:30,approved,1\n"  # skipped when clocks moved forward
        + "2019-02-16 23:30,approved,1\n"  # happened twice when clocks moved back
    )
    summary = load(
        database_url,
        write(tmp_path, "counts.csv", content),
        timezone="America/Sao_Paulo",
        ingest=Ingest(max_gap_days=3000),  # the rows lie six years apart
    )

    assert [row[0] for row in counts(database_url)] == [
        utc("2025-03-10 13:00"),
        utc("2019-01-10 12:00"),
    ]
    assert summary.first_rejects == [
        (
            4,
            "local time '2018-11-04 00:30' does not exist in America/Sao_Paulo "
            "(daylight-saving change); give it a UTC offset",
        ),
        (
            5,
            "local time '2019-02-16 23:30' happens twice in America/Sao_Paulo "
            "(daylight-saving change); give it a UTC offset",
        ),
    ]
    assert query(database_url, "select source_timezone from txmon_raw.loads") == [
        ("America/Sao_Paulo",)
    ]


def test_offsets_are_respected(database_url: str, tmp_path: Path) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01T10:00:00+02:00,approved,1\n"
        + "2025-01-01 10:00Z,approved,1\n"
        + "2025-01-01 10:00:00.250-03:00,approved,1\n"
        + "2025-01-01t10:00:00+0530,approved,1\n"
    )
    load(database_url, write(tmp_path, "counts.csv", content), timezone="America/Sao_Paulo")

    assert [row[0] for row in counts(database_url)] == [
        utc("2025-01-01 08:00"),
        utc("2025-01-01 10:00"),
        utc("2025-01-01 13:00:00.250"),
        utc("2025-01-01 04:30"),
    ]


def test_unknown_time_zone_writes_nothing(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    with pytest.raises(LoadError, match="unknown time zone 'Mars/Olympus'"):
        load(database_url, path, timezone="Mars/Olympus")

    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


# --- files that cannot be loaded at all ---------------------------------------------------


def test_missing_file(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"nope\.csv does not exist"):
        load(database_url, tmp_path / "nope.csv")


def test_directory(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is a directory"):
        load(database_url, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER)
    path.chmod(0)
    with pytest.raises(LoadError, match="cannot be read"):
        load(database_url, path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; expected 'timestamp,status,count'"),
        ("\n \n\n", "is empty"),
        ("\nts,status,count\n", "has a blank first line"),
        (
            "timestamp,status,count,region\n",
            "unrecognised header 'timestamp,status,count,region' (unknown column(s) 'region')",
        ),
        ("timestamp,status\n", "unrecognised header 'timestamp,status' (missing count)"),
        (
            "transaction_id,created_at,status\n",
            "unrecognised header 'transaction_id,created_at,status' (missing amount)",
        ),
        (
            "transaction_id,created_at,status,amount,colour\n",
            "(unknown column(s) 'colour')",
        ),
        ("timestamp,status,status\n", "names 'status' more than once"),
        ("2025-01-01 10:00,approved,5\n", "has no header line"),
        ('"timestamp,status\n', "unreadable header: malformed CSV quoting"),
    ],
)
def test_unusable_header(database_url: str, tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", content + GOOD_COUNT + "\n" if content.strip() else content)
    with pytest.raises(LoadError) as raised:
        load(database_url, path)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    if "unrecognised" in message:
        assert "expected 'timestamp,status,count' (counts)" in str(raised.value)
    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress((COUNTS_HEADER + GOOD_COUNT + "\n").encode()), "is a gzip-compressed file"),
        ((COUNTS_HEADER + GOOD_COUNT + "\n").encode("utf-16"), "is UTF-16 text: save it as UTF-8"),
        (
            (COUNTS_HEADER + GOOD_COUNT + "\n").encode("utf-16-le"),
            "is not UTF-8 text (NUL bytes in line 1): a binary file or UTF-16 text?",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "is a PNG image, not CSV text"),
        (b"PK\x03\x04\x14\x00\x06\x00", "is a ZIP archive or an Excel .xlsx workbook"),
        (
            (COUNTS_HEADER + "2025-01-01 10:00,aprova\xe7\xe3o,1\n").encode("latin-1"),
            "is not UTF-8 text: invalid byte 0xE7 on line 2 (Latin-1 or Windows-1252 text?)",
        ),
        (
            # CR line ends: the line number still counts them.
            ("timestamp,status,count\r" + GOOD_COUNT + "\r" * 3).encode()
            + "2025-01-01 10:00,n\xe3o,1\r".encode("cp1252"),
            "invalid byte 0xE3 on line 5",
        ),
        (
            (COUNTS_HEADER + GOOD_COUNT + "\n").encode() + b"\x00\x01\x02\xff\xfe" * 50,
            "invalid byte 0xFF on line 3 (NUL bytes: a binary file or UTF-16 text?)",
        ),
        ((COUNTS_HEADER + "2025-01-01 10:00,ok,1\n").encode() + b"\xe2\x82", "ends inside a"),
    ],
    ids=["gzip", "utf-16", "utf-16-no-bom", "png", "zip", "latin-1", "cr-line-number", "binary",
         "cut-short"],
)  # fmt: skip
def test_file_that_is_not_utf8_text_names_the_cause(
    database_url: str, tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(LoadError) as raised:
        load(database_url, write(tmp_path, "counts.csv", content))

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


def test_a_file_without_line_ends_is_refused_for_its_real_cause(
    database_url: str, tmp_path: Path
) -> None:
    # A 3 MB single line (a JSON export, say): no header, and no quadratic work to say so.
    content = "[" + ",".join('{"status": "approved"}' for _ in range(130_000)) + "]"
    with pytest.raises(LoadError) as raised:
        load(database_url, write(tmp_path, "export.csv", content))

    assert f"its first line is {len(content):,} bytes long, no CSV header" in str(raised.value)


def test_many_columns_named_twice_are_named_once(database_url: str, tmp_path: Path) -> None:
    header = ",".join(["timestamp", "status", "count"] * 300)
    with pytest.raises(LoadError, match="names 'count', 'status', 'timestamp' more than once"):
        load(database_url, write(tmp_path, "wide.csv", header + "\n"))


# --- atomicity ----------------------------------------------------------------------------


def test_failure_part_way_rolls_everything_back(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
    lines = [f"2025-01-01 10:{minute:02d},approved,1" for minute in range(60)]
    lines[5] = "bad,approved,1"
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + "\n".join(lines) + "\n")
    monkeypatch.setattr(loading, "BATCH_ROWS", 10)  # several COPY batches happen first
    monkeypatch.setattr(loading, "READ_CHUNK", 64)  # the file arrives in many small chunks
    real_read_chunks = loading._read_chunks
    calls: list[Path] = []
    yielded: list[bytes] = []

    def failing_read_chunks(source: Path) -> Iterator[bytes]:
        calls.append(source)
        for chunk in real_read_chunks(source):
            if len(calls) > 2:  # the loading pass, after the hash and the header were read
                if len(yielded) * 64 > 45 * 28:  # about line 45 of 28-byte lines
                    raise RuntimeError("disk vanished")
                yielded.append(chunk)
            yield chunk

    monkeypatch.setattr(loading, "_read_chunks", failing_read_chunks)
    with pytest.raises(RuntimeError, match="disk vanished"), connect(database_url) as conn:
        load_file(conn, path)

    assert len(yielded) * 64 > 3 * loading.BATCH_ROWS * 28
    assert table_sizes(database_url) == dict.fromkeys(DATA_TABLES, 0)


def test_file_changing_during_the_load_writes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    real_read_chunks = loading._read_chunks
    calls = []

    def appended_read_chunks(source: Path) -> Iterator[bytes]:
        calls.append(source)
        yield from real_read_chunks(source)
        if len(calls) > 2:  # the loading pass, after the hash and the header were read
            yield b"2025-01-01 10:01,approved,1\n"

    monkeypatch.setattr(loading, "_read_chunks", appended_read_chunks)
    with pytest.raises(LoadError, match="changed while it was being loaded"):
        load(database_url, path)

    assert table_sizes(database_url) == dict.fromkeys(DATA_TABLES, 0)


# --- speed --------------------------------------------------------------------------------


def test_26000_row_counts_file_loads_quickly(database_url: str, tmp_path: Path) -> None:
    statuses = ["approved", "denied", "failed", "reversed", "pending"]
    lines = [
        f"2025-01-{1 + minute // 1440:02d} {minute // 60 % 24:02d}:{minute % 60:02d},"
        f"{status},{minute % 97}"
        for minute in range(5_200)
        for status in statuses
    ]
    path = write(tmp_path, "big.csv", COUNTS_HEADER + "\n".join(lines) + "\n")
    with connect(database_url) as conn:
        ensure_raw_tables(conn)  # time the load, not the first creation of the tables

    started = time.monotonic()
    summary = load(database_url, path)
    elapsed = time.monotonic() - started

    assert (summary.rows_loaded, summary.rows_rejected) == (26_000, 0)
    assert elapsed < 5, f"26,000 rows took {elapsed:.2f}s"


# --- line ends ----------------------------------------------------------------------------

LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def with_line_ends(lines: list[str], style: str) -> str:
    """The lines joined by one style's line end, or for "mixed" by each style in turn."""
    if style != "mixed":
        return "".join(line + LINE_ENDS[style] for line in lines)
    ends = ["\r\n", "\n", "\r", "\n\n", "\r\r\n"]  # blank lines in between are skipped
    return "".join(line + ends[number % len(ends)] for number, line in enumerate(lines))


@pytest.mark.parametrize("style", ["lf", "crlf", "cr", "mixed"])
def test_every_line_end_style_loads_the_same_rows(
    database_url: str, tmp_path: Path, style: str
) -> None:
    lines = ["timestamp,status,count"] + [
        f"2025-01-01 {minute // 60:02d}:{minute % 60:02d},{status},{minute}"
        for minute in range(300)
        for status in ("approved", "denied")
    ]
    lines[10] = "2025-01-01 00:05,approved,-1"  # one reject, at the same line in every style
    path = write(tmp_path, f"{style}.csv", with_line_ends(lines, style))
    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (599, 1)
    reject_line = rejects(database_url)[0][0]
    stored = counts(database_url)
    if style == "mixed":  # blank lines shift the numbers; the rows are the same
        assert reject_line > 11
        stored = [(*row[:3], None) for row in stored]
    else:
        assert reject_line == 11
    expected = [
        (utc(f"2025-01-01 {m // 60:02d}:{m % 60:02d}"), status, m, None if style == "mixed" else n)
        for n, (m, status) in enumerate(
            ((m, s) for m in range(300) for s in ("approved", "denied")), start=2
        )
        if n != 11
    ]
    assert stored == expected


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1 << 20])
def test_split_lines_is_the_same_whatever_the_chunks(chunk_size: int) -> None:
    data = b"a,b\r\nc\rd\n\re\r\r\nf\n\n" + b"g" * 50 + b"\r\n\xc3\xa3o\rlast"
    chunks = [data[start : start + chunk_size] for start in range(0, len(data), chunk_size)]

    assert list(loading.split_lines(chunks)) == [
        (b"a,b", 3), (b"c", 1), (b"d", 1), (b"", 0), (b"e", 1), (b"", 0), (b"f", 1), (b"", 0),
        (b"g" * 50, 50), (b"\xc3\xa3o", 3), (b"last", 4),
    ]  # fmt: skip


def test_split_lines_keeps_only_the_start_of_a_huge_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "MAX_LINE_BYTES", 10)
    chunks = [b"x" * 7, b"y" * 7, b"z" * 7 + b"\nshort\n", b"w" * 30]

    assert list(loading.split_lines(chunks)) == [
        (b"x" * 7 + b"y" * 3, 21),
        (b"short", 5),
        (b"w" * 10, 30),
    ]


@pytest.mark.parametrize("style", ["cr", "mixed"])
def test_cr_line_ends_load_in_linear_time(database_url: str, tmp_path: Path, style: str) -> None:
    # 40,000 CR-ended rows took 67 s when the whole file was read as one line.
    lines = ["timestamp,status,count"] + [
        f"2025-01-{1 + minute // 1440:02d} {minute // 60 % 24:02d}:{minute % 60:02d},ok,1"
        for minute in range(40_000)
    ]
    path = write(tmp_path, "cr.csv", with_line_ends(lines, style))
    with connect(database_url) as conn:
        ensure_raw_tables(conn)

    # Quadratic reading took 67 s here; linear takes about 2 s. The time is a figure for the
    # benchmark (txmon bench --ingest-mb), not an assertion: this checks the rows.
    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (40_000, 0)


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("TXMON_SKIP_BIG_FILES")), reason="TXMON_SKIP_BIG_FILES is set"
)
@pytest.mark.parametrize("style", ["lf", "crlf", "cr", "mixed"])
def test_100_mb_file_of_each_line_end_style(database_url: str, tmp_path: Path, style: str) -> None:
    # About 3.7 million rows per style: 95 to 120 s each on a shared 2-core machine (PostgreSQL
    # 15 and 18), most of it in COPY. ingest_bench.ingest_throughput prints rows per second.
    path = tmp_path / f"big-{style}.csv"
    rows_written, total = write_counts_file(path, 100, style)
    assert path.stat().st_size >= 100 * 2**20

    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (rows_written, 0)
    assert query(
        database_url,
        "select count(*), sum(transaction_count), min(line_number), max(line_number)"
        " from txmon_raw.transaction_counts",
    ) == [(rows_written, total, 2, rows_written + 1)]


def test_ingest_throughput_reports_every_style(server_url: str, tmp_path: Path) -> None:
    said: list[str] = []
    results = ingest_throughput(server_url, tmp_path, 0.2, said.append)

    assert [result.style for result in results] == ["lf", "crlf", "cr", "mixed"]
    assert all(result.rows > 5_000 and result.rows_per_second > 0 for result in results)
    assert len(said) == 5 and all("rows/s" in line for line in said[1:])
    assert list(tmp_path.iterdir()) == []


# --- time sanity --------------------------------------------------------------------------


def july_day(folder: Path) -> Path:
    lines = [
        f"2025-07-10 {minute // 60:02d}:{minute % 60:02d},{status},5"
        for minute in range(1440)
        for status in ("approved", "failed")
    ]
    return write(folder, "july.csv", COUNTS_HEADER + "\n".join(lines) + "\n")


def test_rows_far_from_the_loaded_data_are_rejected(database_url: str, tmp_path: Path) -> None:
    load(database_url, july_day(tmp_path))
    content = (
        COUNTS_HEADER
        + "2025-07-11 00:00:00,approved,5\n"  # the next minute
        + "2025-08-02 00:00:00,approved,5\n"  # the row: 22 days after the data
        + "2025-07-01 00:00:00,approved,5\n"  # 9 days before it
        + "2025-07-16 00:00:00,approved,5\n"  # within 7 days of the newest accepted row
        + "9999-12-31 00:00:00,approved,5\n"
    )
    summary = load(database_url, write(tmp_path, "late.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 3)
    assert summary.first_rejects == [
        (
            3,
            "timestamp 2025-08-02 00:00 UTC is 22.0 days after the newest data (2025-07-11 00:00"
            " UTC): a gap of more than 7 day(s) is refused ([ingest] max_gap_days)",
        ),
        (
            4,
            "timestamp 2025-07-01 00:00 UTC is 9.0 days before the oldest data (2025-07-10 00:00"
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


def test_a_gap_inside_the_first_file_is_refused_too(database_url: str, tmp_path: Path) -> None:
    # An empty database: the first row starts the span, and each accepted row widens it.
    content = (
        COUNTS_HEADER
        + "2025-01-01 00:00,ok,1\n"
        + "2025-01-07 00:00,ok,1\n"  # 6 days: accepted, the span now ends here
        + "2025-01-13 00:00,ok,1\n"  # 6 more: accepted
        + "2025-01-28 00:00,ok,1\n"  # 15 days after: refused
        + "2025-01-19 12:00,ok,1\n"  # 6.5 days after the newest accepted: accepted
    )
    summary = load(database_url, write(tmp_path, "gaps.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (4, 1)
    assert summary.first_rejects[0][0] == 5
    assert (summary.first_minute_at, summary.last_minute_at) == (
        utc("2025-01-01 00:00"),
        utc("2025-01-19 12:00"),
    )


def test_events_are_judged_by_created_at(database_url: str, tmp_path: Path) -> None:
    content = (
        EVENTS_HEADER
        + "tx-1,2025-01-01 10:00,approved,1\n"
        + "tx-2,2025-03-01 10:00,approved,1\n"
        + "tx-3,2025-01-01 10:01,approved,1\n"
    )
    summary = load(database_url, write(tmp_path, "events.csv", content))

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert "a gap of more than 7 day(s)" in summary.first_rejects[0][1]


def test_txmon_load_reads_the_ingest_settings(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "spread.csv",
        COUNTS_HEADER + "2025-01-01 00:00,ok,1\n2025-01-20 00:00,ok,1\n",
    )
    settings = write(tmp_path, "txmon.toml", "[ingest]\nmax_gap_days = 30\n")
    loaded = subprocess.run(
        [TXMON, "load", str(path), "--config", str(settings)],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "2 rows loaded, 0 rejected" in loaded.stdout

    strict = write(tmp_path, "strict.toml", "[ingest]\nmax_gap_days = 1\n")
    later = write(tmp_path, "later.csv", COUNTS_HEADER + "2025-01-23 00:00,ok,1\n")
    refused = subprocess.run(
        [TXMON, "load", str(later), "--config", str(strict)],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "a gap of more than 1 day(s) is refused" in refused.stdout

    for bad, message in [
        ("max_gap_days = 0", "[ingest] max_gap_days must be from 1 to 3660"),
        ("future_horizon_minutes = -1", "[ingest] future_horizon_minutes must be"),
        ("future_horizon_minutes = 600000", "[ingest] future_horizon_minutes must be at most"),
        ("max_gap = 3", "unknown key(s) in [ingest]: max_gap"),
    ]:
        broken = write(tmp_path, "broken.toml", f"[ingest]\n{bad}\n")
        result = subprocess.run(
            [TXMON, "load", str(later), "--config", str(broken)],
            env=txmon_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# --- duplicate ids without a unique key -------------------------------------------------------


def test_ids_from_earlier_loads_are_found_without_a_unique_key(
    database_url: str, tmp_path: Path
) -> None:
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
        # Whatever key the table has (day partitions cannot have one on transaction_id
        # alone), the check must not rely on it: drop it, keep a plain index.
        key = conn.execute(
            "select conname from pg_constraint"
            " where conrelid = 'txmon_raw.transactions'::regclass and contype in ('p', 'u')"
        ).fetchall()
        for (name,) in key:
            conn.execute(f"alter table txmon_raw.transactions drop constraint {name}")
        conn.execute(
            "create index if not exists test_transaction_id_idx"
            " on txmon_raw.transactions (transaction_id)"
        )
    first = load(database_url, write(tmp_path, "a.csv", EVENTS_HEADER + GOOD_EVENT_BEFORE + "\n"))
    second = load(
        database_url,
        write(
            tmp_path, "b.csv", EVENTS_HEADER + GOOD_EVENT_BEFORE + "\n" + GOOD_EVENT_AFTER + "\n"
        ),
    )

    assert (second.rows_loaded, second.rows_rejected) == (1, 1)
    assert second.first_rejects == [
        (2, f"transaction_id tx-a already loaded (load {first.load_id})")
    ]
    assert query(database_url, "select count(*) from txmon_raw.transactions") == [(2,)]


# --- overlaps and txmon loads ---------------------------------------------------------------


def minutes_file(folder: Path, name: str, first: int, last: int, count: int = 1) -> Path:
    lines = [f"2025-01-01 10:{minute:02d},approved,{count}" for minute in range(first, last + 1)]
    return write(folder, name, COUNTS_HEADER + "\n".join(lines) + "\n")


def test_a_load_that_overlaps_another_says_so(database_url: str, tmp_path: Path) -> None:
    first = load(database_url, minutes_file(tmp_path, "a.csv", 0, 9))
    assert first.overlaps == [] and first.overlap_warning is None
    with connect(database_url) as conn:  # a row written outside txmon load, at 10:09
        conn.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values ('2025-01-01 10:09:30+00', 'approved', 1)"
        )
    separate = load(database_url, minutes_file(tmp_path, "b.csv", 20, 29))
    assert separate.overlaps == []

    overlapping = load(database_url, minutes_file(tmp_path, "c.csv", 5, 24, count=2))

    assert overlapping.rows_loaded == 20  # still loaded
    assert overlapping.overlaps == [(first.load_id, 5), (separate.load_id, 5), (None, 1)]
    warning = overlapping.overlap_warning
    assert warning is not None and "\n" not in warning
    assert f"fills 11 minute(s) that load(s) {first.load_id}, {separate.load_id} and rows" in (
        warning
    )
    assert f"`txmon loads remove {first.load_id}` and load again" in warning
    assert "`txmon load --force` the same file" in warning


def test_loads_list_and_remove(database_url: str, tmp_path: Path) -> None:
    first = load(database_url, minutes_file(tmp_path, "a.csv", 0, 9))
    path = write(tmp_path, "b.csv", EVENTS_HEADER + GOOD_EVENT_BEFORE + "\nbad\n")
    second = load(database_url, path)

    with connect(database_url) as conn:
        listed = loading.list_loads(conn)
    summary = [(i.load_id, i.input_shape, i.rows_loaded, i.rows_rejected) for i in listed]
    assert summary == [(first.load_id, "counts", 10, 0), (second.load_id, "events", 1, 1)]
    assert (listed[0].first_minute_at, listed[0].last_minute_at) == (
        utc("2025-01-01 10:00"),
        utc("2025-01-01 10:09"),
    )
    table = loading.loads_table(listed)
    assert "2025-01-01 10:00 .. 2025-01-01 10:09" in table and str(path) in table

    with connect(database_url) as conn, pytest.raises(LoadError, match="no load 999, 1000"):
        loading.remove_loads(conn, [second.load_id, 999, 1000])
    assert table_sizes(database_url)["transactions"] == 1  # nothing removed

    with connect(database_url) as conn:
        removed = loading.remove_loads(conn, [second.load_id])
    assert [info.load_id for info in removed] == [second.load_id]
    assert table_sizes(database_url) == {
        "loads": 1,
        "transaction_counts": 10,
        "transactions": 0,
        "load_rejects": 0,
    }
    assert query(
        database_url, "select load_id, first_minute_at, last_minute_at from txmon_raw.load_removals"
    ) == [(second.load_id, utc("2025-01-01 10:00"), utc("2025-01-01 10:00"))]
    # The same content loads again as a new load, now that the old one is gone.
    assert load(database_url, path).skipped is False


def test_force_records_the_replaced_load(database_url: str, tmp_path: Path) -> None:
    path = minutes_file(tmp_path, "a.csv", 0, 2)
    first = load(database_url, path)
    load(database_url, path, force=True)

    assert query(
        database_url, "select load_id, first_minute_at, last_minute_at from txmon_raw.load_removals"
    ) == [(first.load_id, utc("2025-01-01 10:00"), utc("2025-01-01 10:02"))]


def test_loads_commands_end_to_end(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    def txmon(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [TXMON, *args], env=txmon_env, capture_output=True, text=True, timeout=120
        )

    empty = txmon("loads", "list")
    assert empty.returncode == 0 and "no loads yet" in empty.stdout
    a = minutes_file(tmp_path, "a.csv", 0, 9)
    assert txmon("load", str(a)).returncode == 0
    overlapping = txmon("load", str(minutes_file(tmp_path, "b.csv", 5, 14)))
    assert overlapping.returncode == 0, overlapping.stderr
    [warning] = overlapping.stderr.strip().splitlines()
    assert warning.startswith("txmon: warning: ") and "load(s) 1 already filled" in warning
    assert "`txmon loads remove 1`" in warning

    listed = txmon("loads", "list")
    assert listed.returncode == 0
    lines = listed.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["load", "shape", "loaded", "rejected"]
    assert lines[2].split()[:4] == ["1", "counts", "10", "0"]
    assert "2025-01-01 10:05 .. 2025-01-01 10:14" in lines[3] and lines[3].endswith("b.csv")

    unknown = txmon("loads", "remove", "1", "7")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "txmon: error: no load 7; nothing was removed (`txmon loads list` shows the loads)"
    )
    removed = txmon("loads", "remove", "1", "2")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[0].startswith("removed load 1 (10 rows, 0 rejects)")
    assert table_sizes(database_url)["transaction_counts"] == 0
    not_a_number = txmon("loads", "remove", "x")
    assert not_a_number.returncode != 0 and "is not a valid integer" in not_a_number.stderr
