"""Readers of the public views: which relations exist, health, last build, worst severity."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import psycopg
import pytest
import yaml

from conftest import REPO_ROOT
from txmon.db.connection import connect
from txmon.pipeline import build_state, views
from txmon.pipeline.build_state import PUBLIC_VIEWS, existing_relations, has_relation


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


def test_health_names_the_missing_views(database_url: str) -> None:
    with connect(database_url) as conn:
        health = build_state.health(conn)
    assert (health.status, health.database, health.views) == ("error", "ok", "missing")
    assert health.reason is not None and "txmon build" in health.reason
    assert all(name in health.reason for name in PUBLIC_VIEWS)


def test_last_build_is_not_reported_from_an_unexpected_build_runs(database_url: str) -> None:
    with connect(database_url) as conn:
        assert build_state.last_build(conn) == (None, None)
        conn.execute("create schema monitoring")
        conn.execute("create table monitoring.build_runs (build_id int)")
        assert build_state.last_build(conn) == (None, None)
        # Only a savepoint failed: the caller's transaction goes on.
        assert conn.execute("select 1").fetchone() == (1,)


def status_with(severity: str) -> views.MetricStatus:
    moment = datetime(2025, 7, 15, 13, 44, tzinfo=UTC)
    return views.MetricStatus(
        metric_name="failed_rate",
        dimension="all",
        dimension_value="all",
        short_name="failed",
        current_minute_at=moment,
        value=0.1,
        judged_value=0.1,
        baseline=0.05,
        threshold=0.08,
        is_anomalous=True,
        consecutive_minutes=1,
        episode_minutes=1,
        severity=severity,
        episode_id=None,
        baseline_mode="trailing",
    )


def test_worst_severity_follows_the_seeds_order() -> None:
    statuses = [status_with(severity) for severity in ("INFO", "SEVERE", "WARNING", "HEALTHY")]
    assert views.worst_severity(statuses) == "SEVERE"
    assert views.worst_severity(statuses[:1] + statuses[2:]) == "WARNING"
    assert views.worst_severity([]) == "HEALTHY"


PUBLIC_MODELS = REPO_ROOT / "models" / "marts" / "public" / "_public__models.yml"


@pytest.mark.parametrize(
    ("view", "record"),
    [
        ("current_status", views.MetricStatus),
        ("anomaly_episodes", views.Episode),
        ("metric_minutes", views.MinutePoint),
    ],
)
def test_the_readers_read_only_what_the_views_contract_declares(view: str, record: type) -> None:
    # The views' dbt contract is enforced at build time; a reader field outside it would break
    # only when a build changed the view.
    document = yaml.safe_load(PUBLIC_MODELS.read_text())
    (model,) = [model for model in document["models"] if model["name"] == view]
    declared = {column["name"] for column in model["columns"]}
    fields = {field.name for field in dataclasses.fields(record)}
    # A point of a series may carry the minute's severity, which metric_status adds.
    if view == "metric_minutes":
        fields.discard("severity")
    assert fields <= declared, fields - declared
