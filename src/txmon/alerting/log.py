"""Reading the alert log, and exporting it in the prototype's alert_log.json format."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from txmon.alerting.schema import ensure_alert_tables
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.core.formatting import format_minute
from txmon.db.connection import dict_rows
from txmon.pipeline.build_state import has_relation

# The prototype logged escalations as ALERT events; its log knew only ALERT and RECOVERY.
PROTOTYPE_EVENT = {"RECOVERY": "RECOVERY"}

_ENTRIES_SQL = f"""
select notification_id, minute_at, metric_name, event_type, severity, previous_severity,
       episode_minutes, message, channel, status, attempts, last_error, suppressed_reason,
       sent_at, dedup_key
from {PUBLIC_SCHEMA}.alert_log
where (%(since)s::timestamptz is null or minute_at >= %(since)s)
  and (%(status)s::text is null or status = %(status)s)
order by minute_at desc, notification_id desc
limit %(limit)s
"""

# One row per notification, not per channel: the first channel's row.
_NOTIFICATIONS_SQL = f"""
select distinct on (dedup_key)
       dedup_key, minute_at, metric_name, event_type, severity, previous_severity,
       episode_minutes, message
from {PUBLIC_SCHEMA}.alert_log
order by dedup_key, notification_id
"""


@dataclass(frozen=True)
class LogEntry:
    notification_id: int
    minute_at: datetime
    metric_name: str
    event_type: str
    severity: str
    previous_severity: str | None
    episode_minutes: int | None
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
    rows = dict_rows(conn, _ENTRIES_SQL, {"since": since, "status": status, "limit": limit})
    return [LogEntry(**row) for row in rows]


def prototype_records(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The log as the prototype's alert_log.json: one record per notification (not per
    channel), oldest first, metric names upper-cased (FAILED_RATE)."""
    with conn.transaction():
        ensure_alert_tables(conn)
        rows = dict_rows(conn, _NOTIFICATIONS_SQL)
    rows.sort(key=lambda row: (row["minute_at"], row["dedup_key"]))
    return [
        {
            "timestamp": format_minute(row["minute_at"]),
            "metric": row["metric_name"].upper(),
            "event": PROTOTYPE_EVENT.get(row["event_type"], "ALERT"),
            # The prototype's RECOVERY carried the severity it recovered from.
            "severity": row["previous_severity"]
            if row["event_type"] == "RECOVERY"
            else row["severity"],
            # The prototype's name for the episode's length.
            "consecutive_minutes": row["episode_minutes"],
            "message": row["message"],
            "txmon_event": row["event_type"],
            "dedup_key": row["dedup_key"],
        }
        for row in rows
    ]


def prototype_json(conn: psycopg.Connection) -> tuple[str, int]:
    """The log as the text of alert_log.json, and the number of notifications in it."""
    records = prototype_records(conn)
    return json.dumps(records, indent=2) + "\n", len(records)


def export_prototype_json(conn: psycopg.Connection, path: Path) -> int:
    """Write the log to `path` whole or not at all: a failed write leaves any earlier file."""
    text, count = prototype_json(conn)
    try:
        # Into a folder that exists: a typo in a path must not scatter folders.
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as output:
                output.write(text)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except OSError as error:
        raise TxmonError(f"cannot write {path}: {error.strerror or error}") from error
    return count


def notification_counts(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    """Rows of the alert log by (channel, status); empty while no dispatcher has created it.
    Read-only, like `entries`."""
    if not has_relation(conn, "alert_log"):
        return {}
    rows = conn.execute(
        f"select channel, status, count(*) from {PUBLIC_SCHEMA}.alert_log group by 1, 2"
    ).fetchall()
    return {(channel, status): int(count) for channel, status, count in rows}
