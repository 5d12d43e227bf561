"""Reading the public views: the current status, where it is breaking, the /monitor document,
episodes, incidents and a metric's minute series. Whether the views are there to be read and
what the builds left (freshness, the build log) is `txmon.pipeline.build_state`.

Nothing here recomputes what dbt computed; it only reads the views in schema
`txmon.core.facts.PUBLIC_SCHEMA`. The dataclasses are what the console, the API and the lab
share; the API serves them as they are.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from txmon.core.errors import TxmonError
from txmon.core.facts import HEALTHY, PUBLIC_SCHEMA, severity_order
from txmon.core.formatting import format_minute, series_id
from txmon.core.paths import dbt_project_dir
from txmon.db.connection import dict_rows
from txmon.pipeline.build_state import (
    VIEWS_MISSING,
    data_freshness,
    has_relation,
    late_data,
)

logger = logging.getLogger(__name__)

# The seed that lists the metrics (in the dbt project's seeds/ folder).
METRIC_SEED = "metric_definitions.csv"


@dataclass(frozen=True)
class MetricStatus:
    """One series at its latest minute (the view current_status): a metric for all
    transactions (dimension `all`) or for one value of a monitored dimension."""

    metric_name: str
    dimension: str
    dimension_value: str
    short_name: str
    current_minute_at: datetime
    value: float
    judged_value: float | None
    baseline: float | None
    threshold: float | None
    is_anomalous: bool
    consecutive_minutes: int
    episode_minutes: int
    severity: str
    episode_id: str | None
    baseline_mode: str

    @property
    def subject(self) -> str:
        """The metric, and the dimension's value when the series is one value's."""
        return series_id(self.metric_name, self.dimension, self.dimension_value)


@dataclass(frozen=True)
class Episode:
    """A run of anomalous minutes that reached INFO (the view anomaly_episodes)."""

    episode_id: str
    metric_name: str
    dimension: str
    dimension_value: str
    started_at: datetime
    ended_at: datetime | None
    minutes: int
    peak_severity: str
    peak_value: float

    @property
    def subject(self) -> str:
        """The metric, and the dimension's value when the series is one value's."""
        return series_id(self.metric_name, self.dimension, self.dimension_value)


@dataclass(frozen=True)
class Incident:
    """Episodes that paged at overlapping times, paged as one (the view incidents)."""

    incident_id: str
    opened_at: datetime
    closed_at: datetime | None
    is_open: bool
    worst_severity: str
    member_count: int
    members: str


@dataclass(frozen=True)
class MinutePoint:
    """One minute of one metric (metric_minutes, with its severity from metric_status)."""

    minute_at: datetime
    value: float | None
    judged_value: float | None
    baseline: float | None
    threshold: float | None
    is_anomalous: bool | None
    severity: str | None


_STATUS_COLUMNS = """
    metric_name, dimension, dimension_value, short_name, current_minute_at, value, judged_value,
    baseline, threshold, is_anomalous, consecutive_minutes, episode_minutes, severity,
    episode_id, baseline_mode
"""


def current_status(conn: psycopg.Connection) -> list[MetricStatus]:
    """Every metric of all transactions at the latest minute (the series the prototype had);
    none when only counts by a dimension's value were loaded (an auth-code file)."""
    rows = dict_rows(
        conn,
        f"""
        select {_STATUS_COLUMNS}
        from {PUBLIC_SCHEMA}.current_status
        order by dimension <> 'all', metric_name
        """,
        missing=VIEWS_MISSING,
    )
    if not rows:
        raise TxmonError("no data has been built yet: load transactions and run `txmon build`")
    return [MetricStatus(**row) for row in rows if row["dimension"] == "all"]


def breaking_series(conn: psycopg.Connection, limit: int = 20) -> list[MetricStatus]:
    """Where it is breaking (current_status.is_breaking): the series of dimension values whose
    episode has reached a severity at the latest minute, worst first (then furthest out)."""
    rows = dict_rows(
        conn,
        f"""
        select {_STATUS_COLUMNS}
        from {PUBLIC_SCHEMA}.current_status
        where is_breaking
        order by severity_rank desc, abs(z_score) desc nulls last, metric_name, dimension,
                 dimension_value
        limit %(limit)s
        """,
        {"limit": limit},
        missing=VIEWS_MISSING,
    )
    return [MetricStatus(**row) for row in rows]


def episodes(
    conn: psycopg.Connection, since: datetime | None = None, metric: str | None = None
) -> list[Episode]:
    """Episodes still open at or after `since`, of one metric or all, oldest first."""
    rows = dict_rows(
        conn,
        f"""
        select episode_id, metric_name, dimension, dimension_value, started_at, ended_at,
               minutes, peak_severity, peak_value
        from {PUBLIC_SCHEMA}.anomaly_episodes
        where (%(since)s::timestamptz is null or coalesce(ended_at, 'infinity') >= %(since)s)
          and (%(metric)s::text is null or metric_name = %(metric)s)
        order by started_at, metric_name, dimension, dimension_value
        """,
        {"since": since, "metric": metric},
        missing=VIEWS_MISSING,
    )
    return [Episode(**row) for row in rows]


def incidents(
    conn: psycopg.Connection, since: datetime | None = None, open_only: bool = False
) -> list[Incident]:
    """Incidents still open at or after `since` (or only those open now), oldest first."""
    rows = dict_rows(
        conn,
        f"""
        select incident_id, opened_at, closed_at, is_open, worst_severity, member_count, members
        from {PUBLIC_SCHEMA}.incidents
        where (%(since)s::timestamptz is null or coalesce(closed_at, 'infinity') >= %(since)s)
          and (not %(open_only)s or is_open)
        order by opened_at
        """,
        {"since": since, "open_only": open_only},
        missing=VIEWS_MISSING,
    )
    return [Incident(**row) for row in rows]


def metric_names(conn: psycopg.Connection) -> list[str]:
    """The metrics txmon judges, sorted: those of the published views, else (nothing built
    yet) the metric_definitions seed's. Every check of a metric name reads this one list."""
    if has_relation(conn, "current_status"):
        rows = conn.execute(
            f"select distinct metric_name from {PUBLIC_SCHEMA}.current_status order by 1"
        ).fetchall()
        if rows:
            return [row[0] for row in rows]
    path = dbt_project_dir() / "seeds" / METRIC_SEED
    with path.open(newline="", encoding="utf-8") as handle:
        return sorted(row["metric_name"] for row in csv.DictReader(handle))


def series_ids(conn: psycopg.Connection) -> list[str]:
    """Every series of the published views, by id (`failed_rate[acquirer=stone]`), sorted."""
    if not has_relation(conn, "current_status"):
        return []
    rows = conn.execute(
        "select distinct metric_name, dimension, dimension_value"
        f" from {PUBLIC_SCHEMA}.current_status"
    ).fetchall()
    return sorted(series_id(*row) for row in rows)


class UnknownMetric(TxmonError):
    """A metric name txmon does not judge; the message lists those it does."""


def check_metric(conn: psycopg.Connection, metric: str) -> None:
    """Raise UnknownMetric for a name txmon does not judge: a typo is an error, not an empty
    answer."""
    known = metric_names(conn)
    if metric not in known:
        raise UnknownMetric(f"unknown metric {metric[:100]!r}; known: {', '.join(known)}")


def latest_minute(conn: psycopg.Connection, metric: str) -> datetime | None:
    """The metric's newest minute (every series has a row at the published minute); None for a
    metric that has none (or does not exist). Read from current_status: one index range, where
    the newest of metric_minutes read every stored minute."""
    row = conn.execute(
        f"select max(current_minute_at) from {PUBLIC_SCHEMA}.current_status"
        " where metric_name = %s and dimension = 'all'",
        (metric,),
    ).fetchone()
    return row[0] if row else None


def metric_series(
    conn: psycopg.Connection, metric: str, start: datetime, end: datetime, limit: int
) -> list[MinutePoint]:
    """Up to `limit` minutes of one metric in [start, end], oldest first."""
    rows = dict_rows(
        conn,
        f"""
        select metric_minutes.minute_at, metric_minutes.value, metric_minutes.judged_value,
               metric_minutes.baseline, metric_minutes.threshold, metric_minutes.is_anomalous,
               metric_status.severity
        from {PUBLIC_SCHEMA}.metric_minutes
        left join {PUBLIC_SCHEMA}.metric_status
            on metric_status.metric_minute_id = metric_minutes.metric_minute_id
        where metric_minutes.metric_name = %(metric)s and metric_minutes.dimension = 'all'
          and metric_minutes.minute_at between %(start)s and %(end)s
        order by metric_minutes.minute_at
        limit %(limit)s
        """,
        {"metric": metric, "start": start, "end": end, "limit": limit},
        missing=VIEWS_MISSING,
    )
    return [MinutePoint(**row) for row in rows]


def worst_severity(statuses: list[MetricStatus]) -> str:
    order = severity_order()
    return max((status.severity for status in statuses), key=order.index, default=HEALTHY)


def monitor_document(conn: psycopg.Connection) -> dict[str, Any]:
    """The prototype's GET /monitor document, with extra keys after its own."""
    statuses = current_status(conn)
    breaking = breaking_series(conn)
    current_minute, _ = data_freshness(conn)
    assert current_minute is not None  # current_status found rows
    return {
        "current_minute": format_minute(current_minute),
        "metrics": {status.metric_name: status.value for status in statuses},
        "thresholds": {status.short_name: status.threshold for status in statuses},
        "persistence_analysis": {
            # The prototype's key; its value is the episode's length, as the prototype meant.
            status.short_name: {
                "consecutive_minutes": status.episode_minutes,
                "severity": status.severity,
            }
            for status in statuses
        },
        # A single acquirer failing is an incident too: the worst of every series.
        "overall_severity": worst_severity(statuses + breaking),
        "baseline_mode": (statuses + breaking)[0].baseline_mode if statuses + breaking else None,
        "judged_values": {status.metric_name: status.judged_value for status in statuses},
        "baselines": {status.short_name: status.baseline for status in statuses},
        "episodes": {status.short_name: status.episode_id for status in statuses},
        "needs_full_refresh": late.message() if (late := late_data(conn)) else None,
        "breaking": [
            {
                "metric": status.metric_name,
                "dimension": status.dimension,
                "dimension_value": status.dimension_value,
                "severity": status.severity,
                "value": status.value,
                "baseline": status.baseline,
                "episode_id": status.episode_id,
            }
            for status in breaking
        ],
    }
