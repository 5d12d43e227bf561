"""`txmon db`: the embedded PostgreSQL server, the URL and environment for psql and plain dbt,
and the read-only role for dashboards."""

from __future__ import annotations

import os
import shlex
import sys

import click

from txmon.cli.options import CONTEXT
from txmon.core.errors import TxmonError


@click.group(context_settings=CONTEXT)
def db() -> None:
    """Manage the embedded PostgreSQL server (used when TXMON_DATABASE_URL is unset)."""


@db.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded server."""
    from txmon.db.embedded import EmbeddedServer

    status = EmbeddedServer().start()
    click.echo(
        f"embedded PostgreSQL running: {status.address} "
        "(password in its folder; txmon db url / txmon db env give it to you)"
    )


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server (its data stay)."""
    from txmon.db.embedded import EmbeddedServer

    stopped = EmbeddedServer().stop()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db.command("status")
def db_status() -> None:
    """Say whether the embedded server is running (exit 3 when it is not)."""
    from txmon.db.connection import URL_VARIABLE, describe
    from txmon.db.embedded import EmbeddedServer

    if os.environ.get(URL_VARIABLE):
        click.echo(f"using {URL_VARIABLE}: {describe(os.environ[URL_VARIABLE])}")
    status = EmbeddedServer().status()
    if not status.is_initialized:
        click.echo(f"embedded PostgreSQL: not created yet ({status.data_dir})")
        sys.exit(3)
    state = "running" if status.is_running else "stopped"
    click.echo(f"embedded PostgreSQL: {state}, data in {status.data_dir}, at {status.address}")
    if not status.is_running:
        sys.exit(3)


@db.command("url")
def db_url() -> None:
    """Print the URL of the database txmon uses, password included (starts the embedded
    server if needed)."""
    from txmon.db.connection import database_url

    click.echo(database_url())


@db.command("env")
def db_env() -> None:
    """Print the variables psql and plain dbt need: eval "$(txmon db env)".

    The PG* connection variables, and for dbt the settings file's [model] section
    (TXMON_DBT_VARS), so that plain `dbt build` judges exactly as `txmon build` does."""
    from txmon.db.connection import database_url
    from txmon.pipeline.dbt import dbt_environment

    for key, value in dbt_environment(database_url()).items():
        click.echo(f"export {key}={shlex.quote(value)}")


@db.command("reader")
@click.argument("role", default="txmon_reader")
@click.option(
    "--password-env",
    default="TXMON_READER_PASSWORD",
    show_default=True,
    metavar="VARIABLE",
    help="Environment variable holding the role's password.",
)
def db_reader(role: str, password_env: str) -> None:
    """Create (or update) a login role that can only read the public views' schema (monitoring),
    for dashboards."""
    from txmon.core.facts import PUBLIC_SCHEMA
    from txmon.db.connection import connect, database_url, libpq_environment
    from txmon.db.roles import check_reader_role, ensure_reader_role

    password = os.environ.get(password_env, "")
    if not password:
        raise TxmonError(f"set {password_env} to the password the role {role} should have")
    check_reader_role(role, password)
    url = database_url()
    with connect(url) as conn:
        ensure_reader_role(conn, role, password)
    env = libpq_environment(url)
    click.echo(
        f"role {role} can read schema {PUBLIC_SCHEMA} only: "
        f"postgresql://{role}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']} "
        f"(password from {password_env})"
    )
