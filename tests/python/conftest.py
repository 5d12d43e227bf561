"""Fixtures that give every test a real, empty PostgreSQL database.

`TXMON_TEST_DATABASE_URL` names a server to create test databases on (CI uses the machine's
PostgreSQL 15). Without it the suite starts txmon's embedded server in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from txmon.db.connection import create_database, drop_database
from txmon.db.embedded import EmbeddedServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A maintenance-database URL on the server under test."""
    configured = os.environ.get("TXMON_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    home = tmp_path_factory.mktemp("embedded-home")
    server = EmbeddedServer(home)
    status = server.start()
    assert status.url is not None
    yield status.url.rsplit("/", 1)[0] + "/postgres"
    server.stop()


def make_database(server: str) -> str:
    """Create an empty database on the server under test and return its URL."""
    return create_database(server, "txmon_test")


@pytest.fixture()
def database_url(server_url: str) -> Iterator[str]:
    """A fresh empty database for one test, dropped afterwards."""
    url = make_database(server_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


@pytest.fixture()
def txmon_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing txmon (in process and in subprocesses) at the test database."""
    monkeypatch.setenv("TXMON_DATABASE_URL", database_url)
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "txmon-home"))
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
    monkeypatch.delenv("TXMON_DATABASE", raising=False)  # the main database, not the demo's
    return {
        **os.environ,
        "TXMON_DATABASE_URL": database_url,
        "TXMON_HOME": str(tmp_path / "txmon-home"),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
    }
