"""The one writer: transaction ids unique in the input and not stored yet, all-or-nothing
batches, the load lock, and partial writes for files."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ingest_helpers import (
    EVENTS_HEADER,
    GOOD_EVENT_AFTER,
    GOOD_EVENT_BEFORE,
    LoadCsv,
    load,
    query,
    rejects,
    write,
)
from txmon.db.connection import connect
from txmon.ingest import files
from txmon.ingest.fields import Shape, row_from
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ingest.time_sanity import TimeSanity
from txmon.ingest.writer import (
    DUPLICATE_ID,
    ID_LOADED,
    LOCK_LOADS,
    WRITE_PROBLEM_CODES,
    BatchRefused,
    RawWriter,
    WriteProblem,
)

pytest_plugins = ["ingest_fixtures"]


def test_duplicate_transaction_id_within_a_file(load_csv: LoadCsv, database_url: str) -> None:
    content = (
        EVENTS_HEADER
        + "tx-0,2025-01-01 10:00,approved,1\n"
        + "tx-1,2025-01-01 10:00,approved,1\n"
        + "tx-2,2025-01-01 10:00,approved,1\n"
        + "tx-1,2025-01-01 10:05,denied,9\n"
    )
    summary = load_csv(content, "events.csv")

    assert (summary.rows_loaded, summary.rows_rejected) == (3, 1)
    assert rejects(database_url) == [
        (5, "duplicate transaction_id tx-1 (first on line 3)", "tx-1,2025-01-01 10:05,denied,9")
    ]
    kept = query(
        database_url, "select status from txmon_raw.transactions where transaction_id = 'tx-1'"
    )
    assert kept == [("approved",)]


def test_transaction_id_loaded_by_an_earlier_file(
    load_csv: LoadCsv, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "BATCH_ROWS", 2)  # the clash falls in a later batch
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
    second = load_csv(content, "b.csv")

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


def test_ids_from_earlier_loads_are_found_without_a_unique_key(
    load_csv: LoadCsv, database_url: str, tmp_path: Path
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
    first = load_csv(EVENTS_HEADER + GOOD_EVENT_BEFORE + "\n", "a.csv")
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


# --- batches, as the API writes them --------------------------------------------------------

T0 = datetime(2025, 7, 15, 13, 0, tzinfo=UTC)


def event(transaction_id: str, at: datetime) -> tuple[object, ...]:
    return row_from(
        "events",
        {"transaction_id": transaction_id, "created_at": at, "status": "ok", "amount": 1},
    )


def test_a_batch_is_written_whole_without_load_columns(raw_tables: str) -> None:
    with connect(raw_tables) as conn:
        writer = RawWriter(conn, "counts")
        written = writer.write_batch(
            [(T0, "ok", 3, None, None), (T0 + timedelta(minutes=1), "ok", 4, None, None)]
        )

    assert written == 2 and (writer.first_at, writer.last_at) == (T0, T0 + timedelta(minutes=1))
    assert query(
        raw_tables,
        "select transaction_count, load_id, line_number from txmon_raw.transaction_counts"
        " order by 1",
    ) == [(3, None, None), (4, None, None)]


def test_a_refused_batch_names_every_problem_of_every_row_and_writes_nothing(
    raw_tables: str,
) -> None:
    with connect(raw_tables) as conn:
        RawWriter(conn, "events").write_batch([event("stored", T0)])
    far = T0 + timedelta(days=30)
    with connect(raw_tables) as conn:
        writer = RawWriter(conn, "events")
        with pytest.raises(BatchRefused) as refused:
            writer.write_batch(
                [event("a", T0), event("stored", T0), event("b", T0), event("a", far)]
            )
        # The caller's transaction is still usable after a refusal.
        assert conn.execute("select 1").fetchone() == (1,)

    problems = [(p.index, p.field, p.code) for p in refused.value.problems]
    assert problems == [
        (1, "transaction_id", ID_LOADED),
        (3, "transaction_id", DUPLICATE_ID),
        (3, "created_at", TimeSanity.GAP),  # the repeated id and its time, both
    ]
    reasons = [problem.reason for problem in refused.value.problems]
    assert reasons[:2] == [
        "transaction_id stored already loaded (outside txmon load)",
        "duplicate transaction_id a (first at index 0)",
    ]
    assert set(WRITE_PROBLEM_CODES) == {ID_LOADED, DUPLICATE_ID, TimeSanity.GAP, TimeSanity.AHEAD}
    assert query(raw_tables, "select count(*) from txmon_raw.transactions") == [(1,)]


def test_a_row_stored_behind_the_check_is_refused_as_loaded(
    raw_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect(raw_tables) as conn:
        RawWriter(conn, "events").write_batch([event("a", T0)])
    # A writer that bypassed the lock stored the id after the check looked: the check sees
    # nothing, the COPY meets the table's key.
    monkeypatch.setattr(RawWriter, "_id_problems", lambda self, rows, positions: [])
    with connect(raw_tables) as conn:
        with pytest.raises(BatchRefused) as refused:
            RawWriter(conn, "events").write_batch([event("b", T0), event("a", T0)])
        assert conn.execute("select 1").fetchone() == (1,)

    assert refused.value.problems == [
        WriteProblem(None, "transaction_id", "a transaction_id was stored meanwhile", ID_LOADED)
    ]
    assert query(raw_tables, "select transaction_id from txmon_raw.transactions") == [("a",)]


@pytest.mark.parametrize(("shape", "locked"), [("events", True), ("counts", False)])
def test_events_take_the_load_lock_and_counts_do_not(
    raw_tables: str, shape: Shape, locked: bool
) -> None:
    with connect(raw_tables) as conn, connect(raw_tables) as other:
        RawWriter(conn, shape)
        free = other.execute("select pg_try_advisory_xact_lock(hashtext('txmon.load'))")
        assert free.fetchone() == (not locked,)


def test_screen_keeps_what_may_be_written_and_remembers_ids(raw_tables: str) -> None:
    with connect(raw_tables) as conn:
        writer = RawWriter(conn, "events", load_id=None, position="line")
        rows = [event("a", T0), event("b", T0 + timedelta(days=30)), event("c", T0)]
        kept, problems = writer.screen(rows, [2, 3, 4])
        assert kept == [0, 2]
        assert [(p.index, p.code) for p in problems] == [(1, TimeSanity.GAP)]
        writer.copy([rows[i] for i in kept])
        # A later batch of the same input: ids are remembered by their line.
        kept, problems = writer.screen([event("c", T0), event("d", T0)], [7, 8])

    assert kept == [1]
    assert [p.reason for p in problems] == ["duplicate transaction_id c (first on line 4)"]
    assert writer.rows_written == 2


def test_a_writer_waiting_for_the_load_lock_holds_no_table_yet(raw_tables: str) -> None:
    # Rows another writer left in the default partition: the next ensure_raw_tables moves
    # them, holding that partition exclusively until its transaction ends.
    with psycopg.connect(raw_tables, autocommit=True) as other:
        other.execute(
            "insert into txmon_raw.transactions (transaction_id, created_at, status, amount)"
            " values ('elsewhere', '2025-07-01 10:00+00', 'ok', 1)"
        )
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with connect(raw_tables) as conn:
                RawWriter(conn, "events")
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    with connect(raw_tables) as holder:
        holder.execute(LOCK_LOADS)  # a writer of events that has the lock
        waiting = threading.Thread(target=second_writer)
        waiting.start()
        for _ in range(100):  # until the second writer waits for the lock
            found = holder.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted"
            ).fetchone()
            if found == (1,):
                break
            time.sleep(0.05)
        # The holder goes on with the default partition; had the waiting writer moved the rows
        # before asking for the lock, this would wait for it, and it for this: a deadlock.
        holder.execute("set local statement_timeout = '5s'")
        assert holder.execute("select count(*) from txmon_raw.transactions").fetchone() == (1,)
    waiting.join(30)

    assert not waiting.is_alive() and errors == []
