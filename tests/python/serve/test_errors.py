"""Failures as answers: a database that cannot be read is a 503 with the reason, not a 500."""

from __future__ import annotations

import httpx

from serve_helpers import serving
from txmon.db.connection import connect
from txmon.serve.app import create_app

pytest_plugins = ["serve_fixtures"]


def test_database_error_is_a_503_not_a_500(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    with connect(url) as conn:  # views that exist but cannot be read
        conn.execute("create schema monitoring")
        conn.execute(
            "create view monitoring.current_status as select 'm'::text as metric_name,"
            " 'all'::text as dimension, 'all'::text as dimension_value,"
            " 'm'::text as short_name, now() as current_minute_at,"
            " (1 / (select 0))::float8 as value, null::float8 as judged_value,"
            " null::float8 as baseline, null::float8 as threshold, false as is_anomalous,"
            " 0 as consecutive_minutes, 0 as episode_minutes, 'HEALTHY'::text as severity,"
            " null::text as episode_id, 'trailing'::text as baseline_mode"
        )
    response = client.get("/status")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database error (DivisionByZero)")


def test_missing_views_are_a_503_that_says_what_to_do(fresh: tuple[str, httpx.Client]) -> None:
    _, client = fresh
    assert client.get("/status").status_code == 503
    assert "txmon build" in client.get("/monitor").json()["detail"]
    assert client.get("/alerts").json() == []  # no alert log yet is an empty log


def test_unreachable_database_is_a_503_with_the_reason(down_url: str) -> None:
    with serving(create_app(down_url)) as server, server.client() as down:
        for path in ("/monitor", "/status", "/episodes", "/alerts", "/metrics/volume"):
            response = down.get(path)
            assert response.status_code == 503, path
            assert "cannot connect to PostgreSQL" in response.json()["detail"]
