"""The raw tables every writer fills and dbt reads as sources: created or migrated from the one
DDL in the dbt project (`macros/inputs/raw_tables_ddl.sql`, which dbt's on-run-start also runs),
and kept tidy by moving rows that landed in the default partitions into day partitions.

May import: `txmon.ingest.fields`, `txmon.core`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
import psycopg
from psycopg import sql

from txmon.core.facts import RAW_SCHEMA
from txmon.core.paths import dbt_project_dir
from txmon.ingest.fields import SHAPES, TABLES, TIME_COLUMN

# The partitioned raw tables and the column of each that picks its day partition.
PARTITIONED_RAW_TABLES = {TABLES[shape]: TIME_COLUMN[shape] for shape in SHAPES}
# The DDL's macro file, inside the dbt project.
DDL_MACROS = Path("macros", "inputs", "raw_tables_ddl.sql")

_RAW_TABLES_CURRENT = """
select obj_description(n.oid, 'pg_namespace') = %s
   and (select count(*) from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
        where c.relnamespace = n.oid and c.relname = any(%s)) = %s
from pg_namespace n where n.nspname = %s
"""


@dataclass(frozen=True)
class RawTablesDdl:
    """The DDL rendered for txmon's raw schema, the schema comment that marks this version of
    it, and the advisory lock it is run under."""

    text: str
    marker: str
    lock: str


@cache
def _render(macros: Path, schema: str) -> RawTablesDdl:
    # The macros are plain Jinja: rendered here, they give the very text dbt renders, so the
    # marker (its md5, dbt's local_md5) is the same whichever of the two created the tables.
    module = jinja2.Environment(autoescape=False).from_string(macros.read_text()).module
    text = str(module.raw_tables_ddl(schema))  # type: ignore[attr-defined]
    digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    marker = f"{module.raw_tables_mark()}, ddl md5 {digest}"  # type: ignore[attr-defined]
    return RawTablesDdl(text, marker, str(module.raw_tables_lock()))  # type: ignore[attr-defined]


def raw_tables_definition() -> RawTablesDdl:
    """The raw tables' DDL for RAW_SCHEMA, from the dbt project txmon runs, with its marker."""
    return _render(dbt_project_dir() / DDL_MACROS, RAW_SCHEMA)


def raw_tables_ddl() -> str:
    """The text of the raw tables' DDL for RAW_SCHEMA."""
    return raw_tables_definition().text


def ensure_raw_tables(conn: psycopg.Connection) -> None:
    """Create (or migrate) the raw schema and tables, and move rows that writers put in the
    default partitions into day partitions; safe to run any number of times.

    It runs before every load and build, so the usual case is two cheap queries: the catalog
    says the tables match this version's DDL (by the md5 in the schema's comment), and the
    default partitions are empty or busy (partition_pending_rows never waits).
    """
    ddl = raw_tables_definition()
    tables = list(PARTITIONED_RAW_TABLES)

    def is_current() -> bool:
        row = conn.execute(
            _RAW_TABLES_CURRENT, (ddl.marker, tables, len(tables), RAW_SCHEMA)
        ).fetchone()
        return bool(row and row[0])

    if not is_current():
        # Two processes creating the schema at once would collide; serialise on the lock.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (ddl.lock,))
        if not is_current():
            conn.execute(ddl.text)  # type: ignore[arg-type]  # trusted project file, not input
            conn.execute(
                sql.SQL("comment on schema {} is {}").format(
                    sql.Identifier(RAW_SCHEMA), sql.Literal(ddl.marker)
                )
            )
    conn.execute(f"select {RAW_SCHEMA}.partition_pending_rows()")
