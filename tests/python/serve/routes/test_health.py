"""GET /health: the database, the views and the builds, 200 or 503 with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from serve_helpers import instant, serving
from txmon.db.connection import connect
from txmon.pipeline import views as monitoring
from txmon.serve.app import create_app

pytest_plugins = ["serve_fixtures"]


@pytest.mark.slow
def test_health_reports_data_and_builds(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        latest = max(status.current_minute_at for status in monitoring.current_status(conn))
        conn.execute("drop table if exists monitoring.build_runs")

    health = http.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["database"], body["views"]) == ("ok", "ok", "ok")
    assert instant(body["latest_minute_at"]) == latest
    lag = (datetime.now(UTC) - latest - timedelta(minutes=1)).total_seconds()
    assert abs(body["data_lag_seconds"] - lag) < 60
    assert (body["last_build_at"], body["last_build_succeeded"], body["reason"]) == (
        None,
        None,
        None,
    )

    # What the scheduler records (monitoring.build_runs): a success, then a failure.
    succeeded_at = datetime(2025, 7, 15, 12, 0, tzinfo=UTC)
    with connect(built_url) as conn:
        conn.execute(
            "create table monitoring.build_runs (build_id bigserial primary key,"
            " started_at timestamptz not null, finished_at timestamptz not null,"
            " succeeded boolean not null, seconds double precision not null, error text)"
        )
        conn.execute(
            "insert into monitoring.build_runs (started_at, finished_at, succeeded, seconds)"
            " values (%(ok)s, %(ok)s, true, 1), (%(bad)s, %(bad)s, false, 1)",
            {"ok": succeeded_at, "bad": succeeded_at + timedelta(minutes=1)},
        )
    body = http.get("/health").json()
    assert instant(body["last_build_at"]) == succeeded_at
    assert body["last_build_succeeded"] is False


def test_health_503_without_views(fresh: tuple[str, httpx.Client]) -> None:
    _, client = fresh
    no_views = client.get("/health")
    assert no_views.status_code == 503
    assert (no_views.json()["database"], no_views.json()["views"]) == ("ok", "missing")
    assert "txmon build" in no_views.json()["reason"]


def test_health_503_without_database(down_url: str) -> None:
    with serving(create_app(down_url)) as server, server.client() as down:
        health = down.get("/health")
    assert health.status_code == 503
    assert health.json()["database"] == "error"
    assert "cannot connect" in health.json()["reason"]
