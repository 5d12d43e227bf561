"""Fixtures of the API tests (tests/python/serve): a built database served once for the whole
run, an empty database behind its own server for the write tests, and an unreachable one.

Test modules load them with `pytest_plugins = ["serve_fixtures"]`; a conftest.py in
tests/python/serve would shadow tests/python/conftest.py for `from conftest import ...`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from conftest import REPO_ROOT, drop_database, make_database
from helpers import build, load_config
from serve_helpers import LiveServer, serving
from txmon.lab import generate
from txmon.serve.app import create_app


@pytest.fixture(scope="session")
def built_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Half a day of traffic ending in an approval collapse, loaded and built once for all the
    API tests (the ones that change it, the alert log and build_runs, start by resetting it)."""
    url = make_database(server_url)
    folder = tmp_path_factory.mktemp("api-data")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TXMON_HOME", str(folder / "home"))
            patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
            load_config(url, folder, generate.crisis_scenario(days=0.5, seed=3))
            build(url)
            yield url
    finally:
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def live(built_url: str) -> Iterator[LiveServer]:
    """The API without a token over the built database."""
    with serving(create_app(built_url)) as server:
        yield server


@pytest.fixture()
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture()
def fresh(database_url: str) -> Iterator[tuple[str, httpx.Client]]:
    """An empty database (never built) behind its own server, for the write tests."""
    with serving(create_app(database_url)) as server, server.client() as client:
        yield database_url, client


@pytest.fixture()
def down_url() -> str:
    """A database URL on a port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{closed}/postgres"
