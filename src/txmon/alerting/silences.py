"""Silences: planned quiet for metrics matching a pattern (`*` wildcards) over a time range.
The outbox logs a silenced notification as suppressed, never drops it."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime

import psycopg

from txmon.alerting.notification import Notification
from txmon.alerting.schema import ensure_alert_tables
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import dict_rows
from txmon.pipeline.views import metric_names

# Names txmon's own notifications carry instead of a metric: STALE data and a failing build;
# silences may match them too.
SYSTEM_NAMES = ("data", "pipeline")

_SELECT = (
    "select silence_id, metric_pattern, starts_at, ends_at, reason"
    f" from {PUBLIC_SCHEMA}.alert_silences order by starts_at, silence_id"
)


@dataclass(frozen=True)
class Silence:
    silence_id: int
    metric_pattern: str
    starts_at: datetime
    ends_at: datetime
    reason: str

    def matches(self, notification: Notification) -> bool:
        return self.starts_at <= notification.minute_at < self.ends_at and fnmatch.fnmatchcase(
            notification.metric_name, self.metric_pattern
        )


def read_silences(conn: psycopg.Connection) -> list[Silence]:
    """Every silence, earliest first; the caller has created the tables."""
    return [Silence(**row) for row in dict_rows(conn, _SELECT)]


def _check_pattern(conn: psycopg.Connection, pattern: str) -> None:
    """A pattern that matches no metric is a typo (FAILED_* for failed_*), not a silence."""
    known = metric_names(conn) + list(SYSTEM_NAMES)
    if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
        raise TxmonError(
            f"the pattern {pattern[:100]!r} matches no metric; known: {', '.join(known)}"
        )


def add_silence(
    conn: psycopg.Connection, pattern: str, starts_at: datetime, ends_at: datetime, reason: str
) -> int:
    """Silence metrics matching `pattern` within [starts_at, ends_at); returns its id."""
    if ends_at <= starts_at:
        raise TxmonError("a silence must end after it starts")
    if not pattern.strip() or not reason.strip():
        raise TxmonError("a silence needs a metric pattern and a reason")
    _check_pattern(conn, pattern.strip())
    with conn.transaction():
        ensure_alert_tables(conn)
        row = conn.execute(
            f"insert into {PUBLIC_SCHEMA}.alert_silences"
            " (metric_pattern, starts_at, ends_at, reason)"
            " values (%s, %s, %s, %s) returning silence_id",
            (pattern.strip(), starts_at, ends_at, reason.strip()),
        ).fetchone()
    assert row is not None
    return int(row[0])


def silences(conn: psycopg.Connection) -> list[Silence]:
    """Every silence, earliest first."""
    with conn.transaction():
        ensure_alert_tables(conn)
        return read_silences(conn)


def remove_silence(conn: psycopg.Connection, silence_id: int) -> bool:
    """Remove a silence; False when there is none with that id."""
    with conn.transaction():
        ensure_alert_tables(conn)
        deleted = conn.execute(
            f"delete from {PUBLIC_SCHEMA}.alert_silences where silence_id = %s", (silence_id,)
        ).rowcount
    return deleted == 1
