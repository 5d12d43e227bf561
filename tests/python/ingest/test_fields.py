"""The field rules, as a file load applies them, and the one transaction schema that the raw
tables and the API's item models follow."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from ingest_helpers import (
    COUNTS_HEADER,
    EVENTS_HEADER,
    GOOD_COUNT,
    GOOD_EVENT_AFTER,
    GOOD_EVENT_BEFORE,
    LoadCsv,
    counts,
    load,
    query,
    rejects,
    utc,
    write,
)
from txmon.core.config import Ingest
from txmon.core.facts import RAW_SCHEMA
from txmon.ingest.fields import (
    EXPECTED_HEADERS,
    FIELDS,
    TABLES,
    TIME_COLUMN,
    TIME_FIELD,
    InvalidValue,
    parse_optional,
    parse_timestamp,
    parse_transaction_id,
    row_from,
)
from txmon.ingest.raw_tables import raw_tables_ddl
from txmon.ingest.writer import copy_statement

pytest_plugins = ["ingest_fixtures"]


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
    load_csv: LoadCsv, database_url: str, line: str, reason: str
) -> None:
    content = f"{COUNTS_HEADER}{GOOD_COUNT}\n{line}\n{GOOD_COUNT}\n"
    summary = load_csv(content, "counts.csv")

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
    load_csv: LoadCsv, database_url: str, line: str, reason: str
) -> None:
    content = f"{EVENTS_HEADER}{GOOD_EVENT_BEFORE}\n{line}\n{GOOD_EVENT_AFTER}\n"
    summary = load_csv(content, "events.csv")

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
    load_csv: LoadCsv, database_url: str, value: str, reason: str
) -> None:
    content = (
        "transaction_id,created_at,status,amount,duration_ms\n"
        "tx-a,2025-01-01 10:00,approved,1,10\n"
        f"tx-1,2025-01-01 10:00,approved,1,{value}\n"
        "tx-b,2025-01-01 10:00,approved,1,\n"
    )
    summary = load_csv(content, "events.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (2, 1)
    assert rejects(database_url)[0][:2] == (3, reason)


def test_largest_bigint_count_is_accepted(load_csv: LoadCsv, database_url: str) -> None:
    content = COUNTS_HEADER + "2025-01-01 10:00,approved,9223372036854775807\n"
    summary = load_csv(content, "counts.csv")

    assert summary.rows_loaded == 1
    assert counts(database_url)[0][2] == 2**63 - 1


def test_unknown_statuses_are_accepted_and_normalised(load_csv: LoadCsv, database_url: str) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01 10:00,chargeback_pending,3\n"
        + "2025-01-01 10:00,  Timeout Retry.v2-b ,4\n"
        + "2025-01-01 10:00,Aprovação,5\n"
    )
    summary = load_csv(content, "counts.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 0)
    assert [row[1] for row in counts(database_url)] == [
        "chargeback_pending",
        "timeout retry.v2-b",
        "aprovação",
    ]


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


def test_offsets_are_respected(load_csv: LoadCsv, database_url: str) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01T10:00:00+02:00,approved,1\n"
        + "2025-01-01 10:00Z,approved,1\n"
        + "2025-01-01 10:00:00.250-03:00,approved,1\n"
        + "2025-01-01t10:00:00+0530,approved,1\n"
    )
    load_csv(content, "counts.csv", timezone="America/Sao_Paulo")

    assert [row[0] for row in counts(database_url)] == [
        utc("2025-01-01 08:00"),
        utc("2025-01-01 10:00"),
        utc("2025-01-01 13:00:00.250"),
        utc("2025-01-01 04:30"),
    ]


# --- the schema -------------------------------------------------------------------------------


def test_the_raw_tables_have_the_columns_of_the_schema(raw_tables: str) -> None:
    for shape, fields in FIELDS.items():
        found = query(
            raw_tables,
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
            " from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0"
            " and not a.attisdropped",
            (f"{RAW_SCHEMA}.{TABLES[shape]}",),
        )
        columns = {name: (sql_type, not_null) for name, sql_type, not_null in found}
        for field in fields:
            assert columns[field.column] == (field.sql_type, field.required), (shape, field)


def test_copy_statements_and_header_help_follow_the_schema() -> None:
    assert copy_statement("counts", with_load=False) == (
        f"copy {RAW_SCHEMA}.transaction_counts"
        " (observed_at, status, transaction_count, dimension_name, dimension_value) from stdin"
    )
    assert copy_statement("events", with_load=True).endswith(
        "(transaction_id, created_at, status, amount, channel, product, acquirer, card_type,"
        " auth_code, duration_ms, load_id, line_number) from stdin"
    )
    assert EXPECTED_HEADERS.startswith(
        "expected 'timestamp,status,count' (counts), 'timestamp,<dimension>,count' or"
        " 'timestamp,status,<dimension>,count' (counts by a dimension's value, e.g. auth_code)"
        " or 'transaction_id,created_at,status,amount'"
    )
    assert (TIME_FIELD, TIME_COLUMN) == (
        {"counts": "timestamp", "events": "created_at"},
        {"counts": "observed_at", "events": "created_at"},
    )


def test_the_ddl_creates_the_raw_schema_of_the_facts() -> None:
    assert f"create schema if not exists {RAW_SCHEMA};" in raw_tables_ddl()


def test_row_from_puts_values_in_schema_order() -> None:
    values = {"amount": 1, "status": "ok", "created_at": "t", "transaction_id": "a", "product": "p"}

    assert row_from("events", values) == ("a", "t", "ok", 1, None, "p", None, None, None, None)
    assert row_from("counts", {"count": 3, "timestamp": "t", "status": "ok"}) == (
        "t",
        "ok",
        3,
        None,
        None,
    )
    by_code = {"count": 3, "timestamp": "t", "dimension": "auth_code", "dimension_value": "59"}
    assert row_from("counts", by_code) == ("t", None, 3, "auth_code", "59")


@pytest.mark.parametrize(
    ("rule", "text", "reason"),
    [
        (parse_transaction_id, "a\ud800b", "transaction_id contains an unpaired surrogate U+D800"),
        (parse_transaction_id, "a\x1fb", "transaction_id contains control character U+001F"),
        (partial(parse_optional, "channel"), "c" * 257, "channel is longer than 256 characters"),
        (parse_timestamp, "2025-01-01 10:00+14:30", "offset beyond ±14:00"),
    ],
)
def test_single_fields_get_the_rules_a_line_gets(
    rule: Callable[[str], object], text: str, reason: str
) -> None:
    with pytest.raises(InvalidValue, match=re.escape(reason)):
        rule(text)
