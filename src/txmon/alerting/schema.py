"""The alerting tables (the outbox and log, silences, dispatcher and build runs) in the public
schema, created or brought up to date in place by `alerting.sql`, which ships in this package."""

from __future__ import annotations

from functools import cache
from importlib import resources

import psycopg
from psycopg import sql

from txmon.core.facts import PUBLIC_SCHEMA

DDL_FILE = "alerting.sql"


@cache
def alerting_ddl() -> sql.Composed:
    """The statements of `alerting.sql` with the public schema filled in."""
    text = resources.files("txmon.alerting").joinpath(DDL_FILE).read_text(encoding="utf-8")
    return sql.SQL(text).format(
        schema=sql.Identifier(PUBLIC_SCHEMA), schema_name=sql.Literal(PUBLIC_SCHEMA)
    )


def ensure_alert_tables(conn: psycopg.Connection) -> None:
    """Create the tables, or migrate older ones, one session at a time."""
    conn.execute("select pg_advisory_xact_lock(hashtext('txmon.alert_tables'))")
    conn.execute(alerting_ddl())
