"""The embedded server: created under TXMON_HOME, reused, stopped and started again."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from txmon import database
from txmon.embedded import EmbeddedServer


def test_start_reuse_stop_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "home")
    assert not server.status().is_initialized
    first = server.start()
    try:
        assert first.is_running and first.url
        with psycopg.connect(first.url) as conn:
            conn.execute("create table kept (x int)")
            conn.execute("insert into kept values (42)")
        again = server.start()
        assert again.url == first.url
        assert server.stop()
        assert not server.status().is_running
        assert not server.stop()
        restarted = server.start()
        assert restarted.is_running
        with psycopg.connect(restarted.url) as conn:
            assert conn.execute("select x from kept").fetchone() == (42,)
    finally:
        server.stop()
    assert (tmp_path / "home" / "postgres" / "data" / "PG_VERSION").exists()


def test_txmon_home_moves_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TXMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "elsewhere"))
    url = database.database_url()
    try:
        assert database.is_embedded()
        with database.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone() == ("txmon",)
        assert (tmp_path / "elsewhere" / "postgres" / "data").is_dir()
    finally:
        EmbeddedServer(tmp_path / "elsewhere").stop()


def test_libpq_environment_from_urls() -> None:
    env = database.libpq_environment(
        "postgresql://ana:s%40cret@db.example:6543/payments?sslmode=require"
    )
    assert env == {
        "PGHOST": "db.example",
        "PGPORT": "6543",
        "PGUSER": "ana",
        "PGPASSWORD": "s@cret",
        "PGDATABASE": "payments",
        "PGSSLMODE": "require",
    }
    assert database.describe("postgresql://ana:secret@h:1/d") == "ana@h:1/d"
