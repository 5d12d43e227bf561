"""Tables for the terminal: the current status, the episodes, the alert log and the loads.

Laid out by rich, as plain text: no colour, no box drawing, dashes under the header, numbers
aligned right. Output goes to logs and pipes as often as to a terminal, so every table
is a string the caller prints, readable anywhere.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from txmon.core.formatting import format_minute, format_minutes, format_value

if TYPE_CHECKING:
    from txmon.alerting.log import LogEntry
    from txmon.ingest.loads import LoadInfo
    from txmon.pipeline.views import Episode, Incident, MetricStatus


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """A plain-text table, two spaces between columns, dashes under each heading as wide as
    its column; columns whose index is in `right` are aligned right."""
    # Measured as rich measures: a wide character (CJK in a file name) takes two cells.
    widths = [max(cell_len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="")
    for index, name in enumerate(header):
        table.add_column(name, justify="right" if index in right else "left", no_wrap=True)
    table.add_row(*("-" * width for width in widths))
    for row in rows:
        table.add_row(*row)
    # Wide enough never to wrap: a long file name makes a long line, not a broken table.
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=100_000,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def status_table(statuses: Sequence[MetricStatus]) -> str:
    """`txmon status`: one line per metric, under the minute and the baseline model."""
    if not statuses:
        return "No series of all transactions: only counts by a dimension's value were loaded."
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
    title = f"Status at {minute} UTC ({mode} baseline)"
    return title + "\n" + render_table(header, rows, right={1, 2, 3, 4, 5})


def breaking_table(statuses: Sequence[MetricStatus]) -> str:
    """Where it is breaking: the dimension values' series whose episode has reached a
    severity at the latest minute, worst first."""
    if not statuses:
        return "No dimension value is anomalous."
    header = ("dimension", "value", "metric", "value now", "baseline", "minutes", "severity")
    rows = [
        (
            status.dimension,
            status.dimension_value,
            status.metric_name,
            format_value(status.metric_name, status.value),
            format_value(status.metric_name, status.baseline),
            str(status.episode_minutes),
            status.severity,
        )
        for status in statuses
    ]
    return "Where it is breaking\n" + render_table(header, rows, right={3, 4, 5})


def _when(moment: datetime | None) -> str:
    return format_minute(moment)[:16] if moment else "ongoing"


def episodes_table(episodes: Sequence[Episode]) -> str:
    """`txmon episodes`: one line per episode that reached INFO, oldest first."""
    if not episodes:
        return "No episodes: no metric stayed anomalous long enough to reach INFO."
    header = ("metric", "started (UTC)", "ended (UTC)", "minutes", "peak", "peak value")
    rows = [
        (
            episode.subject,
            _when(episode.started_at),
            _when(episode.ended_at),
            str(episode.minutes),
            episode.peak_severity,
            format_value(episode.metric_name, episode.peak_value),
        )
        for episode in episodes
    ]
    return render_table(header, rows, right={3, 5})


def incidents_table(incidents: Sequence[Incident]) -> str:
    """`txmon incidents`: one line per incident, oldest first, with its members."""
    if not incidents:
        return "No incidents: no episode has paged."
    header = ("incident", "opened (UTC)", "closed (UTC)", "worst", "members")
    rows = [
        (
            incident.incident_id,
            _when(incident.opened_at),
            "open" if incident.is_open else _when(incident.closed_at),
            incident.worst_severity,
            incident.members,
        )
        for incident in incidents
    ]
    return render_table(header, rows, right=set())


def alert_log_table(entries: Sequence[LogEntry]) -> str:
    """`txmon alerts`: the alert log, latest first, with each delivery's status."""
    if not entries:
        return "The alert log is empty: run `txmon dispatch` after `txmon build`."
    header = ("minute (UTC)", "metric", "event", "severity", "lasted", "channel", "status", "note")
    rows = [
        (
            format_minute(entry.minute_at)[:16],
            entry.metric_name,
            entry.event_type,
            entry.severity,
            "" if entry.episode_minutes is None else format_minutes(entry.episode_minutes),
            entry.channel,
            f"{entry.status} ({entry.attempts})" if entry.attempts else entry.status,
            entry.last_error or entry.suppressed_reason or "",
        )
        for entry in entries
    ]
    return render_table(header, rows, right={4})


def _minute_range(first: datetime | None, last: datetime | None) -> str:
    if first is None or last is None:
        return "-"
    return f"{first.astimezone(UTC):%Y-%m-%d %H:%M} .. {last.astimezone(UTC):%Y-%m-%d %H:%M}"


def loads_table(loads: Sequence[LoadInfo]) -> str:
    """`txmon loads list`: one line per load, the file last (its name may be long)."""
    if not loads:
        return "no loads yet (txmon load FILE)"
    header = (
        "load",
        "shape",
        "loaded",
        "rejected",
        "minutes (UTC)",
        "loaded at (UTC)",
        "forced",
        "file",
    )
    rows = [
        (
            str(load.load_id),
            load.input_shape,
            f"{load.rows_loaded:,}",
            f"{load.rows_rejected:,}",
            _minute_range(load.first_minute_at, load.last_minute_at),
            f"{load.loaded_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            "yes" if load.is_forced else "no",
            load.file_name,
        )
        for load in loads
    ]
    return render_table(header, rows, right={0, 2, 3})
