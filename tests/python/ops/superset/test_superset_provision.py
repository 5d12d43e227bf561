"""Setting Superset up: the secret key its settings read, the admin's password and the
read-only role it logs in as (on a real database)."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.db.connection import connect, libpq_environment
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ops.superset.home import SupersetError, SupersetHome
from txmon.ops.superset.provision import (
    admin_credentials,
    ensure_secret_key,
    reader_uri,
    usernames,
)

pytest_plugins = ["superset_fixtures"]


def test_secret_key_is_generated_once_by_txmon_and_read_by_superset(
    superset_settings: Callable[[], dict[str, Any]],
    superset_home: SupersetHome,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TXMON_SUPERSET_HOME", str(superset_home.root))
    monkeypatch.delenv("SUPERSET_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="txmon superset up"):
        superset_settings()
    ensure_secret_key(superset_home)
    key = superset_home.secret_key_file.read_text().strip()
    assert stat.S_IMODE(superset_home.secret_key_file.stat().st_mode) == 0o600
    assert len(key) >= 64
    ensure_secret_key(superset_home)
    assert superset_home.secret_key_file.read_text().strip() == key, "kept, not replaced"
    assert superset_settings()["SECRET_KEY"] == key
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "from-the-environment")
    assert superset_settings()["SECRET_KEY"] == "from-the-environment"


def test_admin_password_is_generated_once_or_taken_from_the_environment(
    superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = admin_credentials(superset_home)
    assert first.is_new and first.username == "admin"
    assert len(first.password) >= 16 and first.password != "admin"
    assert stat.S_IMODE(superset_home.admin_password_file.stat().st_mode) == 0o600
    again = admin_credentials(superset_home)
    assert (again.password, again.is_new) == (first.password, False)
    monkeypatch.setenv("TXMON_SUPERSET_ADMIN_PASSWORD", "chosen-by-the-operator")
    assert admin_credentials(superset_home).password == "chosen-by-the-operator"
    monkeypatch.setenv("TXMON_SUPERSET_ADMIN_PASSWORD", "short")
    with pytest.raises(TxmonError, match="12 characters"):
        admin_credentials(superset_home)


def test_usernames_are_read_from_superset_listing() -> None:
    listing = (
        "Loaded your LOCAL configuration\nList of users\n-------------\n"
        "username:admin | email:admin@localhost | role:[Admin]\n"
        "username:ops team | email:ops@example.com | role:[Gamma]\n"
    )
    assert usernames(listing) == {"admin", "ops team"}
    assert usernames("List of users\n-------------\n") == set()


def test_reader_uri_logs_in_as_a_role_that_reads_monitoring_only(
    database_url: str, superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = f"txmon_superset_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TXMON_SUPERSET_READER_ROLE", role)
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
        conn.execute(f"create schema if not exists {PUBLIC_SCHEMA}")
        conn.execute(f"create or replace view {PUBLIC_SCHEMA}.probe as select 1 as one")
    try:
        uri = reader_uri(superset_home, database_url)
        assert uri.startswith(f"postgresql+psycopg2://{role}:")
        assert os.stat(superset_home.reader_password_file).st_mode & 0o077 == 0
        assert reader_uri(superset_home, database_url) == uri  # the kept password is reused
        libpq = uri.replace("postgresql+psycopg2://", "postgresql://")
        with psycopg.connect(libpq) as conn:
            assert conn.execute(f"select one from {PUBLIC_SCHEMA}.probe").fetchone() == (1,)
        for statement in (
            f"select * from {RAW_SCHEMA}.transaction_counts",
            f"insert into {RAW_SCHEMA}.transaction_counts default values",
            f"create table {PUBLIC_SCHEMA}.intruder (x int)",
        ):
            with psycopg.connect(libpq) as conn, pytest.raises(psycopg.Error):
                conn.execute(statement)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def test_reader_role_needs_a_user_that_may_create_roles(
    database_url: str, superset_home: SupersetHome
) -> None:
    weak = f"txmon_weak_{uuid.uuid4().hex[:8]}"
    env = libpq_environment(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {weak} login nocreaterole password 'weak-password-1'")
        conn.execute(f"grant all on database {env['PGDATABASE']} to {weak}")
    try:
        as_weak = (
            f"postgresql://{weak}:weak-password-1@{env['PGHOST']}:{env['PGPORT']}"
            f"/{env['PGDATABASE']}"
        )
        with pytest.raises(SupersetError, match="CREATEROLE"):
            reader_uri(superset_home, as_weak)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"drop owned by {weak}")
            conn.execute(f"drop role {weak}")
