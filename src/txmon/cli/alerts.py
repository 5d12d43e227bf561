"""Alerting: `txmon dispatch` (queue and deliver notifications), `txmon alerts` (the alert log
and its export) and `txmon silence add|list|remove`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from txmon.cli.options import CONFIG_OPTION, CONTEXT, DATE_FORMATS, OUTPUT_FILE
from txmon.core.errors import TxmonError
from txmon.core.facts import DELIVERY_STATES


@click.command(context_settings=CONTEXT)
@CONFIG_OPTION
@click.option(
    "--replay", is_flag=True, help="Queue the whole history as if dispatched live every minute."
)
@click.option("--send", is_flag=True, help="With --replay: deliver what the replay queues.")
def dispatch(config_path: Path | None, replay: bool, send: bool) -> None:
    """Queue new alert events as notifications and deliver them through the channels."""
    from txmon.alerting.channels.config import build_channels
    from txmon.alerting.outbox import run_dispatch
    from txmon.core.config import load_settings
    from txmon.db.connection import database_url

    if send and not replay:
        raise click.UsageError("--send goes with --replay")
    settings = load_settings(config_path)
    channels = build_channels(settings.channels)
    summary = run_dispatch(database_url(), settings, channels, replay=replay, send=send)
    click.echo(summary.text())
    if summary.delivery is not None and summary.delivery.failed:
        sys.exit(2)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--status", type=click.Choice(DELIVERY_STATES))
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="At most this many entries.",
)
@click.pass_context
def alerts(ctx: click.Context, status: str | None, limit: int) -> None:
    """List the alert log, latest first."""
    if ctx.invoked_subcommand is not None:
        return
    from txmon.alerting.log import entries
    from txmon.console.tables import alert_log_table
    from txmon.db.connection import connect

    with connect() as conn:
        click.echo(alert_log_table(entries(conn, status=status, limit=limit)))


@alerts.command("export")
@click.option(
    "--json",
    "json_path",
    type=OUTPUT_FILE,
    required=True,
    help="Write the log in the prototype's alert_log.json format.",
)
def alerts_export(json_path: Path) -> None:
    """Export the alert log as the prototype's alert_log.json."""
    from txmon.alerting.log import export_prototype_json
    from txmon.db.connection import connect

    with connect() as conn:
        count = export_prototype_json(conn, json_path)
    click.echo(f"wrote {count} notifications to {json_path}")


@click.group(context_settings=CONTEXT)
def silence() -> None:
    """Planned quiet: matching notifications are logged as suppressed, not sent."""


@silence.command("add")
@click.argument("metric_pattern")
@click.option(
    "--until", "ends_at", type=click.DateTime(DATE_FORMATS), required=True, help="UTC end."
)
@click.option(
    "--from", "starts_at", type=click.DateTime(DATE_FORMATS), help="UTC start (default: now)."
)
@click.option("--reason", required=True)
def silence_add(
    metric_pattern: str, ends_at: datetime, starts_at: datetime | None, reason: str
) -> None:
    """Silence metrics matching METRIC_PATTERN (* wildcards) until a time."""
    from txmon.alerting.silences import add_silence
    from txmon.db.connection import connect

    start = starts_at.replace(tzinfo=UTC) if starts_at else datetime.now(UTC)
    with connect() as conn:
        silence_id = add_silence(conn, metric_pattern, start, ends_at.replace(tzinfo=UTC), reason)
    click.echo(f"silence {silence_id} added")


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
