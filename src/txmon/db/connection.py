"""Which PostgreSQL txmon talks to, connections to it, and the raw tables it loads into."""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from importlib import resources
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


# The partitioned raw tables and the column of each that picks its day partition.


def dict_rows(
    conn: psycopg.Connection,
    statement: str,
    params: dict[str, Any] | tuple[Any, ...] | None = None,
    *,
    missing: str | None = None,
) -> list[dict[str, Any]]:
    """Run a query and return its rows as dicts: the one place txmon reads rows by name.

    With `missing`, a relation that does not exist yet (views before the first build) rolls the
    transaction back and becomes a TxmonError with that message instead of a database error.
    """
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(statement, params).fetchall())  # type: ignore[arg-type]
    except psycopg.errors.UndefinedTable as error:
        if missing is None:
            raise
        conn.rollback()
        raise TxmonError(missing) from error


PARTITIONED_RAW_TABLES = {"transaction_counts": "observed_at", "transactions": "created_at"}

_RAW_TABLES_CURRENT = """
select obj_description(n.oid, 'pg_namespace') = %s
   and (select count(*) from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
        where c.relnamespace = n.oid and c.relname = any(%s)) = %s
from pg_namespace n where n.nspname = 'txmon_raw'
"""


def ensure_raw_tables(conn: psycopg.Connection) -> None:
    """Create (or migrate) the raw schema and tables, and move rows that writers put in the
    default partitions into day partitions; safe to run any number of times.

    It runs before every load and build, so the usual case is two cheap queries: the catalog
    says the tables match this version's DDL (by its hash), and the default partitions are empty.
    """
    ddl = resources.files("txmon").joinpath("sql/raw_tables.sql").read_text()
    marker = "txmon raw tables, ddl sha256 " + hashlib.sha256(ddl.encode()).hexdigest()
    tables = list(PARTITIONED_RAW_TABLES)

    def is_current() -> bool:
        row = conn.execute(_RAW_TABLES_CURRENT, (marker, tables, len(tables))).fetchone()
        return bool(row and row[0])

    def has_pending_rows() -> bool:
        exists = " or ".join(f"exists (select from txmon_raw.{t}_default)" for t in tables)
        row = conn.execute(f"select {exists}").fetchone()
        return bool(row and row[0])

    if is_current():
        # Only one writer at a time moves rows out of the default partitions, and the others
        # never wait for it: a writer that looked into a default partition first and then
        # waited for this lock would deadlock with the one moving rows (which needs the
        # partition exclusively). Rows left there are moved by the next call.
        if not conn.execute(
            "select pg_try_advisory_xact_lock(hashtext('txmon.raw_tables'))"
        ).fetchone()[0]:  # type: ignore[index]
            return
        if not has_pending_rows():
            return
    else:
        # Two processes creating the schema at once would collide; serialise on the lock.
        conn.execute("select pg_advisory_xact_lock(hashtext('txmon.raw_tables'))")
    if not is_current():
        conn.execute(ddl)
        conn.execute(sql.SQL("comment on schema txmon_raw is {}").format(sql.Literal(marker)))
    for table, column in PARTITIONED_RAW_TABLES.items():
        conn.execute(
            "select txmon_raw.partition_default_rows(%s::regclass, %s)",
            (f"txmon_raw.{table}", column),
        )


_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Names PostgreSQL keeps for itself: `pg_` roles are reserved, the others are keywords.
_RESERVED_ROLES = {"public", "none", "current_user", "session_user", "current_role"}


class ReaderRoleError(TxmonError):
    """The server refused to create or update a reader role; `reason` says why, in one line."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(f"could not create or update the role {role}: {reason}")
        self.reason = reason


def check_reader_role(role: str, password: str) -> None:
    """Refuse a role name or password that cannot work, before anything reaches the server."""
    if not _ROLE_NAME.fullmatch(role):
        raise TxmonError(f"role name {role!r}: use lower-case letters, digits and _ only")
    if role.startswith("pg_") or role in _RESERVED_ROLES:
        raise TxmonError(f"role name {role!r} is reserved by PostgreSQL: choose another")
    if len(password) < 12:
        raise TxmonError("the reader's password must have at least 12 characters")


def ensure_reader_role(conn: psycopg.Connection, role: str, password: str) -> None:
    """A login role that can read the monitoring schema and nothing else (for dashboards).

    Views in `monitoring` run with their owner's rights, so the role needs no access to the
    tables behind them; default privileges give it the views that later builds recreate.
    The server gets the password's SCRAM-SHA-256 verifier, computed here, never its text; any
    failure is one line without either.
    """
    check_reader_role(role, password)
    # libpq computes the verifier locally (SASLprep included); PostgreSQL stores it as given.
    verifier = conn.pgconn.encrypt_password(
        password.encode(), role.encode(), b"scram-sha-256"
    ).decode()
    try:
        _ensure_reader_role(conn, role, verifier)
    except psycopg.Error as error:
        # Only the primary message: psycopg's full text can quote the statement.
        reason = error.diag.message_primary or type(error).__name__
        for secret in (password, verifier):
            reason = reason.replace(secret, "***")
        raise ReaderRoleError(role, reason) from None


def _ensure_reader_role(conn: psycopg.Connection, role: str, verifier: str) -> None:
    name = sql.Identifier(role)
    with conn.transaction():
        who = conn.execute(
            "select current_user, rolsuper, rolcreaterole from pg_roles"
            " where rolname = current_user"
        ).fetchone()
        assert who is not None
        user, is_superuser, can_create_roles = who
        if role == user:
            raise TxmonError(f"the role {role} is the one txmon connects as: choose another")
        if not (is_superuser or can_create_roles):
            raise ReaderRoleError(
                role, f"permission denied: {user} has neither CREATEROLE nor SUPERUSER"
            )
        if is_superuser:
            # A server logs a failing statement with its text by default; not this one.
            conn.execute("set local log_statement = 'none'")
            conn.execute("set local log_min_error_statement = 'panic'")
        conn.execute("select pg_advisory_xact_lock(hashtext('txmon.reader_role'))")
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(
            sql.SQL(
                verb + " role {} with login nosuperuser nocreatedb nocreaterole password {}"
            ).format(name, sql.Literal(verifier))
        )
        conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(name))
        conn.execute("create schema if not exists monitoring")
        for schema in ("public", "txmon", "txmon_raw"):
            if conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone():
                conn.execute(
                    sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), name)
                )
        conn.execute(sql.SQL("grant usage on schema monitoring to {}").format(name))
        conn.execute(sql.SQL("grant select on all tables in schema monitoring to {}").format(name))
        conn.execute(
            sql.SQL(
                "alter default privileges in schema monitoring grant select on tables to {}"
            ).format(name)
        )


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
