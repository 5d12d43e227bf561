"""Helpers of the incremental and publication tests (tests/python/pipeline): raw minutes
written as any writer may, the public views read whole, and builds on a project parsed once.
The `builder` fixture is in pipeline_fixtures.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from txmon.core.facts import PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.db.connection import connect
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.pipeline import dbt as pipeline

# Each public view with the columns that order its rows.
PUBLIC_VIEWS = {
    "metric_minutes": "metric_minute_id",
    "metric_status": "metric_minute_id",
    "anomaly_episodes": "episode_id",
    "alert_events": "alert_event_id",
    "current_status": "metric_name, dimension, dimension_value",
    "incident_episodes": "episode_id",
    "incidents": "incident_id",
    "incident_events": "incident_event_id",
}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every public view, in a fixed order."""
    with connect(url) as conn:
        return {
            view: conn.execute(f"select * from {PUBLIC_SCHEMA}.{view} order by {order}").fetchall()
            for view, order in PUBLIC_VIEWS.items()
        }


def copy_into_raw(url: str, table: str, columns: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write rows straight into one of the raw tables, as any other writer may."""
    with connect(url) as conn:
        ensure_raw_tables(conn)
    with (
        connect(url) as conn,
        conn.cursor().copy(f"copy {RAW_SCHEMA}.{table} ({columns}) from stdin") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def insert_counts(url: str, minutes: Iterable[tuple[datetime, dict[str, int]]]) -> None:
    """Write per-minute counts by status into the raw table."""
    rows = (
        (minute, status, count) for minute, counts in minutes for status, count in counts.items()
    )
    copy_into_raw(url, "transaction_counts", "observed_at, status, transaction_count", rows)


def insert_transactions(
    url: str, transactions: Iterable[tuple[str, datetime, str, str | None, str | None]]
) -> None:
    """Write transactions (id, created_at, status, acquirer, card_type) into the raw table,
    each for an amount of 10."""
    rows = (
        (transaction_id, created_at, status, 10, acquirer, card_type)
        for transaction_id, created_at, status, acquirer, card_type in transactions
    )
    columns = "transaction_id, created_at, status, amount, acquirer, card_type"
    copy_into_raw(url, "transactions", columns, rows)


class Builder:
    """`dbt run` (models and the publication) on a project parsed once, like the scheduler."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.manifest = pipeline.parse_project(url=url)

    def run(self, *extra: str, command: str = "run") -> None:
        pipeline.run_dbt(command, list(extra), url=self.url, quiet=True, manifest=self.manifest)
