"""Plain-text tables for the terminal (the current status, the episodes, the alert log) and
the checks of what a user names on the command line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from txmon.alerting.channels import format_value
from txmon.core.errors import TxmonError
from txmon.pipeline.views import Episode, MetricStatus, current_status, format_minute

if TYPE_CHECKING:
    import psycopg

    from txmon.alerting.log import LogEntry


def check_metric(conn: psycopg.Connection, metric: str) -> None:
    """A metric named by the user must be one the views know: a typo is an error, not an
    empty answer."""
    known = sorted(status.metric_name for status in current_status(conn))
    if metric not in known:
        raise TxmonError(f"unknown metric {metric[:100]!r}; known: {', '.join(known)}")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def status_table(statuses: Sequence[MetricStatus]) -> str:
    header = ("metric", "value", "judged", "baseline", "threshold", "minutes", "severity")
    rows = [
        (
            status.metric_name,
            format_value(status.metric_name, status.value),
            format_value(status.metric_name, status.judged_value),
            format_value(status.metric_name, status.baseline),
            format_value(status.metric_name, status.threshold),
            str(status.episode_minutes),
            status.severity,
        )
        for status in statuses
    ]
    minute = format_minute(max(status.current_minute_at for status in statuses))
    mode = statuses[0].baseline_mode
    return f"Status at {minute} UTC ({mode} baseline)\n" + _table(header, rows)


def _when(moment: datetime | None) -> str:
    return format_minute(moment)[:16] if moment else "ongoing"


def episodes_table(episodes: Sequence[Episode]) -> str:
    if not episodes:
        return "No episodes: no metric stayed anomalous long enough to reach INFO."
    header = ("metric", "started (UTC)", "ended (UTC)", "minutes", "peak", "peak value")
    rows = [
        (
            episode.metric_name,
            _when(episode.started_at),
            _when(episode.ended_at),
            str(episode.minutes),
            episode.peak_severity,
            format_value(episode.metric_name, episode.peak_value),
        )
        for episode in episodes
    ]
    return _table(header, rows)


def alert_log_table(entries: Sequence[LogEntry]) -> str:
    if not entries:
        return "The alert log is empty: run `txmon dispatch` after `txmon build`."
    header = ("minute (UTC)", "metric", "event", "severity", "min", "channel", "status", "note")
    rows = [
        (
            format_minute(entry.minute_at)[:16],
            entry.metric_name,
            entry.event_type,
            entry.severity,
            "" if entry.consecutive_minutes is None else str(entry.consecutive_minutes),
            entry.channel,
            f"{entry.status} ({entry.attempts})" if entry.attempts else entry.status,
            entry.last_error or entry.suppressed_reason or "",
        )
        for entry in entries
    ]
    return _table(header, rows)
