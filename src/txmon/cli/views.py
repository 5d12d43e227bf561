"""Reading the published results: `txmon monitor` (the prototype's /monitor), `txmon status`
and `txmon episodes`."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from txmon.cli.options import (
    CONTEXT,
    EXIT_CRITICAL,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_WARNING,
    TIME_HELP,
    TimeType,
    TimeValue,
    VerdictCommand,
    data_clock,
    resolve_time,
)
from txmon.core.errors import TxmonError

# The exit statuses, as every verdict command's help ends.
VERDICT_EPILOG = (
    f"Exit status, as monitoring plugins use it: {EXIT_OK} HEALTHY, {EXIT_WARNING} INFO or "
    f"WARNING, {EXIT_CRITICAL} CRITICAL or SEVERE (the worst metric decides), {EXIT_UNKNOWN} when "
    "there is no verdict (an error: no database, nothing built yet, a bad option). Other txmon "
    "commands exit 1 on errors."
)


def verdict_exit_code(severity: str) -> int:
    """The monitoring-plugin exit status of the worst current severity."""
    from txmon.alerting.outbox import URGENT_SEVERITY
    from txmon.core.facts import HEALTHY, severity_rank

    rank = severity_rank(severity)
    if severity == HEALTHY or rank is None or rank == 0:
        return EXIT_OK
    urgent = severity_rank(URGENT_SEVERITY)
    return EXIT_CRITICAL if urgent is not None and rank >= urgent else EXIT_WARNING


@click.command(cls=VerdictCommand, context_settings=CONTEXT, epilog=VERDICT_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the /monitor JSON document.")
def monitor(as_json: bool) -> None:
    """The current verdict per metric, like the prototype's GET /monitor."""
    from txmon.console.tables import status_table
    from txmon.db.connection import connect
    from txmon.pipeline.views import current_status, monitor_document, worst_severity

    with connect() as conn:
        if as_json:
            document = monitor_document(conn)
            click.echo(json.dumps(document, indent=2))
            worst = document["overall_severity"]
        else:
            statuses = current_status(conn)
            click.echo(status_table(statuses))
            worst = worst_severity(statuses)
    sys.exit(verdict_exit_code(worst))


@click.command(cls=VerdictCommand, context_settings=CONTEXT, epilog=VERDICT_EPILOG)
def status() -> None:
    """The current status as a readable table, and the overall verdict."""
    from txmon.console.tables import breaking_table, status_table
    from txmon.db.connection import connect
    from txmon.pipeline.build_state import late_data
    from txmon.pipeline.views import breaking_series, current_status, worst_severity

    with connect() as conn:
        statuses = current_status(conn)
        breaking = breaking_series(conn)
        late = late_data(conn)
    worst = worst_severity(statuses + breaking)
    click.echo(status_table(statuses))
    if breaking:
        click.echo("\n" + breaking_table(breaking))
    click.echo(f"\noverall: {worst}")
    if late is not None:
        click.echo(f"needs a full refresh: {late.message()}")
    sys.exit(verdict_exit_code(worst))


@click.command(context_settings=CONTEXT)
@click.option("--metric", help="Only this metric (e.g. failed_rate).")
@click.option(
    "--since",
    type=TimeType(),
    help=f"Only episodes still open at or after this time: {TIME_HELP} (that minute of the "
    "day of the latest data).",
)
def episodes(metric: str | None, since: TimeValue | None) -> None:
    """Every anomaly episode that reached INFO."""
    from txmon.console.tables import episodes_table
    from txmon.db.connection import connect
    from txmon.pipeline.build_state import VIEWS_MISSING, has_relation
    from txmon.pipeline.views import check_metric
    from txmon.pipeline.views import episodes as read_episodes

    with connect() as conn:
        if not has_relation(conn, "anomaly_episodes"):
            raise TxmonError(VIEWS_MISSING)
        if metric is not None:
            check_metric(conn, metric)
        start: datetime | None = None if since is None else resolve_time(since, data_clock(conn))
        found = read_episodes(conn, since=start, metric=metric)
    click.echo(episodes_table(found))


@click.command(context_settings=CONTEXT)
@click.option("--open", "open_only", is_flag=True, help="Only incidents still open.")
@click.option(
    "--since",
    type=TimeType(),
    help=f"Only incidents still open at or after this time: {TIME_HELP} (that minute of the "
    "day of the latest data).",
)
def incidents(open_only: bool, since: TimeValue | None) -> None:
    """Incidents: episodes that paged at overlapping times, paged as one."""
    from txmon.console.tables import incidents_table
    from txmon.db.connection import connect
    from txmon.pipeline.build_state import VIEWS_MISSING, has_relation
    from txmon.pipeline.views import incidents as read_incidents

    with connect() as conn:
        if not has_relation(conn, "incidents"):
            raise TxmonError(VIEWS_MISSING)
        start: datetime | None = None if since is None else resolve_time(since, data_clock(conn))
        found = read_incidents(conn, since=start, open_only=open_only)
    click.echo(incidents_table(found))
