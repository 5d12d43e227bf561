"""The read-only role for dashboards: it reads the public views and nothing else, and its
password reaches the server only as a SCRAM verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from helpers import TXMON, build, load_config
from txmon.core.errors import TxmonError
from txmon.db.connection import ReaderRoleError, connect, ensure_reader_role, libpq_environment
from txmon.lab import generate

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


def stored_password(url: str, role: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("select rolpassword from pg_authid where rolname = %s", (role,))
        return row.fetchone()[0]


def scram_keys(password: str, verifier: str) -> str:
    """Recompute a SCRAM-SHA-256 verifier's keys from the password, its salt and iterations."""
    iterations, salt = verifier.removeprefix("SCRAM-SHA-256$").split("$")[0].split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    return f"{base64.b64encode(stored_key).decode()}:{base64.b64encode(server_key).decode()}"


def drop_roles(url: str, *roles: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for role in roles:
            if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                conn.execute(f"drop owned by {role}")
                conn.execute(f"drop role {role}")


def test_the_server_gets_a_scram_verifier_never_the_password(database_url: str) -> None:
    role = f"txmon_reader_{uuid.uuid4().hex[:8]}"
    password = "pässwörd-ünïcode-" + uuid.uuid4().hex[:8]  # ASCII is the easy case
    try:
        with connect(database_url) as conn:
            ensure_reader_role(conn, role, password)
        verifier = stored_password(database_url, role)
        assert verifier.startswith("SCRAM-SHA-256$") and password not in verifier
        assert verifier.split("$")[2] == scram_keys(password, verifier)
        env = libpq_environment(database_url)
        with psycopg.connect(
            host=env["PGHOST"],
            port=env["PGPORT"],
            dbname=env["PGDATABASE"],
            user=role,
            password=password,
        ) as conn:
            assert conn.execute("select current_user").fetchone() == (role,)
        with connect(database_url) as conn:  # a new password replaces the old verifier
            ensure_reader_role(conn, role, password + "-2")
        assert stored_password(database_url, role) not in (verifier, None)
    finally:
        drop_roles(database_url, role)


@pytest.mark.parametrize("role", ["pg_monitorx", "pg_read_all_data", "public", "current_user"])
def test_reserved_role_names_are_refused_before_connecting(
    role: str, txmon_env: dict[str, str]
) -> None:
    secret = f"reader-secret-{uuid.uuid4().hex}"
    env = {
        **txmon_env,
        # Nothing listens there: the refusal must come before any connection.
        "TXMON_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
        "TXMON_READER_PASSWORD": secret,
    }
    result = subprocess.run(
        [TXMON, "db", "reader", role], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    expected = f"txmon: error: role name {role!r} is reserved by PostgreSQL: choose another"
    assert result.stderr.strip() == expected
    assert secret not in result.stdout + result.stderr


def test_a_refusal_by_the_server_is_one_line_without_the_password(database_url: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    admin, target = f"txmon_admin_{suffix}", f"txmon_super_{suffix}"
    secret = f"reader-secret-{uuid.uuid4().hex}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {admin} login createrole password 'admin-password-1'")
        conn.execute(f"create role {target} superuser")
    env = libpq_environment(database_url)
    as_admin = (
        f"postgresql://{admin}:admin-password-1@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"
    )
    try:
        # A role with CREATEROLE may not touch a superuser: the server refuses the statement.
        with connect(as_admin) as conn, pytest.raises(ReaderRoleError) as refused:
            ensure_reader_role(conn, target, secret)
        message = str(refused.value)
        assert message.startswith(f"could not create or update the role {target}: ")
        assert "\n" not in message and secret not in message and "SCRAM" not in message
        assert refused.value.__cause__ is None and refused.value.__suppress_context__
        with psycopg.connect(database_url) as conn:
            row = conn.execute("select rolsuper from pg_roles where rolname = %s", (target,))
            assert row.fetchone() == (True,)  # untouched
        # The role txmon connects as is never turned into a reader.
        with connect(as_admin) as conn, pytest.raises(TxmonError, match="txmon connects as"):
            ensure_reader_role(conn, admin, secret)
    finally:
        drop_roles(database_url, target, admin)
