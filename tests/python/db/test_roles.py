"""The read-only role for dashboards: it reads the public views and nothing else, its password
reaches the server only as a SCRAM verifier, and the compose deployment's init script makes
exactly the same role from the same SQL file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import REPO_ROOT
from helpers import TXMON, build, listed_metrics, load_config
from txmon.core.errors import TxmonError
from txmon.core.facts import INTERNAL_SCHEMA, PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.db.connection import connect, libpq_environment
from txmon.db.embedded import _bin_dir
from txmon.db.roles import READER_ROLE_SQL, ReaderRoleError, ensure_reader_role
from txmon.lab import generate

PASSWORD = "reader-password-123"
INIT_SCRIPT = REPO_ROOT / "deploy" / "postgres" / "initdb" / "10-superset-reader.sh"


def login_url(url: str, role: str, password: str = PASSWORD) -> str:
    env = libpq_environment(url)
    return f"postgresql://{role}:{password}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']}"


def drop_roles(url: str, *roles: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for role in roles:
            if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                conn.execute(f"drop owned by {role}")
                conn.execute(f"drop role {role}")


@pytest.fixture()
def role_names(database_url: str) -> Iterator[Callable[[str], str]]:
    """Unique role names for one test (roles belong to the whole server), dropped afterwards."""
    made: list[str] = []

    def name(prefix: str = "txmon_reader") -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    drop_roles(database_url, *made)


@pytest.mark.slow
def test_reader_role_reads_monitoring_only(
    database_url: str,
    txmon_env: dict[str, str],
    tmp_path: Path,
    role_names: Callable[[str], str],
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.1, seed=4, incidents=()))
    build(database_url)
    role = role_names("txmon_reader")
    with connect(database_url) as conn:
        ensure_reader_role(conn, role, PASSWORD)
        ensure_reader_role(conn, role, PASSWORD)  # idempotent
    reader = login_url(database_url, role)
    with psycopg.connect(reader) as conn:
        count = conn.execute(f"select count(*) from {PUBLIC_SCHEMA}.current_status").fetchone()
        assert count == (len(listed_metrics()),)
    forbidden = [
        f"select * from {RAW_SCHEMA}.transaction_counts",
        f"select * from {INTERNAL_SCHEMA}.fct_metric_minutes",
        f"create table {PUBLIC_SCHEMA}.intruder (x int)",
        f"set transaction read write; delete from {PUBLIC_SCHEMA}.metric_minutes",
    ]
    for statement in forbidden:
        with psycopg.connect(reader) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)
    build(database_url)  # dbt recreates the views: the role can still read them
    with psycopg.connect(reader) as conn:
        count = conn.execute(f"select count(*) from {PUBLIC_SCHEMA}.metric_status").fetchone()
        assert count[0] > 0


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


def test_the_server_gets_a_scram_verifier_never_the_password(
    database_url: str, role_names: Callable[[str], str]
) -> None:
    role = role_names("txmon_reader")
    password = "pässwörd-ünïcode-" + uuid.uuid4().hex[:8]  # ASCII is the easy case
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


def test_a_refusal_by_the_server_is_one_line_without_the_password(
    database_url: str, role_names: Callable[[str], str]
) -> None:
    admin, target = role_names("txmon_admin"), role_names("txmon_super")
    secret = f"reader-secret-{uuid.uuid4().hex}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {admin} login createrole password 'admin-password-1'")
        conn.execute(f"create role {target} superuser")
    as_admin = login_url(database_url, admin, "admin-password-1")
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


def test_a_user_without_createrole_is_told_so(
    database_url: str, role_names: Callable[[str], str]
) -> None:
    weak = role_names("txmon_weak")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {weak} login password 'weak-password-1'")
    with (
        connect(login_url(database_url, weak, "weak-password-1")) as conn,
        pytest.raises(ReaderRoleError, match="neither CREATEROLE nor SUPERUSER"),
    ):
        ensure_reader_role(conn, role_names("txmon_reader"), PASSWORD)


# -- the compose deployment's init script --------------------------------------------------------


def privileges(url: str, role: str) -> dict[str, Any]:
    """Everything a role is and may do in one database, its own name left out."""
    with psycopg.connect(url) as conn:

        def rows(statement: str) -> list[tuple[Any, ...]]:
            return sorted(conn.execute(statement, {"role": role}).fetchall())

        grantee = "(select oid from pg_roles where rolname = %(role)s)"
        return {
            "attributes": rows(
                "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit,"
                " rolreplication, rolbypassrls, rolconfig from pg_roles where rolname = %(role)s"
            ),
            "password": rows(
                "select split_part(rolpassword, '$', 1) from pg_authid where rolname = %(role)s"
            ),
            "database": rows(
                "select acl.privilege_type from pg_database, aclexplode(datacl) as acl"
                f" where datname = current_database() and acl.grantee = {grantee}"
            ),
            "schemas": rows(
                "select nspname, acl.privilege_type from pg_namespace, aclexplode(nspacl) as acl"
                f" where acl.grantee = {grantee}"
            ),
            "tables": rows(
                "select table_schema, table_name, privilege_type"
                " from information_schema.role_table_grants where grantee = %(role)s"
            ),
            "defaults": rows(
                "select defaclnamespace::regnamespace::text, defaclobjtype, acl.privilege_type"
                f" from pg_default_acl, aclexplode(defaclacl) as acl where acl.grantee = {grantee}"
            ),
        }


def run_init_script(url: str, role: str, password: str) -> subprocess.CompletedProcess[str]:
    """The script as the postgres image runs it, with the package's SQL file where compose
    mounts it and the embedded server's psql (the machine may have none)."""
    env = libpq_environment(url)
    sql_file = resources.files("txmon").joinpath(READER_ROLE_SQL)
    return subprocess.run(
        ["sh", str(INIT_SCRIPT)],
        env={
            "PATH": f"{_bin_dir()}{os.pathsep}{os.environ['PATH']}",
            **env,
            "POSTGRES_USER": env["PGUSER"],
            "POSTGRES_DB": env["PGDATABASE"],
            "SUPERSET_READER_USER": role,
            "SUPERSET_READER_PASSWORD": password,
            "READER_ROLE_SQL": str(sql_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_init_script_makes_the_same_role_as_txmon(
    database_url: str, role_names: Callable[[str], str]
) -> None:
    with connect(database_url) as conn:
        conn.execute(f"create schema if not exists {PUBLIC_SCHEMA}")
        conn.execute(f"create view {PUBLIC_SCHEMA}.probe as select 1 as one")
        conn.execute(f"create schema if not exists {RAW_SCHEMA}")
    by_txmon, by_script = role_names("txmon_reader"), role_names("txmon_reader")
    with connect(database_url) as conn:
        ensure_reader_role(conn, by_txmon, PASSWORD)
    result = run_init_script(database_url, by_script, PASSWORD)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""

    expected = privileges(database_url, by_txmon)
    assert expected["tables"] == [(PUBLIC_SCHEMA, "probe", "SELECT")]
    assert privileges(database_url, by_script) == expected
    for role in (by_txmon, by_script):
        with psycopg.connect(login_url(database_url, role)) as conn:
            assert conn.execute(f"select one from {PUBLIC_SCHEMA}.probe").fetchone() == (1,)
            assert conn.execute("show transaction_read_only").fetchone() == ("on",)


def test_the_init_script_stops_on_a_refusal(
    database_url: str, role_names: Callable[[str], str]
) -> None:
    user = libpq_environment(database_url)["PGUSER"]
    result = run_init_script(database_url, user, PASSWORD)
    assert result.returncode != 0
    assert "txmon connects as" in result.stderr
    assert PASSWORD not in result.stderr


def test_the_init_script_reads_the_schema_txmon_publishes() -> None:
    default = re.search(r'READER_SCHEMA="\$\{READER_SCHEMA:-(\w+)\}"', INIT_SCRIPT.read_text())
    assert default and default[1] == PUBLIC_SCHEMA
