"""Reading the alert log, exporting it in the prototype's format, and managing silences."""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from txmon.alerting.outbox import ensure_alert_tables
from txmon.core.errors import TxmonError
from txmon.pipeline.views import has_relation

# The prototype logged escalations as ALERT events; its log knew only ALERT and RECOVERY.
SEED_EVENT = {"RECOVERY": "RECOVERY"}
# Names the dispatcher's own notifications carry instead of a metric: STALE data and a
# failing build; silences may match them too.
SYSTEM_NAMES = ("data", "pipeline")


@dataclass(frozen=True)
class LogEntry:
    notification_id: int
    minute_at: datetime
    metric_name: str
    event_type: str
    severity: str
    previous_severity: str | None
    consecutive_minutes: int | None
    message: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    suppressed_reason: str | None
    sent_at: datetime | None
    dedup_key: str


def entries(
    conn: psycopg.Connection,
    status: str | None = None,
    limit: int | None = 50,
    since: datetime | None = None,
) -> list[LogEntry]:
    """The alert log, latest first; empty while no dispatcher has created it. Read-only, so
    the API can serve it without waiting behind a dispatcher."""
    if limit is not None and limit < 1:
        raise TxmonError(f"the limit must be at least 1, got {limit}")
    if not has_relation(conn, "alert_log"):
        return []
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            """
            select notification_id, minute_at, metric_name, event_type, severity,
                   previous_severity, consecutive_minutes, message, channel, status, attempts,
                   last_error, suppressed_reason, sent_at, dedup_key
            from monitoring.alert_log
            where (%(since)s::timestamptz is null or minute_at >= %(since)s)
              and (%(status)s::text is null or status = %(status)s)
            order by minute_at desc, notification_id desc
            limit %(limit)s
            """,
            {"since": since, "status": status, "limit": limit},
        ).fetchall()
    return [LogEntry(**row) for row in rows]


def seed_records(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The log as the prototype's alert_log.json: one record per notification (not per
    channel), oldest first, metric names upper-cased (FAILED_RATE)."""
    with conn.transaction():
        ensure_alert_tables(conn)
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            """
            select distinct on (dedup_key)
                   dedup_key, minute_at, metric_name, event_type, severity, previous_severity,
                   consecutive_minutes, message
            from monitoring.alert_log
            order by dedup_key, notification_id
            """
        ).fetchall()
    rows.sort(key=lambda row: (row["minute_at"], row["dedup_key"]))
    return [
        {
            "timestamp": row["minute_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "metric": row["metric_name"].upper(),
            "event": SEED_EVENT.get(row["event_type"], "ALERT"),
            # The prototype's RECOVERY carried the severity it recovered from.
            "severity": row["previous_severity"]
            if row["event_type"] == "RECOVERY"
            else row["severity"],
            "consecutive_minutes": row["consecutive_minutes"],
            "message": row["message"],
            "txmon_event": row["event_type"],
            "dedup_key": row["dedup_key"],
        }
        for row in rows
    ]


def export_seed_json(conn: psycopg.Connection, path: Path) -> int:
    """Write the log to `path` whole or not at all: a failed write leaves any earlier file."""
    records = seed_records(conn)
    text = json.dumps(records, indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as output:
                output.write(text)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as error:
        raise TxmonError(f"cannot write {path}: {error.strerror or error}") from error
    return len(records)


def _check_pattern(conn: psycopg.Connection, pattern: str) -> None:
    """A pattern that matches no metric is a typo (FAILED_* for failed_*), not a silence.
    Before the first build the metrics are unknown and any pattern is taken."""
    if not has_relation(conn, "current_status"):
        return
    rows = conn.execute("select distinct metric_name from monitoring.current_status").fetchall()
    known = sorted(row[0] for row in rows) + list(SYSTEM_NAMES)
    if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
        raise TxmonError(
            f"the pattern {pattern[:100]!r} matches no metric; known: {', '.join(known)}"
        )


def add_silence(
    conn: psycopg.Connection, pattern: str, starts_at: datetime, ends_at: datetime, reason: str
) -> int:
    if ends_at <= starts_at:
        raise TxmonError("a silence must end after it starts")
    if not pattern.strip() or not reason.strip():
        raise TxmonError("a silence needs a metric pattern and a reason")
    _check_pattern(conn, pattern.strip())
    with conn.transaction():
        ensure_alert_tables(conn)
        row = conn.execute(
            "insert into monitoring.alert_silences (metric_pattern, starts_at, ends_at, reason)"
            " values (%s, %s, %s, %s) returning silence_id",
            (pattern.strip(), starts_at, ends_at, reason.strip()),
        ).fetchone()
    return int(row[0])  # type: ignore[index]


def silences(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    with conn.transaction():
        ensure_alert_tables(conn)
        return list(
            conn.execute(
                "select silence_id, metric_pattern, starts_at, ends_at, reason"
                " from monitoring.alert_silences order by starts_at"
            ).fetchall()
        )


def remove_silence(conn: psycopg.Connection, silence_id: int) -> bool:
    with conn.transaction():
        ensure_alert_tables(conn)
        deleted = conn.execute(
            "delete from monitoring.alert_silences where silence_id = %s", (silence_id,)
        ).rowcount
    return deleted == 1
