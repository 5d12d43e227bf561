"""The raw tables: partitioned by day, partitions made on demand, the old plain tables migrated."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest

from helpers import rows
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.ingest.raw_tables import ensure_raw_tables, raw_tables_definition
from txmon.lab import generate, generated_files

# The raw tables as txmon 0.x made them: plain tables, transaction_id the primary key.
OLD_DDL = """
create schema txmon_raw;
create table txmon_raw.loads (
    load_id bigserial primary key,
    file_name text not null,
    file_sha256 text not null,
    input_shape text not null check (input_shape in ('counts', 'events')),
    rows_loaded bigint not null default 0,
    rows_rejected bigint not null default 0,
    source_timezone text not null default 'UTC',
    is_forced boolean not null default false,
    loaded_at timestamptz not null default now()
);
create index loads_file_sha256_idx on txmon_raw.loads (file_sha256);
create table txmon_raw.transaction_counts (
    count_id bigserial primary key,
    observed_at timestamptz not null,
    status text not null check (status <> ''),
    transaction_count bigint not null check (transaction_count >= 0),
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now()
);
create index transaction_counts_observed_at_idx on txmon_raw.transaction_counts (observed_at);
create index transaction_counts_load_id_idx on txmon_raw.transaction_counts (load_id);
create table txmon_raw.transactions (
    transaction_id text primary key,
    created_at timestamptz not null,
    status text not null check (status <> ''),
    amount numeric(18, 2) not null,
    channel text,
    product text,
    acquirer text,
    card_type text,
    auth_code text,
    duration_ms integer check (duration_ms >= 0),
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    line_number integer,
    loaded_at timestamptz not null default now()
);
create index transactions_created_at_idx on txmon_raw.transactions (created_at);
create index transactions_load_id_idx on txmon_raw.transactions (load_id);
create table txmon_raw.load_rejects (
    reject_id bigserial primary key,
    load_id bigint references txmon_raw.loads (load_id) on delete cascade,
    file_name text not null,
    line_number integer not null,
    raw_line text not null,
    reason text not null,
    rejected_at timestamptz not null default now()
);
"""

PARTITIONS = """
select parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid)
from pg_inherits i
join pg_class parent on parent.oid = i.inhparent
join pg_class child on child.oid = i.inhrelid
where parent.relnamespace = 'txmon_raw'::regnamespace and parent.relkind = 'p'
order by 1, 2
"""


def ensure(url: str) -> None:
    with connect(url) as conn:
        ensure_raw_tables(conn)


def partitions(url: str, table: str) -> list[str]:
    """The table's partitions by name, sorted (the default partition before the days)."""
    return [child for parent, child, _ in rows(url, PARTITIONS) if parent == table]


def rows_by_partition(url: str, table: str, column: str) -> dict[str, tuple[date, date, int]]:
    """Per partition: first and last UTC day of its rows, and how many."""
    found = rows(
        url,
        f"select tableoid::regclass::text, min(({column} at time zone 'UTC')::date),"
        f" max(({column} at time zone 'UTC')::date), count(*) from txmon_raw.{table} group by 1",
    )
    return {name.removeprefix("txmon_raw."): (first, last, n) for name, first, last, n in found}


def test_the_data_tables_are_partitioned_with_a_default_partition(database_url: str) -> None:
    ensure(database_url)
    kinds = rows(
        database_url,
        "select c.relname, p.partstrat, a.attname from pg_partitioned_table p"
        " join pg_class c on c.oid = p.partrelid"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum = p.partattrs[0]"
        " order by 1",
    )
    assert kinds == [
        ("transaction_counts", "r", "observed_at"),
        ("transactions", "r", "created_at"),
    ]
    assert rows(database_url, PARTITIONS) == [
        ("transaction_counts", "transaction_counts_default", "DEFAULT"),
        ("transactions", "transactions_default", "DEFAULT"),
    ]
    keys = rows(
        database_url,
        "select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint"
        " where contype = 'p' and connamespace = 'txmon_raw'::regnamespace"
        " and conrelid in ('txmon_raw.transaction_counts'::regclass,"
        " 'txmon_raw.transactions'::regclass) order by 1",
    )
    assert keys == [
        ("txmon_raw.transaction_counts", "PRIMARY KEY (count_id, observed_at)"),
        ("txmon_raw.transactions", "PRIMARY KEY (transaction_id, created_at)"),
    ]
    # loads stays a plain table that both partitioned tables reference.
    assert rows(
        database_url, "select relkind from pg_class where oid = 'txmon_raw.loads'::regclass"
    )
    assert rows(
        database_url,
        "select count(*) from pg_constraint where contype = 'f'"
        " and confrelid = 'txmon_raw.loads'::regclass and conparentid = 0",
    ) == [(3,)]


def test_loads_over_several_days_land_in_day_partitions(database_url: str, tmp_path: Path) -> None:
    counts = tmp_path / "counts.csv"
    written = generated_files.write_counts_csv(
        counts, generate.GeneratorConfig(days=3, seed=3, incidents=())
    )
    per_day = written.rows // 3
    # Events from 22:00 to 02:00 the next day: a load that crosses midnight.
    events = tmp_path / "events.csv"
    start = datetime(2025, 7, 20, 22, 0)
    generated_files.write_events_csv(
        events, generate.GeneratorConfig(days=4 / 24, start=start, base_volume=5, incidents=())
    )
    with connect(database_url) as conn:
        assert load_file(conn, counts).rows_rejected == 0
        assert load_file(conn, events).rows_rejected == 0
    ensure(database_url)  # the next load or build moves new days into partitions of their own

    assert rows_by_partition(database_url, "transaction_counts", "observed_at") == {
        f"transaction_counts_p202507{day}": (date(2025, 7, day), date(2025, 7, day), per_day)
        for day in (12, 13, 14)
    }
    by_day = rows_by_partition(database_url, "transactions", "created_at")
    assert set(by_day) == {"transactions_p20250720", "transactions_p20250721"}
    assert by_day["transactions_p20250720"][:2] == (date(2025, 7, 20), date(2025, 7, 20))
    assert by_day["transactions_p20250721"][:2] == (date(2025, 7, 21), date(2025, 7, 21))
    assert rows(database_url, "select count(*) from txmon_raw.transaction_counts_default") == [(0,)]
    assert rows(database_url, "select count(*) from txmon_raw.transactions_default") == [(0,)]
    # Every row kept its load.
    assert rows(
        database_url,
        "select load_id, count(*) from txmon_raw.transaction_counts group by 1",
    ) == [(1, written.rows)]

    # An id loaded before is still refused, whatever day the new row claims.
    (first_id,) = rows(
        database_url,
        "select transaction_id from txmon_raw.transactions order by created_at limit 1",
    )[0]
    again = tmp_path / "again.csv"
    again.write_text(
        f"transaction_id,created_at,status,amount\n{first_id},2025-08-01 10:00,approved,1\n"
    )
    with connect(database_url) as conn:
        summary = load_file(conn, again)
    assert (summary.rows_loaded, summary.rows_rejected) == (0, 1)
    assert "already loaded" in summary.first_rejects[0][1]


@pytest.mark.parametrize("day", ["1999-12-31 23:59:59+00", "2025-07-12 00:00+00", "2150-06-01"])
def test_any_writer_can_insert_rows_of_any_day(database_url: str, day: str) -> None:
    ensure(database_url)
    with psycopg.connect(database_url) as writer:  # another program: no txmon code involved
        writer.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values (%s, 'approved', 7)",
            (day,),
        )
        writer.execute(
            "insert into txmon_raw.transactions (transaction_id, created_at, status, amount)"
            " values ('from-elsewhere', %s, 'approved', 1)",
            (day,),
        )
    assert rows(database_url, "select count(*) from txmon_raw.transaction_counts_default") == [(1,)]
    ensure(database_url)
    (wanted,) = rows(
        database_url, "select to_char(%s::timestamptz at time zone 'UTC', 'YYYYMMDD')", (day,)
    )[0]
    assert partitions(database_url, "transaction_counts") == [
        "transaction_counts_default",
        f"transaction_counts_p{wanted}",
    ]
    assert rows(
        database_url,
        "select tableoid::regclass::text, transaction_count from txmon_raw.transaction_counts",
    ) == [(f"txmon_raw.transaction_counts_p{wanted}", 7)]
    assert rows(database_url, "select tableoid::regclass::text from txmon_raw.transactions") == [
        (f"txmon_raw.transactions_p{wanted}",)
    ]
    # Once the day has its partition, another row of that day goes straight into it.
    with psycopg.connect(database_url) as writer:
        writer.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values (%s, 'denied', 1)",
            (day,),
        )
    assert rows(database_url, "select count(*) from txmon_raw.transaction_counts_default") == [(0,)]


def test_plain_tables_of_an_earlier_version_are_migrated_in_place(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(OLD_DDL)
        conn.execute(
            "insert into txmon_raw.loads (file_name, file_sha256, input_shape)"
            " values ('a.csv', 'aa', 'counts'), ('b.csv', 'bb', 'events')"
        )
        conn.execute(
            "insert into txmon_raw.transaction_counts"
            " (observed_at, status, transaction_count, load_id, line_number)"
            " select timestamptz '2025-07-12 00:00+00' + n * interval '7 minutes', 'approved', n,"
            " case when n % 3 = 0 then null else 1 end, n from generate_series(1, 2000) n"
        )
        conn.execute(
            "insert into txmon_raw.transactions (transaction_id, created_at, status, amount,"
            " channel, load_id) select 'tx-' || n, timestamptz '2025-07-12 00:00+00'"
            " + n * interval '1 minute', 'denied', n / 100.0, 'pos', 2"
            " from generate_series(1, 3000) n"
        )
        conn.execute(
            "insert into txmon_raw.load_rejects (load_id, file_name, line_number, raw_line, reason)"
            " values (2, 'b.csv', 9, 'x', 'bad')"
        )
    before = {
        "counts": rows(
            database_url, "select * from txmon_raw.transaction_counts order by count_id"
        ),
        "events": rows(
            database_url, "select * from txmon_raw.transactions order by transaction_id"
        ),
    }

    ensure(database_url)

    # The earlier columns, in their order; the dimension columns came later.
    earlier = "count_id, observed_at, status, transaction_count, load_id, line_number, loaded_at"
    assert (
        rows(database_url, f"select {earlier} from txmon_raw.transaction_counts order by count_id")
        == (before["counts"])
    )
    assert (
        rows(database_url, "select * from txmon_raw.transactions order by transaction_id")
        == (before["events"])
    )
    assert partitions(database_url, "transaction_counts") == [
        "transaction_counts_default",
        *(f"transaction_counts_p202507{day}" for day in range(12, 22)),
    ]
    assert partitions(database_url, "transactions") == [
        "transactions_default",
        "transactions_p20250712",
        "transactions_p20250713",
        "transactions_p20250714",
    ]
    leftovers = rows(
        database_url,
        "select relname from pg_class where relnamespace = 'txmon_raw'::regnamespace"
        " and relname like '%%unpartitioned%%'",
    )
    assert leftovers == []
    # count_id goes on where the old sequence stopped.
    with psycopg.connect(database_url) as writer:
        writer.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values ('2025-07-15 00:00+00', 'approved', 1)"
        )
    assert rows(database_url, "select max(count_id) from txmon_raw.transaction_counts") == [(2001,)]
    # load_id still references loads: deleting a load removes its rows, rejects included.
    with connect(database_url) as conn:
        conn.execute("delete from txmon_raw.loads where load_id = 2")
    assert rows(database_url, "select count(*) from txmon_raw.transactions") == [(0,)]
    assert rows(database_url, "select count(*) from txmon_raw.load_rejects") == [(0,)]
    assert rows(database_url, "select count(*) from txmon_raw.transaction_counts") == [(2001,)]


def test_a_migration_that_fails_leaves_the_old_tables_as_they_were(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(OLD_DDL)
        conn.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values ('2025-07-12 10:00+00', 'approved', 1)"
        )
        # Another program's view on the old table: the migration cannot drop it, so it fails.
        conn.execute("create view public.watcher as select * from txmon_raw.transaction_counts")
    with pytest.raises(psycopg.Error), connect(database_url) as conn:
        ensure_raw_tables(conn)
    assert rows(
        database_url,
        "select relkind from pg_class where oid = 'txmon_raw.transaction_counts'::regclass",
    ) == [("r",)]
    assert rows(database_url, "select count(*) from public.watcher") == [(1,)]


def test_the_usual_call_is_a_catalog_check_without_locks_or_ddl(database_url: str) -> None:
    ensure(database_url)
    with psycopg.connect(database_url, autocommit=True) as holder:
        # Another process holding the DDL lock: a call that had DDL to do would wait for it.
        holder.execute("select pg_advisory_lock(hashtext('txmon.raw_tables'))")
        with connect(database_url) as conn:
            conn.execute("set lock_timeout = '1s'")
            conn.execute("set statement_timeout = '1s'")
            ensure_raw_tables(conn)
            locks = conn.execute(
                "select count(*) from pg_locks where pid = pg_backend_pid()"
                " and locktype = 'relation' and mode <> 'AccessShareLock'"
            ).fetchone()
        assert locks == (0,)
        holder.execute("select pg_advisory_unlock(hashtext('txmon.raw_tables'))")


def test_a_changed_ddl_file_is_applied_again(database_url: str) -> None:
    ensure(database_url)
    with connect(database_url) as conn:
        # As if txmon had been upgraded: the stored hash differs and an index is missing.
        conn.execute("comment on schema txmon_raw is 'txmon raw tables, ddl sha256 older'")
        conn.execute("drop index txmon_raw.loads_file_sha256_idx")
    ensure(database_url)
    assert rows(database_url, "select to_regclass('txmon_raw.loads_file_sha256_idx')::text") == [
        ("txmon_raw.loads_file_sha256_idx",)
    ]
    ddl = raw_tables_definition()
    (comment,) = rows(
        database_url, "select obj_description('txmon_raw'::regnamespace, 'pg_namespace')"
    )[0]
    assert comment == ddl.marker
    assert comment.endswith(hashlib.md5(ddl.text.encode(), usedforsecurity=False).hexdigest())


def test_moving_rows_never_waits_for_a_busy_table(database_url: str) -> None:
    ensure(database_url)
    with psycopg.connect(database_url) as writer:
        writer.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " values ('2025-07-12 10:00+00', 'approved', 1)"
        )
    # A load in progress (its loads row written, not committed) and a reader of the default
    # partition: moving the rows now would have to wait for both, so it is left for later.
    with psycopg.connect(database_url) as loader, psycopg.connect(database_url) as reader:
        loader.execute(
            "insert into txmon_raw.loads (file_name, file_sha256, input_shape)"
            " values ('x.csv', 'x', 'counts')"
        )
        reader.execute("select count(*) from txmon_raw.transaction_counts")
        with connect(database_url) as conn:
            # A statement timeout, not a lock timeout: waiting, then giving up, would fail.
            conn.execute("set statement_timeout = '2s'")
            ensure_raw_tables(conn)
        assert rows(database_url, "select count(*) from txmon_raw.transaction_counts_default") == [
            (1,)
        ]
        assert rows(database_url, "select count(*) from txmon_raw.transaction_counts") == [(1,)]
        loader.rollback()
        reader.rollback()
    ensure(database_url)
    assert partitions(database_url, "transaction_counts") == [
        "transaction_counts_default",
        "transaction_counts_p20250712",
    ]
