"""Fixtures of the alerting tests (tests/python/alerting): local HTTP(S) receivers, SMTP
servers, a certificate, and a database with a built failure burst shared by the outbox tests.

Test modules load them with `pytest_plugins = ["alerting_fixtures"]` (a conftest.py in
tests/python/alerting would shadow tests/python/conftest.py for `from conftest import ...`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerting_helpers import (
    BURST_START,
    START,
    Certificate,
    Mailbox,
    PortZeroController,
    SmtpServer,
    WebServer,
    authenticator,
    make_certificate,
)
from conftest import REPO_ROOT
from helpers import built_database
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect
from txmon.lab import generate

ALERT_TABLES = ("alert_log", "alert_silences", "dispatch_runs")


def _serve(server: WebServer) -> Iterator[WebServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture()
def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours proxy variables; the tests talk to 127.0.0.1 directly.
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)


@pytest.fixture()
def web(without_proxies: None) -> Iterator[WebServer]:
    """A recording HTTP receiver on 127.0.0.1."""
    yield from _serve(WebServer())


@pytest.fixture()
def tls_web(without_proxies: None, certificate: Certificate) -> Iterator[WebServer]:
    """The same receiver behind HTTPS with the run's self-signed certificate."""
    yield from _serve(WebServer(tls=certificate.server_context()))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture()
def smtp_server(certificate: Certificate) -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers: plain (`tls=None`), STARTTLS (`"starttls"`) or implicit TLS
    (`"implicit"`), optionally requiring AUTH."""
    controllers: list[PortZeroController] = []

    def start(tls: str | None = None, auth: bool = False) -> SmtpServer:
        mailbox = Mailbox()
        options: dict[str, Any] = {}
        if tls == "starttls":
            options["tls_context"] = certificate.server_context()
        elif tls == "implicit":
            options["ssl_context"] = certificate.server_context()
        if auth:
            options["authenticator"] = authenticator
        controller = PortZeroController(mailbox, hostname="127.0.0.1", port=0, **options)
        controller.start()
        controllers.append(controller)
        return SmtpServer(mailbox, controller.port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="session")
def burst_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with one day of traffic and a 70-minute failure burst, built once for all
    the alerting tests that read the views."""
    config = generate.GeneratorConfig(
        days=1.0,
        seed=21,
        start=START,
        incidents=(generate.Incident("failed_burst", BURST_START, 70, 0.2),),
    )
    folder = tmp_path_factory.mktemp("alerting-data")
    with built_database(server_url, folder, config) as url:
        yield url


@pytest.fixture()
def alert_url(burst_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The built database with no alerting tables: every test starts with an empty log."""
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
    with connect(burst_url) as conn:
        tables = ", ".join(f"{PUBLIC_SCHEMA}.{table}" for table in ALERT_TABLES)
        conn.execute(f"drop table if exists {tables}")
        conn.commit()
    return burst_url
