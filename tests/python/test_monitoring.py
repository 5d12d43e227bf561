"""Reading schema monitoring: which relations exist, before and after a build creates them."""

from __future__ import annotations

import psycopg

from txmon.db.connection import connect
from txmon.pipeline.views import PUBLIC_VIEWS, existing_relations, has_relation


def test_existing_relations_reports_only_what_is_there(database_url: str) -> None:
    with connect(database_url) as conn:
        assert existing_relations(conn, PUBLIC_VIEWS) == set()
        assert not has_relation(conn, "current_status")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create schema monitoring")
        conn.execute("create view monitoring.current_status as select 1 as one")
        conn.execute('create table monitoring."odd name" (x int)')
    with connect(database_url) as conn:
        assert existing_relations(conn, PUBLIC_VIEWS) == {"current_status"}
        assert has_relation(conn, "current_status")
        assert has_relation(conn, "odd name"), "names are quoted, not spliced"
        assert not has_relation(conn, "current_status; drop schema monitoring")
