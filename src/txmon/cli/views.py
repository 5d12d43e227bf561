"""Reading the published results: `txmon monitor` (the prototype's /monitor), `txmon status`
and `txmon episodes`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from txmon.cli.options import CONTEXT, DATE_FORMATS
from txmon.core.errors import TxmonError


@click.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the /monitor JSON document.")
def monitor(as_json: bool) -> None:
    """The current verdict per metric, like the prototype's GET /monitor."""
    from txmon.console.tables import status_table
    from txmon.db.connection import connect
    from txmon.pipeline.views import current_status, monitor_document

    with connect() as conn:
        if as_json:
            click.echo(json.dumps(monitor_document(conn), indent=2))
        else:
            click.echo(status_table(current_status(conn)))


@click.command(context_settings=CONTEXT)
def status() -> None:
    """The current status as a readable table."""
    from txmon.console.tables import status_table
    from txmon.db.connection import connect
    from txmon.pipeline.views import current_status, late_data, worst_severity

    with connect() as conn:
        statuses = current_status(conn)
        late = late_data(conn)
    click.echo(status_table(statuses))
    click.echo(f"\noverall: {worst_severity(statuses)}")
    if late is not None:
        click.echo(f"needs a full refresh: {late.message()}")


@click.command(context_settings=CONTEXT)
@click.option("--metric", help="Only this metric (e.g. failed_rate).")
@click.option(
    "--since",
    type=click.DateTime(DATE_FORMATS),
    help="Only episodes still open at or after this UTC time.",
)
def episodes(metric: str | None, since: datetime | None) -> None:
    """Every anomaly episode that reached INFO."""
    from txmon.console.tables import episodes_table
    from txmon.db.connection import connect
    from txmon.pipeline.views import current_status
    from txmon.pipeline.views import episodes as read_episodes

    with connect() as conn:
        if metric is not None:
            # A typo is an error, not an empty answer; current_status also says when nothing
            # has been built yet.
            known = [status.metric_name for status in current_status(conn)]
            if metric not in known:
                raise TxmonError(f"unknown metric {metric[:100]!r}; known: {', '.join(known)}")
        found = read_episodes(
            conn, since=since.replace(tzinfo=UTC) if since else None, metric=metric
        )
    click.echo(episodes_table(found))
