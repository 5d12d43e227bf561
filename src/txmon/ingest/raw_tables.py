"""The raw tables every writer fills and dbt reads as sources: created or migrated from the DDL
in `raw_tables.sql` (package data beside this module), and kept tidy by moving rows that landed
in the default partitions into day partitions.

May import: `txmon.ingest.fields`, `txmon.core`.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import psycopg
from psycopg import sql

from txmon.core.facts import RAW_SCHEMA
from txmon.ingest.fields import SHAPES, TABLES, TIME_COLUMN

# The partitioned raw tables and the column of each that picks its day partition.
PARTITIONED_RAW_TABLES = {TABLES[shape]: TIME_COLUMN[shape] for shape in SHAPES}
DDL_FILE = "raw_tables.sql"

_RAW_TABLES_CURRENT = """
select obj_description(n.oid, 'pg_namespace') = %s
   and (select count(*) from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
        where c.relnamespace = n.oid and c.relname = any(%s)) = %s
from pg_namespace n where n.nspname = %s
"""
# Creating the schema and moving rows out of the default partitions: one process at a time.
_LOCK_NAME = "txmon.raw_tables"


def raw_tables_ddl() -> str:
    """The text of `raw_tables.sql`."""
    return resources.files("txmon.ingest").joinpath(DDL_FILE).read_text()


def ensure_raw_tables(conn: psycopg.Connection) -> None:
    """Create (or migrate) the raw schema and tables, and move rows that writers put in the
    default partitions into day partitions; safe to run any number of times.

    It runs before every load and build, so the usual case is two cheap queries: the catalog
    says the tables match this version's DDL (by its hash), and the default partitions are empty.
    """
    ddl = raw_tables_ddl()
    marker = "txmon raw tables, ddl sha256 " + hashlib.sha256(ddl.encode()).hexdigest()
    tables = list(PARTITIONED_RAW_TABLES)

    def is_current() -> bool:
        row = conn.execute(
            _RAW_TABLES_CURRENT, (marker, tables, len(tables), RAW_SCHEMA)
        ).fetchone()
        return bool(row and row[0])

    def has_pending_rows() -> bool:
        exists = " or ".join(f"exists (select from {RAW_SCHEMA}.{t}_default)" for t in tables)
        row = conn.execute(f"select {exists}").fetchone()
        return bool(row and row[0])

    if is_current():
        # Only one writer at a time moves rows out of the default partitions, and the others
        # never wait for it: a writer that looked into a default partition first and then
        # waited for this lock would deadlock with the one moving rows (which needs the
        # partition exclusively). Rows left there are moved by the next call.
        row = conn.execute("select pg_try_advisory_xact_lock(hashtext(%s))", (_LOCK_NAME,))
        if not row.fetchone()[0]:  # type: ignore[index]
            return
        if not has_pending_rows():
            return
    else:
        # Two processes creating the schema at once would collide; serialise on the lock.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (_LOCK_NAME,))
    if not is_current():
        conn.execute(ddl)  # type: ignore[arg-type]  # trusted package data, not user input
        conn.execute(
            sql.SQL("comment on schema {} is {}").format(
                sql.Identifier(RAW_SCHEMA), sql.Literal(marker)
            )
        )
    for table, column in PARTITIONED_RAW_TABLES.items():
        conn.execute(
            f"select {RAW_SCHEMA}.partition_default_rows(%s::regclass, %s)",
            (f"{RAW_SCHEMA}.{table}", column),
        )
