"""What the builds have left for readers: whether the public views exist, how fresh their data
are, what the build log says of every build, and late rows waiting for a full refresh. The
readiness probe, the scheduler and the status commands read these before the views themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg

from txmon.core.facts import INTERNAL_SCHEMA, PUBLIC_SCHEMA
from txmon.core.formatting import format_minute

logger = logging.getLogger(__name__)

# The views `txmon build` keeps in the public schema: what users, the API and Superset read.
PUBLIC_VIEWS = (
    "metric_minutes",
    "metric_status",
    "anomaly_episodes",
    "alert_events",
    "current_status",
    "incident_episodes",
    "incidents",
    "incident_events",
)
VIEWS_MISSING = "the monitoring views do not exist yet: load data and run `txmon build`"


def existing_relations(conn: psycopg.Connection, names: tuple[str, ...]) -> set[str]:
    """Which of these tables or views exist in the public schema (without touching them)."""
    rows = conn.execute(
        "select name from unnest(%s::text[]) as name"
        " where to_regclass(quote_ident(%s) || '.' || quote_ident(name)) is not null",
        (list(names), PUBLIC_SCHEMA),
    ).fetchall()
    return {row[0] for row in rows}


def has_relation(conn: psycopg.Connection, name: str) -> bool:
    return name in existing_relations(conn, (name,))


def data_freshness(conn: psycopg.Connection) -> tuple[datetime | None, float | None]:
    """The newest minute and how many seconds ago it ended (the data lag)."""
    row = conn.execute(
        "select max(current_minute_at),"
        " extract(epoch from now() - (max(current_minute_at) + interval '1 minute'))::float8"
        f" from {PUBLIC_SCHEMA}.current_status"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


@dataclass(frozen=True)
class Health:
    """Whether the database answers and the views exist, and how fresh the data are."""

    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    views: Literal["ok", "missing", "unknown"]
    latest_minute_at: datetime | None
    data_lag_seconds: float | None
    last_build_at: datetime | None
    last_build_succeeded: bool | None
    reason: str | None

    @classmethod
    def failing(
        cls,
        database: Literal["ok", "error"],
        views: Literal["ok", "missing", "unknown"],
        reason: str,
    ) -> Health:
        return cls("error", database, views, None, None, None, None, reason)


def health(conn: psycopg.Connection) -> Health:
    """The facts a readiness probe reports, from a connection that answered."""
    missing = sorted(set(PUBLIC_VIEWS) - existing_relations(conn, PUBLIC_VIEWS))
    if missing:
        return Health.failing("ok", "missing", f"{VIEWS_MISSING} (missing: {', '.join(missing)})")
    latest, lag = data_freshness(conn)
    last_build_at, last_succeeded = last_build(conn)
    return Health("ok", "ok", "ok", latest, lag, last_build_at, last_succeeded, None)


def last_build(conn: psycopg.Connection) -> tuple[datetime | None, bool | None]:
    """End of the latest successful build and whether the latest build succeeded, as the
    scheduler (`txmon run`) records them in build_runs; (None, None) when not recorded."""
    # Without build_runs, or with other columns than expected, the build is simply not reported.
    if not has_relation(conn, "build_runs"):
        return None, None
    try:
        with conn.transaction():  # a savepoint: a failure here must not spoil the caller's
            row = conn.execute(
                f"select (select max(finished_at) from {PUBLIC_SCHEMA}.build_runs where succeeded),"
                f" (select succeeded from {PUBLIC_SCHEMA}.build_runs"
                "  order by finished_at desc limit 1)"
            ).fetchone()
    except psycopg.Error as error:
        logger.warning("cannot read %s.build_runs: %s", PUBLIC_SCHEMA, error)
        return None, None
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
    build_log = f"{INTERNAL_SCHEMA}.build_log"
    if conn.execute("select to_regclass(%s) is null", (build_log,)).fetchone()[0]:  # type: ignore[index]
        return None
    rows, earliest = conn.execute(
        f"select coalesce(sum(late_rows), 0), min(late_from) from {build_log}"
        " where is_published and build_id > coalesce("
        f"   (select max(build_id) from {build_log} where is_published and is_full_refresh), 0)"
    ).fetchone()  # type: ignore[misc]
    return LateData(int(rows), earliest) if rows else None


# How a build registered in txmon.build_log ended: it published its results, a node failed,
# it finished without publishing (a selection without the models), or it never finished (killed;
# a build counts as that only once a later one has started, so a running build is not).
BUILD_OUTCOMES = ("published", "failed", "unpublished", "interrupted")


@dataclass(frozen=True)
class BuildRecord:
    """The builds in txmon's build log, by outcome, and when the latest published."""

    outcomes: dict[str, int]
    last_published_at: datetime | None


def build_record(conn: psycopg.Connection) -> BuildRecord:
    """What txmon.build_log says of every build so far; all zeros before the first build."""
    build_log = f"{INTERNAL_SCHEMA}.build_log"
    outcomes = dict.fromkeys(BUILD_OUTCOMES, 0)
    if conn.execute("select to_regclass(%s) is null", (build_log,)).fetchone()[0]:  # type: ignore[index]
        return BuildRecord(outcomes, None)
    rows = conn.execute(
        f"""
        select case
                   when is_published then 'published'
                   when error is not null then 'failed'
                   when finished_at is not null then 'unpublished'
                   else 'interrupted'
               end as outcome,
               count(*)
        from {build_log}
        where finished_at is not null
           or build_id < (select max(build_id) from {build_log})
        group by 1
        """
    ).fetchall()
    outcomes.update({outcome: int(count) for outcome, count in rows})
    last = conn.execute(f"select max(finished_at) from {build_log} where is_published").fetchone()
    return BuildRecord(outcomes, last[0] if last else None)
