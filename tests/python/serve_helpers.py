"""Shared steps of the API tests (tests/python/serve): the app under uvicorn on 127.0.0.1, and
what the tests ask of the database. The fixtures built on them are in serve_fixtures.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from helpers import rows
from txmon.core.facts import RAW_SCHEMA
from txmon.ingest import fields as rules

TOKEN = "s3cret-token"


class LiveServer:
    """The app under uvicorn on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        # Bind first and hand uvicorn the socket: no race for the port between tests.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 30, **options})

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def serving(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    try:
        yield server
    finally:
        server.close()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def table_rows(url: str, table: str) -> int:
    """Rows in a raw table; 0 when the table does not exist (a refused batch creates none)."""
    found = rows(url, "select to_regclass(%s) is not null", (f"{RAW_SCHEMA}.{table}",))
    return rows(url, f"select count(*) from {RAW_SCHEMA}.{table}")[0][0] if found[0][0] else 0


def reason(parse: Any, *args: str) -> str:
    """What the CSV loader says about a value."""
    with pytest.raises(rules.InvalidValue) as error:
        parse(*args)
    return str(error.value)
