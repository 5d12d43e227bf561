"""Fixtures of the ingest tests (tests/python/ingest): a loader of CSV text into the test
database, and the test database with its raw tables made.

Test modules load them with `pytest_plugins = ["ingest_fixtures"]` and import the helpers from
ingest_helpers; a conftest.py in tests/python/ingest would shadow tests/python/conftest.py for
`from conftest import ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest_helpers import LoadCsv, load, write
from txmon.db.connection import connect
from txmon.ingest.loads import LoadSummary
from txmon.ingest.raw_tables import ensure_raw_tables


@pytest.fixture()
def load_csv(database_url: str, tmp_path: Path) -> LoadCsv:
    """Write `content` to a file in tmp_path (`name`, input.csv by default) and load it into
    the test database: load_csv(content, name="input.csv", **load_file options)."""

    def load_csv(content: str | bytes, name: str = "input.csv", **options: Any) -> LoadSummary:
        return load(database_url, write(tmp_path, name, content), **options)

    return load_csv


@pytest.fixture()
def raw_tables(database_url: str) -> str:
    """The test database with its raw tables already made; its URL."""
    with connect(database_url) as conn:
        ensure_raw_tables(conn)
    return database_url
