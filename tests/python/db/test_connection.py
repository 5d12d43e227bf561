"""Which database txmon talks to: URLs and the libpq variables derived from them."""

from __future__ import annotations

from txmon.db.connection import describe, libpq_environment


def test_libpq_environment_from_urls() -> None:
    env = libpq_environment("postgresql://ana:s%40cret@db.example:6543/payments?sslmode=require")
    assert env == {
        "PGHOST": "db.example",
        "PGPORT": "6543",
        "PGUSER": "ana",
        "PGPASSWORD": "s@cret",
        "PGDATABASE": "payments",
        "PGSSLMODE": "require",
    }
    assert describe("postgresql://ana:secret@h:1/d") == "ana@h:1/d"
