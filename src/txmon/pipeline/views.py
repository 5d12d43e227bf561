"""Reading the public views: the current status, the /monitor document and the episodes.

Nothing here recomputes what dbt computed; it only reads `monitoring.*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from txmon.core.errors import TxmonError

SEVERITY_ORDER = ("HEALTHY", "INFO", "WARNING", "CRITICAL", "SEVERE")
# The views `txmon build` keeps in schema monitoring: what users, the API and Superset read.
PUBLIC_VIEWS = (
    "metric_minutes",
    "metric_status",
    "anomaly_episodes",
    "alert_events",
    "current_status",
)
VIEWS_MISSING = "the monitoring views do not exist yet: load data and run `txmon build`"


def existing_relations(conn: psycopg.Connection, names: tuple[str, ...]) -> set[str]:
    """Which of these tables or views exist in schema monitoring (without touching them)."""
    rows = conn.execute(
        "select name from unnest(%s::text[]) as name"
        " where to_regclass('monitoring.' || quote_ident(name)) is not null",
        (list(names),),
    ).fetchall()
    return {row[0] for row in rows}


def has_relation(conn: psycopg.Connection, name: str) -> bool:
    return name in existing_relations(conn, (name,))


@dataclass(frozen=True)
class MetricStatus:
    metric_name: str
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


@dataclass(frozen=True)
class Episode:
    episode_id: str
    metric_name: str
    started_at: datetime
    ended_at: datetime | None
    minutes: int
    peak_severity: str
    peak_value: float


def _query(
    conn: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(sql, params).fetchall())
    except psycopg.errors.UndefinedTable as error:
        conn.rollback()
        raise TxmonError(VIEWS_MISSING) from error


def current_status(conn: psycopg.Connection) -> list[MetricStatus]:
    rows = _query(
        conn,
        """
        select metric_name, short_name, current_minute_at, value, judged_value, baseline,
               threshold, is_anomalous, consecutive_minutes, episode_minutes, severity, episode_id,
               baseline_mode
        from monitoring.current_status
        order by metric_name
        """,
    )
    if not rows:
        raise TxmonError("no data has been built yet: load transactions and run `txmon build`")
    return [MetricStatus(**row) for row in rows]


def episodes(
    conn: psycopg.Connection, since: datetime | None = None, metric: str | None = None
) -> list[Episode]:
    rows = _query(
        conn,
        """
        select episode_id, metric_name, started_at, ended_at, minutes, peak_severity, peak_value
        from monitoring.anomaly_episodes
        where (%(since)s::timestamptz is null or coalesce(ended_at, 'infinity') >= %(since)s)
          and (%(metric)s::text is null or metric_name = %(metric)s)
        order by started_at, metric_name
        """,
        {"since": since, "metric": metric},  # type: ignore[arg-type]
    )
    return [Episode(**row) for row in rows]


def data_freshness(conn: psycopg.Connection) -> tuple[datetime | None, float | None]:
    """The newest minute and how many seconds ago it ended (the data lag)."""
    row = conn.execute(
        "select max(current_minute_at),"
        " extract(epoch from now() - (max(current_minute_at) + interval '1 minute'))::float8"
        " from monitoring.current_status"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


@dataclass(frozen=True)
class LateData:
    """Rows that arrived for minutes older than the lateness window after those minutes were
    judged: incremental builds keep them but do not re-judge them."""

    rows: int
    earliest_minute_at: datetime | None

    def message(self) -> str:
        since = format_minute(self.earliest_minute_at) if self.earliest_minute_at else "?"
        return (
            f"{self.rows} rows arrived late for minutes from {since} on, older than the lateness"
            " window: run `txmon build --full-refresh` to judge them"
        )


def late_data(conn: psycopg.Connection) -> LateData | None:
    """Late rows counted by the builds published since the last full refresh, if any."""
    if conn.execute("select to_regclass('txmon.build_log') is null").fetchone()[0]:  # type: ignore[index]
        return None
    rows, earliest = conn.execute(
        "select coalesce(sum(late_rows), 0), min(late_from) from txmon.build_log"
        " where is_published and build_id > coalesce("
        "   (select max(build_id) from txmon.build_log where is_published and is_full_refresh), 0)"
    ).fetchone()  # type: ignore[misc]
    return LateData(int(rows), earliest) if rows else None


def worst_severity(statuses: list[MetricStatus]) -> str:
    return max(
        (status.severity for status in statuses), key=SEVERITY_ORDER.index, default="HEALTHY"
    )


def format_minute(moment: datetime) -> str:
    """The prototype's timestamp format, in UTC: 2025-07-15 13:44:00."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def monitor_document(conn: psycopg.Connection) -> dict[str, Any]:
    """The prototype's GET /monitor document, with extra keys after its own."""
    statuses = current_status(conn)
    current_minute = max(status.current_minute_at for status in statuses)
    return {
        "current_minute": format_minute(current_minute),
        "metrics": {status.metric_name: status.value for status in statuses},
        "thresholds": {status.short_name: status.threshold for status in statuses},
        "persistence_analysis": {
            status.short_name: {
                "consecutive_minutes": status.episode_minutes,
                "severity": status.severity,
            }
            for status in statuses
        },
        "overall_severity": worst_severity(statuses),
        "baseline_mode": statuses[0].baseline_mode,
        "judged_values": {status.metric_name: status.judged_value for status in statuses},
        "baselines": {status.short_name: status.baseline for status in statuses},
        "episodes": {status.short_name: status.episode_id for status in statuses},
        "needs_full_refresh": late.message() if (late := late_data(conn)) else None,
    }
