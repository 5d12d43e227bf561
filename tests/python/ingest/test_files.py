"""`txmon load` end to end: the shapes land, rejects sit beside good rows, a load is atomic."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import TXMON
from ingest_helpers import (
    COUNTS_HEADER,
    DATA_TABLES,
    EVENTS_HEADER,
    GOOD_COUNT,
    RAW_TABLES,
    LoadCsv,
    counts,
    load,
    query,
    rejects,
    table_sizes,
    utc,
    write,
)
from txmon.core.errors import LoadError
from txmon.db.connection import connect
from txmon.ingest import files, readers
from txmon.ingest.files import load_file
from txmon.ingest.loads import format_summary
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ingest.writer import FIRST_REJECTS
from txmon.lab.ingest_speed import TARGET_MINUTES, write_counts_file

pytest_plugins = ["ingest_fixtures"]


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
    load_csv: LoadCsv, database_url: str
) -> None:
    # A BOM and CRLF line ends, as spreadsheet exports write them.
    content = "\ufeff Count , STATUS,TimeStamp \r\n7,approved,2025-01-01 10:00\r\n\r\n"
    summary = load_csv(content, "counts.csv")

    assert (summary.input_shape, summary.rows_loaded, summary.rows_rejected) == ("counts", 1, 0)
    assert counts(database_url) == [(utc("2025-01-01 10:00"), "approved", 7, 2)]


def test_events_file_with_all_optional_columns(load_csv: LoadCsv, database_url: str) -> None:
    content = (
        "status,amount,created_at,transaction_id,channel,product,acquirer,card_type,"
        "auth_code,duration_ms\n"
        "APPROVED,10.50,2025-01-01 10:00:05,tx-1,web,credit,acme,visa,000123,250\n"
        'denied,-3,2025-01-01T10:00:06Z,tx-2,"pos, in store",,,,,\n'
    )
    summary = load_csv(content, "events.csv")

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


def test_events_file_with_required_columns_only(load_csv: LoadCsv, database_url: str) -> None:
    content = EVENTS_HEADER + "tx-1,2025-01-01 10:00,approved,1\ntx-2,2025-01-01 10:01,denied,2.5\n"
    summary = load_csv(content, "events.csv")

    assert (summary.input_shape, summary.rows_loaded) == ("events", 2)
    assert query(
        database_url,
        "select transaction_id, amount, channel, duration_ms from txmon_raw.transactions"
        " order by 1",
    ) == [("tx-1", Decimal("1.00"), None, None), ("tx-2", Decimal("2.50"), None, None)]


def test_header_only_file_loads_nothing(load_csv: LoadCsv, database_url: str) -> None:
    summary = load_csv(COUNTS_HEADER, "counts.csv")

    assert (summary.rows_loaded, summary.rows_rejected, summary.skipped) == (0, 0, False)
    assert table_sizes(database_url)["loads"] == 1


def test_out_of_order_timestamps_are_accepted(load_csv: LoadCsv, database_url: str) -> None:
    content = (
        COUNTS_HEADER
        + "2025-01-01 10:05,approved,1\n"
        + "2025-01-01 09:00,approved,2\n"
        + "2025-01-01 10:01,approved,3\n"
    )
    summary = load_csv(content, "counts.csv")

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


def test_many_rejects_and_rows_across_batches(
    load_csv: LoadCsv, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "BATCH_ROWS", 7)
    lines = [
        f"2025-01-01 10:{minute:02d},approved,{minute}" if minute % 3 else "bad,approved,1"
        for minute in range(60)
    ]
    summary = load_csv(COUNTS_HEADER + "\n".join(lines), "c.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (40, 20)
    assert len(summary.first_rejects) == FIRST_REJECTS
    assert table_sizes(database_url)["load_rejects"] == 20
    assert "and 10 more" in format_summary(summary)


def test_hostile_strings_are_data_or_rejects_and_break_nothing(
    load_csv: LoadCsv, database_url: str
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
    summary = load_csv(events, "hostile.csv")

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


def test_unknown_time_zone_writes_nothing(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    with pytest.raises(LoadError, match="unknown time zone 'Mars/Olympus'"):
        load(database_url, path, timezone="Mars/Olympus")

    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


def test_failure_part_way_rolls_everything_back(
    raw_tables: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"2025-01-01 10:{minute:02d},approved,1" for minute in range(60)]
    lines[5] = "bad,approved,1"
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + "\n".join(lines) + "\n")
    monkeypatch.setattr(files, "BATCH_ROWS", 10)  # several COPY batches happen first
    monkeypatch.setattr(readers, "READ_CHUNK", 64)  # the file arrives in many small chunks
    real_read_chunks = readers.read_chunks
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

    monkeypatch.setattr(readers, "read_chunks", failing_read_chunks)
    with pytest.raises(RuntimeError, match="disk vanished"), connect(raw_tables) as conn:
        load_file(conn, path)

    assert len(yielded) * 64 > 3 * files.BATCH_ROWS * 28
    assert table_sizes(raw_tables) == dict.fromkeys(DATA_TABLES, 0)


def test_file_changing_during_the_load_writes_nothing(
    raw_tables: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER + GOOD_COUNT + "\n")
    real_read_chunks = readers.read_chunks
    calls = []

    def appended_read_chunks(source: Path) -> Iterator[bytes]:
        calls.append(source)
        yield from real_read_chunks(source)
        if len(calls) > 2:  # the loading pass, after the hash and the header were read
            yield b"2025-01-01 10:01,approved,1\n"

    monkeypatch.setattr(readers, "read_chunks", appended_read_chunks)
    with pytest.raises(LoadError, match="changed while it was being loaded"):
        load(raw_tables, path)

    assert table_sizes(raw_tables) == dict.fromkeys(DATA_TABLES, 0)


def test_a_file_of_the_target_size_loads_every_row(raw_tables: str, tmp_path: Path) -> None:
    # The file `txmon bench` times against its target (lab.ingest_speed.target_file_speed):
    # 5,200 minutes of five statuses. Here only what lands is checked, not how fast.
    path = tmp_path / "target.csv"
    rows_written, total = write_counts_file(path, 0, "lf", minutes=TARGET_MINUTES)
    summary = load(raw_tables, path)

    assert rows_written == 26_000
    assert (summary.rows_loaded, summary.rows_rejected) == (rows_written, 0)
    assert query(
        raw_tables,
        "select count(*), sum(transaction_count), count(distinct observed_at),"
        " min(line_number), max(line_number) from txmon_raw.transaction_counts",
    ) == [(rows_written, total, TARGET_MINUTES, 2, rows_written + 1)]


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
