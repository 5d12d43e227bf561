"""What routes are given: connections opened only for valid requests, reads that cannot write."""

from __future__ import annotations

import psycopg
import pytest

from serve_helpers import serving
from txmon.serve.app import create_app
from txmon.serve.dependencies import STATEMENT_TIMEOUT_MS, Database

pytest_plugins = ["serve_fixtures"]


def test_a_refused_request_needs_no_database(down_url: str) -> None:
    with serving(create_app(down_url)) as server, server.client() as client:
        assert client.get("/episodes", params={"since": "yesterday"}).status_code == 422
        assert client.get("/alerts", params={"limit": 0}).status_code == 422
        assert client.post("/transactions", json={}).status_code == 422
        assert client.get("/status").status_code == 503  # a valid one does


def test_reading_is_read_only_with_a_statement_timeout(database_url: str) -> None:
    with Database(database_url).reading() as conn:
        timeout = conn.execute("select current_setting('statement_timeout')").fetchone()
        assert timeout == (f"{STATEMENT_TIMEOUT_MS // 1000}s",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table written (x int)")


def test_writing_commits_at_the_end_or_not_at_all(database_url: str) -> None:
    with Database(database_url).writing() as conn:
        conn.execute("create table kept (x int)")
    with pytest.raises(RuntimeError), Database(database_url).writing() as conn:
        conn.execute("create table dropped (x int)")
        raise RuntimeError("the route failed")
    with Database(database_url).reading() as conn:
        found = conn.execute("select to_regclass('kept'), to_regclass('dropped')").fetchone()
    assert found == ("kept", None)
