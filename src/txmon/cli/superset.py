"""`txmon superset up|down|status`: Apache Superset with the dashboard of this repository."""

from __future__ import annotations

import sys

import click

from txmon.cli.options import CONTEXT


@click.group(context_settings=CONTEXT)
def superset() -> None:
    """Apache Superset with the "Transaction monitoring" dashboard, set up from this repository."""


@superset.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port to listen on (default: $TXMON_SUPERSET_PORT, else 8088).",
)
def superset_up(host: str, port: int | None) -> None:
    """Install Superset in its own virtualenv, set it up, import the dashboard and start it.

    Running it again updates everything in place. Admin password: TXMON_SUPERSET_ADMIN_PASSWORD,
    else one is generated, printed once and kept under the txmon home folder.
    """
    from txmon.ops.superset.commands import up

    up(click.echo, host=host, port=port)


@superset.command("down")
def superset_down() -> None:
    """Stop the Superset server."""
    from txmon.ops.superset.commands import down

    click.echo("Superset stopped" if down() else "Superset was not running")


@superset.command("status")
def superset_status() -> None:
    """Say whether Superset runs, and where. Exits 3 when it does not."""
    from txmon.ops.superset.commands import status

    info = status()
    if info is None:
        click.echo("Superset is not running (txmon superset up)")
        sys.exit(3)
    click.echo(f"Superset running (pid {info.pid}): {info.dashboard_url}")
