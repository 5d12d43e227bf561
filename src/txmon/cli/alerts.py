"""Alerting: `txmon dispatch` (queue and deliver notifications; replay or backfill the history),
`txmon alerts` (the alert log and its export) and `txmon silence add|list|remove`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from txmon.cli.options import (
    CONFIG_OPTION,
    CONTEXT,
    OUTPUT_FILE,
    STDOUT,
    TIME_HELP,
    TimeType,
    TimeValue,
    data_clock,
    resolve_time,
)
from txmon.core.errors import TxmonError
from txmon.core.facts import DELIVERY_STATES

if TYPE_CHECKING:
    from txmon.alerting.history import Replay


@click.command(context_settings=CONTEXT)
@CONFIG_OPTION
@click.option(
    "--replay",
    is_flag=True,
    help="Show what live dispatching every minute would have sent over the whole history; "
    "writes nothing, sends nothing.",
)
@click.option(
    "--backfill",
    is_flag=True,
    help="Log the whole history as handled and send none of it (asks first). Episodes still "
    "open get their next escalation and recovery sent.",
)
@click.option("--yes", "-y", is_flag=True, help="With --backfill: do not ask.")
def dispatch(config_path: Path | None, replay: bool, backfill: bool, yes: bool) -> None:
    """Queue new alert events as notifications and deliver them through the channels.

    Exits 2 when some notifications failed for good.
    """
    from txmon.alerting.channels.config import build_channels
    from txmon.alerting.history import plan_backfill, replay_history
    from txmon.alerting.outbox import run_dispatch
    from txmon.core.config import load_settings
    from txmon.db.connection import database_url

    if replay and backfill:
        raise click.UsageError("--replay (look) and --backfill (write) exclude each other")
    if yes and not backfill:
        raise click.UsageError("--yes goes with --backfill")
    settings = load_settings(config_path)
    channels = build_channels(settings.channels)
    url = database_url()
    if replay:
        _print_replay(replay_history(url, settings, channels))
        return
    if backfill and not yes:
        try:
            confirmed = click.confirm(plan_backfill(url, settings, channels).question())
        except click.Abort:  # no answer: end of input, Ctrl-C
            confirmed = False
        if not confirmed:
            raise TxmonError(
                "backfill not confirmed: nothing was written (--yes skips the question)"
            )
    summary = run_dispatch(url, settings, channels, backfill=backfill)
    click.echo(summary.text())
    if summary.delivery is not None and summary.delivery.failed:
        sys.exit(2)


def _print_replay(replay: Replay) -> None:
    """Every notification of the history, oldest first, with what would have become of it."""
    from txmon.console.tables import render_table
    from txmon.core.formatting import format_minute, format_minutes

    header = ("minute (UTC)", "metric", "event", "severity", "lasted", "channel", "would be")
    rows = [
        (
            format_minute(row.notification.minute_at)[:16],
            row.notification.metric_name,
            row.notification.event_type,
            row.notification.severity,
            ""
            if (minutes := row.notification.episode_minutes) is None
            else format_minutes(minutes),
            row.channel,
            "sent" if row.status == "pending" else f"suppressed: {row.suppressed_reason}",
        )
        for row in replay.rows
    ]
    if rows:
        click.echo(render_table(header, rows, right={4}))
    click.echo(replay.text())


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--status", type=click.Choice(DELIVERY_STATES))
@click.option(
    "--since",
    type=TimeType(),
    help=f"Only notifications of this minute or later: {TIME_HELP} (that minute of the day of "
    "the latest data).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="At most this many entries.",
)
@click.pass_context
def alerts(ctx: click.Context, status: str | None, since: TimeValue | None, limit: int) -> None:
    """List the alert log, latest first."""
    if ctx.invoked_subcommand is not None:
        return
    from txmon.alerting.log import entries
    from txmon.console.tables import alert_log_table
    from txmon.db.connection import connect

    with connect() as conn:
        start = None if since is None else resolve_time(since, data_clock(conn))
        click.echo(alert_log_table(entries(conn, status=status, limit=limit, since=start)))


@alerts.command("export")
@click.option(
    "--json",
    "json_path",
    type=OUTPUT_FILE,
    required=True,
    help="Write the log in the prototype's alert_log.json format to this file (replaced "
    "whole), or to stdout with -.",
)
def alerts_export(json_path: Path | str) -> None:
    """Export the alert log as the prototype's alert_log.json."""
    from txmon.alerting.log import export_prototype_json, prototype_json
    from txmon.db.connection import connect

    with connect() as conn:
        if json_path == STDOUT:
            text, count = prototype_json(conn)
            click.echo(text, nl=False)
            click.echo(f"wrote {count} notifications to stdout", err=True)
            return
        count = export_prototype_json(conn, Path(json_path))
    click.echo(f"wrote {count} notifications to {json_path}")


@click.group(context_settings=CONTEXT)
def silence() -> None:
    """Planned quiet: matching notifications are logged as suppressed, not sent.

    Silences are matched against the minutes of the data (a notification's minute), so times
    are read against the latest minute in the data, not the clock.
    """


@silence.command("add")
@click.argument("metric_pattern")
@click.option(
    "--until",
    "ends_at",
    type=TimeType(),
    required=True,
    help=f"End: {TIME_HELP} (the first such minute after the start).",
)
@click.option(
    "--from",
    "starts_at",
    type=TimeType(),
    help=f"Start: {TIME_HELP} (that minute of the day of the latest data). "
    "Default: the latest minute in the data (the clock's before any build).",
)
@click.option("--reason", required=True)
def silence_add(
    metric_pattern: str, ends_at: TimeValue, starts_at: TimeValue | None, reason: str
) -> None:
    """Silence metrics matching METRIC_PATTERN (* wildcards, e.g. 'failed_*') until a time.

    The pattern must match a known metric (or data, pipeline: txmon's own alerts).
    """
    from txmon.alerting.silences import add_silence
    from txmon.core.formatting import format_minute
    from txmon.db.connection import connect

    with connect() as conn:
        latest = data_clock(conn)
        start = latest if starts_at is None else resolve_time(starts_at, latest)
        end = resolve_time(ends_at, start, after=True)
        if end <= start:
            raise TxmonError(
                f"a silence must end after it starts: --until {format_minute(end)[:16]} is not "
                f"after {format_minute(start)[:16]} UTC"
                + (" (the latest minute in the data)" if starts_at is None else "")
            )
        silence_id = add_silence(conn, metric_pattern, start, end, reason)
    click.echo(
        f"silence {silence_id} added: {metric_pattern.strip()} from {format_minute(start)[:16]}"
        f" to {format_minute(end)[:16]} UTC"
    )


@silence.command("list")
def silence_list() -> None:
    """List the silences."""
    from txmon.alerting.silences import silences
    from txmon.db.connection import connect

    with connect() as conn:
        for quiet in silences(conn):
            click.echo(
                f"{quiet.silence_id:>4}  {quiet.metric_pattern:<20} "
                f"{quiet.starts_at:%Y-%m-%d %H:%M} -> {quiet.ends_at:%Y-%m-%d %H:%M} UTC  "
                f"{quiet.reason}"
            )


@silence.command("remove")
@click.argument("silence_id", type=click.IntRange(min=1))
def silence_remove(silence_id: int) -> None:
    """Remove a silence."""
    from txmon.alerting.silences import remove_silence
    from txmon.db.connection import connect

    with connect() as conn:
        if not remove_silence(conn, silence_id):
            raise TxmonError(f"no silence {silence_id}")
    click.echo(f"silence {silence_id} removed")
