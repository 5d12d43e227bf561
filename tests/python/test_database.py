"""The read-only role for dashboards: it reads the public views and nothing else."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from helpers import build, load_config
from txmon import generate
from txmon.database import connect, ensure_reader_role, libpq_environment
from txmon.errors import TxmonError

PASSWORD = "reader-password-123"


def as_role(url: str, role: str) -> str:
    env = libpq_environment(url)
    return f"postgresql://{role}:{PASSWORD}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"


@pytest.mark.slow
def test_reader_role_reads_monitoring_only(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.1, seed=4, incidents=()))
    build(database_url)
    role = f"txmon_reader_{uuid.uuid4().hex[:8]}"
    with connect(database_url) as conn:
        ensure_reader_role(conn, role, PASSWORD)
        ensure_reader_role(conn, role, PASSWORD)  # idempotent
    try:
        reader = as_role(database_url, role)
        with psycopg.connect(reader) as conn:
            assert conn.execute("select count(*) from monitoring.current_status").fetchone()[0] == 5
        forbidden = [
            "select * from txmon_raw.transaction_counts",
            "select * from txmon.fct_metric_minutes",
            "create table monitoring.intruder (x int)",
            "set transaction read write; delete from monitoring.metric_minutes",
        ]
        for statement in forbidden:
            with psycopg.connect(reader) as conn, pytest.raises(psycopg.Error):
                conn.execute(statement)
        build(database_url)  # dbt recreates the views: the role can still read them
        with psycopg.connect(reader) as conn:
            assert conn.execute("select count(*) from monitoring.metric_status").fetchone()[0] > 0
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def test_reader_role_rejects_bad_names_and_short_passwords(database_url: str) -> None:
    with connect(database_url) as conn:
        with pytest.raises(TxmonError, match="role name"):
            ensure_reader_role(conn, 'bad"; drop role postgres; --', PASSWORD)
        with pytest.raises(TxmonError, match="12 characters"):
            ensure_reader_role(conn, "txmon_reader_short", "short")
