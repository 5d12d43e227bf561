"""Loading CSV files into the raw tables: shapes, rejects, idempotence, atomicity, speed."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from txmon import loading
from txmon.database import connect, ensure_raw_tables
from txmon.errors import LoadError
from txmon.loading import LoadSummary, format_summary, load_file

COUNTS_HEADER = "timestamp,status,count\n"
EVENTS_HEADER = "transaction_id,created_at,status,amount\n"
RAW_TABLES = {"loads", "transaction_counts", "transactions", "load_rejects"}


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
        table: query(url, f"select count(*) from txmon_raw.{table}")[0][0] for table in RAW_TABLES
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
        "tx-8,2025-01-01 10:00,approved,1,w\reb,x\n"  # line 9: a lone carriage return
        "$$,2025-01-01 10:00,approved,1,web,x\n"  # line 10: data
    )
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
        conn.execute("create table public.bystander (id int)")
        conn.execute("insert into public.bystander values (1)")
    summary = load(database_url, write(tmp_path, "hostile.csv", events))

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 6)
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
        (9, "line"),
    ]
    assert found[2][1:] == ("line contains NUL bytes", "tx-5,2025-01-01 10:00,approved,1,web,x")
    assert found[3][1] == "line contains control character U+0007"
    assert found[4][1] == f"line is {len(huge):,} characters long, more than 10,000"
    assert found[4][2] == huge[:2_000]
    assert found[5][1] == "line contains control character U+000D"
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
        database_url, write(tmp_path, "counts.csv", content), timezone="America/Sao_Paulo"
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
        ("timestamp,status,status\n", "names status more than once"),
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
    "content",
    [
        gzip.compress((COUNTS_HEADER + GOOD_COUNT + "\n").encode()),
        (COUNTS_HEADER + GOOD_COUNT + "\n").encode("utf-16"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        (COUNTS_HEADER + "2025-01-01 10:00,aprova\xe7\xe3o,1\n").encode("latin-1"),
    ],
    ids=["gzip", "utf-16", "png", "latin-1"],
)
def test_file_that_is_not_utf8_text(database_url: str, tmp_path: Path, content: bytes) -> None:
    with pytest.raises(LoadError, match="is not UTF-8 text"):
        load(database_url, write(tmp_path, "counts.csv", content))


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
    real_read_lines = loading._read_lines
    yielded = []

    def failing_read_lines(source: Path) -> Iterator[bytes]:
        for number, line in enumerate(real_read_lines(source)):
            if number == 45:
                raise RuntimeError("disk vanished")
            yielded.append(line)
            yield line

    monkeypatch.setattr(loading, "_read_lines", failing_read_lines)
    with pytest.raises(RuntimeError, match="disk vanished"), connect(database_url) as conn:
        load_file(conn, path)

    assert len(yielded) > 3 * loading.BATCH_ROWS
    assert table_sizes(database_url) == dict.fromkeys(RAW_TABLES, 0)


def test_file_changing_during_the_load_writes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    real_read_lines = loading._read_lines

    def appended_read_lines(source: Path) -> Iterator[bytes]:
        yield from real_read_lines(source)
        yield b"2025-01-01 10:01,approved,1\n"  # appended after the hash was taken

    monkeypatch.setattr(loading, "_read_lines", appended_read_lines)
    with pytest.raises(LoadError, match="changed while it was being loaded"):
        load(database_url, path)

    assert table_sizes(database_url) == dict.fromkeys(RAW_TABLES, 0)


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
