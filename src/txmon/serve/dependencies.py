"""What routes are given rather than build: the database they serve and the [ingest] rules.

Every request opens its own short-lived connection: nothing to repair when PostgreSQL restarts,
and an unreachable database is a 503 with the reason (txmon.serve.errors), never a 500. A route
opens it itself, after FastAPI has validated the request, so a refused request never costs a
connection and is refused the same whether the database is up or not.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, FastAPI, Request

from txmon.core.config import Ingest
from txmon.db.connection import connect

STATEMENT_TIMEOUT_MS = 30_000  # a read that takes longer is answered 503, not left hanging


@dataclass(frozen=True)
class Database:
    """The database behind the API."""

    url: str

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A read-only transaction with a statement timeout, on a connection of its own."""
        with connect(self.url) as conn:
            conn.read_only = True  # a read route cannot write, whatever a reader function does
            conn.execute(f"set local statement_timeout = {STATEMENT_TIMEOUT_MS}")
            yield conn

    @contextmanager
    def writing(self) -> Iterator[psycopg.Connection]:
        """A transaction on a connection of its own: committed at the end, or rolled back."""
        with connect(self.url) as conn:
            yield conn


def configure(app: FastAPI, database: Database, ingest: Ingest) -> None:
    """Give the app what its routes depend on."""
    app.state.database = database
    app.state.ingest = ingest


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _ingest_rules(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest


ServedDatabase = Annotated[Database, Depends(_database)]
IngestRules = Annotated[Ingest, Depends(_ingest_rules)]
