"""Loads: the same content twice, --force, overlapping loads, `txmon loads list` and `remove`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import TXMON
from ingest_helpers import (
    COUNTS_HEADER,
    EVENTS_HEADER,
    GOOD_COUNT,
    GOOD_EVENT_BEFORE,
    load,
    minutes_file,
    query,
    table_sizes,
    utc,
    write,
)
from txmon.console.tables import loads_table
from txmon.core.errors import LoadError
from txmon.db.connection import connect
from txmon.ingest.loads import list_loads, remove_loads

pytest_plugins = ["ingest_fixtures"]


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
        listed = list_loads(conn)
    summary = [(i.load_id, i.input_shape, i.rows_loaded, i.rows_rejected) for i in listed]
    assert summary == [(first.load_id, "counts", 10, 0), (second.load_id, "events", 1, 1)]
    assert (listed[0].first_minute_at, listed[0].last_minute_at) == (
        utc("2025-01-01 10:00"),
        utc("2025-01-01 10:09"),
    )
    table = loads_table(listed)
    assert "2025-01-01 10:00 .. 2025-01-01 10:09" in table and str(path) in table

    with connect(database_url) as conn, pytest.raises(LoadError, match="no load 999, 1000"):
        remove_loads(conn, [second.load_id, 999, 1000])
    assert table_sizes(database_url)["transactions"] == 1  # nothing removed

    with connect(database_url) as conn:
        removed = remove_loads(conn, [second.load_id])
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
