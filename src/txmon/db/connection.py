"""Which PostgreSQL txmon talks to, connections to it, and scratch databases beside it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from txmon.core.errors import DatabaseUnavailable, TxmonError
from txmon.db.embedded import EmbeddedServer

if TYPE_CHECKING:
    from collections.abc import Iterator

URL_VARIABLE = "TXMON_DATABASE_URL"
# Which database on that server: "main" (the URL's own) or "demo", the one `txmon demo` fills.
DATABASE_VARIABLE = "TXMON_DATABASE"
DATABASES = ("main", "demo")


def database_url(start_embedded: bool = True) -> str:
    """The URL of the database to use: `main_database_url()`, or the demo's database beside it
    when `TXMON_DATABASE` (the --database option) says demo."""
    url = main_database_url(start_embedded)
    return demo_database_url(url) if selected_database() == "demo" else url


def selected_database() -> str:
    value = os.environ.get(DATABASE_VARIABLE, "").strip().lower() or "main"
    if value not in DATABASES:
        raise TxmonError(f"{DATABASE_VARIABLE} must be main or demo, got {value!r}")
    return value


def demo_database_url(url: str) -> str:
    """The demo's database, on the same server as `url`'s and named after it: txmon_demo on
    the embedded server, payments_demo beside payments. The demo never writes anywhere else."""
    name = libpq_environment(url)["PGDATABASE"] + "_demo"
    if len(name.encode()) > 63:
        raise TxmonError(f"the demo's database name {name!r} is longer than 63 bytes")
    return _with_database(url, name)


def main_database_url(start_embedded: bool = True) -> str:
    """The URL of the user's database: `TXMON_DATABASE_URL`, else the embedded server's."""
    configured = os.environ.get(URL_VARIABLE, "").strip()
    if configured:
        if not configured.startswith(("postgresql://", "postgres://")):
            raise TxmonError(f"{URL_VARIABLE} must be a postgresql:// URL, got {configured!r}")
        try:
            urlsplit(configured).port  # noqa: B018 -- parsing it is the check
        except ValueError as error:
            raise TxmonError(f"{URL_VARIABLE} names no valid port: {error}") from error
        return configured
    server = EmbeddedServer()
    status = server.start() if start_embedded else server.status()
    if not status.is_running or status.url is None:
        raise DatabaseUnavailable("the embedded PostgreSQL server is not running (txmon db start)")
    return status.url


def is_embedded() -> bool:
    return not os.environ.get(URL_VARIABLE, "").strip()


def libpq_environment(url: str) -> dict[str, str]:
    """The PG* variables that `profiles.yml` (and psql) read, derived from a URL."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    env = {
        "PGHOST": query.get("host") or parts.hostname or "127.0.0.1",
        "PGPORT": str(query.get("port") or parts.port or 5432),
        "PGUSER": unquote(parts.username or "") or query.get("user") or "postgres",
        "PGPASSWORD": unquote(parts.password or "") or query.get("password", ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or query.get("dbname") or "postgres",
    }
    if "sslmode" in query:
        env["PGSSLMODE"] = query["sslmode"]
    return env


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    env = libpq_environment(url)
    return f"{env['PGUSER']}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"


@contextmanager
def connect(url: str | None = None, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection that turns "cannot connect" into one clear error."""
    target = url or database_url()
    try:
        # Sessions run in UTC, set at connection time so no transaction is left open.
        conn = psycopg.connect(
            target, autocommit=autocommit, connect_timeout=10, options="-c timezone=UTC"
        )
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        if "does not exist" in reason and os.environ.get(DATABASE_VARIABLE, "").strip() == "demo":
            reason += " (`txmon demo` creates it)"
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe(target)}: {reason}"
        ) from error
    with conn:
        yield conn


def dict_rows(
    conn: psycopg.Connection,
    statement: str,
    params: dict[str, Any] | tuple[Any, ...] | None = None,
    *,
    missing: str | None = None,
) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts: the one place txmon reads rows by name.

    With `missing`, a relation that does not exist yet (views before the first build) becomes a
    TxmonError with that message instead of a database error; the query then runs in a
    savepoint (or its own transaction), so the caller's connection stays usable.
    """
    if missing is None:
        with conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(statement, params).fetchall())  # type: ignore[arg-type]
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(statement, params).fetchall())  # type: ignore[arg-type]
    except psycopg.errors.UndefinedTable as error:
        raise TxmonError(missing) from error


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def create_database(server_url: str, prefix: str = "txmon_scratch") -> str:
    """A new empty database beside the one `server_url` names; returns its URL."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return _with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(_with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@contextmanager
def scratch_database(server_url: str, prefix: str = "txmon_scratch") -> Iterator[str]:
    """A database for one job (a benchmark scenario, a check), dropped afterwards."""
    url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop_database(server_url, url)
