"""The alerting tables: created in the public schema, safe to create again, and an alert log
from before the rename of consecutive_minutes and dispatcher runs from before backfills
migrated in place."""

from __future__ import annotations

import re

from helpers import rows
from txmon.alerting.schema import alerting_ddl, ensure_alert_tables
from txmon.core.facts import DELIVERY_STATES, PUBLIC_SCHEMA
from txmon.db.connection import connect

TABLES = ["alert_log", "alert_silences", "build_runs", "dispatch_runs"]

# The alert log as releases before the rename created it.
OLD_ALERT_LOG = """
create table {schema}.alert_log (
    notification_id bigserial primary key,
    dedup_key text not null,
    channel text not null,
    metric_name text not null,
    episode_id text,
    event_type text not null,
    severity text not null,
    previous_severity text,
    minute_at timestamptz not null,
    consecutive_minutes integer,
    value double precision,
    threshold double precision,
    baseline double precision,
    message text not null,
    status text not null default 'pending'
        check (status in ('pending', 'sent', 'failed', 'suppressed')),
    suppressed_reason text,
    attempts integer not null default 0,
    last_error text,
    next_attempt_at timestamptz not null default now(),
    sent_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (dedup_key, channel)
)
"""


def columns(url: str, table: str) -> list[str]:
    found = rows(
        url,
        "select column_name from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (PUBLIC_SCHEMA, table),
    )
    return [name for (name,) in found]


def ensure(url: str) -> None:
    with connect(url) as conn, conn.transaction():
        ensure_alert_tables(conn)


def test_tables_are_created_once_and_again_without_harm(database_url: str) -> None:
    ensure(database_url)
    ensure(database_url)
    tables = rows(
        database_url,
        "select table_name from information_schema.tables where table_schema = %s"
        " order by table_name",
        (PUBLIC_SCHEMA,),
    )
    assert [name for (name,) in tables] == TABLES
    assert "episode_minutes" in columns(database_url, "alert_log")
    assert "consecutive_minutes" not in columns(database_url, "alert_log")


def test_an_old_alert_log_is_migrated_in_place(database_url: str) -> None:
    with connect(database_url) as conn:
        conn.execute(f"create schema {PUBLIC_SCHEMA}")
        conn.execute(OLD_ALERT_LOG.format(schema=PUBLIC_SCHEMA))
        conn.execute(
            f"insert into {PUBLIC_SCHEMA}.alert_log (dedup_key, channel, metric_name, event_type,"
            " severity, minute_at, consecutive_minutes, message)"
            " values ('k', 'stdout', 'volume', 'ALERT', 'INFO', now(), 42, 'm')"
        )
    ensure(database_url)
    ensure(database_url)  # idempotent: the second run finds nothing to rename
    assert "consecutive_minutes" not in columns(database_url, "alert_log")
    assert rows(database_url, f"select episode_minutes from {PUBLIC_SCHEMA}.alert_log") == [(42,)]


def test_dispatcher_runs_from_before_backfills_take_them(database_url: str) -> None:
    with connect(database_url) as conn:
        conn.execute(f"create schema {PUBLIC_SCHEMA}")
        conn.execute(
            f"create table {PUBLIC_SCHEMA}.dispatch_runs (run_id bigserial primary key,"
            " started_at timestamptz not null default now(),"
            " mode text not null check (mode in ('live', 'replay')),"
            " latest_minute_at timestamptz, queued integer not null default 0,"
            " suppressed integer not null default 0, is_stale boolean not null default false)"
        )
        conn.execute(f"insert into {PUBLIC_SCHEMA}.dispatch_runs (mode) values ('replay')")
    ensure(database_url)
    constraint = (
        "select oid, pg_get_constraintdef(oid) from pg_constraint"
        f" where conrelid = '{PUBLIC_SCHEMA}.dispatch_runs'::regclass and contype = 'c'"
    )
    [(first_oid, definition)] = rows(database_url, constraint)
    assert re.findall(r"'(\w+)'::text", definition) == ["live", "backfill", "replay"]
    ensure(database_url)
    assert rows(database_url, constraint)[0][0] == first_oid  # not replaced a second time
    with connect(database_url) as conn:
        conn.execute(f"insert into {PUBLIC_SCHEMA}.dispatch_runs (mode) values ('backfill')")
    modes = rows(database_url, f"select mode from {PUBLIC_SCHEMA}.dispatch_runs order by run_id")
    assert modes == [("replay",), ("backfill",)]


def test_the_ddl_names_the_public_schema_and_alters_nothing_twice() -> None:
    text = alerting_ddl().as_string()
    # The rename of consecutive_minutes and the widened mode check, each behind its test, and
    # the dimension columns, each added if missing.
    assert text.count("alter table") == 5
    assert text.count("add column if not exists") == 2
    assert text.count("do $$") == 2
    assert "{" not in text  # every placeholder filled in
    assert f'create table if not exists "{PUBLIC_SCHEMA}".alert_log' in text


def test_the_delivery_states_are_the_ones_the_table_accepts(database_url: str) -> None:
    with connect(database_url, autocommit=True) as conn:
        ensure_alert_tables(conn)
    (definition,) = rows(
        database_url,
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and contype = 'c'",
        (f"{PUBLIC_SCHEMA}.alert_log",),
    )[0]
    accepted = re.findall(r"'(\w+)'::text", definition)
    assert tuple(accepted) == DELIVERY_STATES
