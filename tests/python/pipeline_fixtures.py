"""Fixtures of the incremental and publication tests (tests/python/pipeline).

Test modules load them with `pytest_plugins = ["pipeline_fixtures"]`; a conftest.py in
tests/python/pipeline would shadow tests/python/conftest.py for `from conftest import ...`.
"""

from __future__ import annotations

import pytest

from pipeline_helpers import Builder


@pytest.fixture()
def builder(database_url: str, txmon_env: dict[str, str]) -> Builder:
    """Builds of the test database, with txmon's files in the test's own TXMON_HOME."""
    return Builder(database_url)
