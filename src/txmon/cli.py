"""The `txmon` command line: thin wrappers that parse arguments and print results."""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from click.utils import PacifyFlushWrapper

from txmon import __version__
from txmon.core.errors import TxmonError

CONTEXT = {"help_option_names": ["-h", "--help"]}


class FilePath(click.Path):
    """click.Path that refuses an empty string: Path("") is the current folder, never a file."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty string names no file", param, ctx)
        return super().convert(value, param, ctx)


CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=FilePath(path_type=Path, dir_okay=False),
    help="Settings file (default: $TXMON_CONFIG, else ./txmon.toml if present).",
)


class OutputPath(FilePath):
    """A file to write: not a folder, and not below a file (folders missing on the way are
    created when it is written)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        ancestor = Path(path).absolute().parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            self.fail(f"{ancestor} is a file, not a folder", param, ctx)
        return path


# Output files: a folder, a path below a file or an empty name is refused before any work.
OUTPUT_FILE = OutputPath(path_type=Path, dir_okay=False, writable=True)
# Dates on the command line, with or without seconds (the README writes '2025-07-16 06:00').
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
]


class FiniteFloat(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which compare false with any bound."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def one_line(text: str) -> str:
    """A message on one line: tabs and line breaks (libpq's hints have both) become spaces."""
    return " ".join(str(text).split())


def fail(message: str) -> NoReturn:
    click.echo(f"txmon: error: {one_line(message)}", err=True)
    sys.exit(1)


def environment_error(error: Exception) -> str | None:
    """The message for a failure of the surroundings rather than of txmon (a file that cannot
    be written, a database that went away mid-command); None for anything else, a bug."""
    if isinstance(error, OSError) and error.errno != errno.EPIPE:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        return f"database error: {str(error).strip() or type(error).__name__}"
    return None


class TxmonGroup(click.Group):
    """Every error as one line on stderr with exit status 1: TxmonError, failures of the
    surroundings (a traceback with --debug) and usage errors alike. Usage errors do not take
    click's 2, which txmon's commands use for "done, with rejected rows or failed sends"."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as error:
            # `txmon` or `txmon db` alone: the help is the answer, shown as click shows it.
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
            fail(error.format_message().rstrip(".") + hint)
        except click.ClickException as error:
            fail(error.format_message())
        except click.Abort:
            fail("aborted")
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            # A reader that went away (txmon alerts | head) is not an error worth a line.
            sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
            sys.exit(1)
        # Without standalone mode click returns the code of an explicit exit (0 after --help).
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TxmonError as error:
            if os.environ.get("TXMON_DEBUG"):
                traceback.print_exc()
            fail(str(error))
        except KeyboardInterrupt:
            click.echo("txmon: interrupted", err=True)
            sys.exit(130)
        except Exception as error:
            message = environment_error(error)
            if message is None:
                raise
            if os.environ.get("TXMON_DEBUG"):
                traceback.print_exc()
            fail(message)


@click.group(cls=TxmonGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="txmon")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--database",
    type=click.Choice(["main", "demo"]),
    help="main: TXMON_DATABASE_URL's database (else the embedded server's); demo: the one "
    "`txmon demo` fills beside it. Default: $TXMON_DATABASE, else main.",
)
def main(debug: bool, database: str | None) -> None:
    """Real-time monitoring of payment transactions on PostgreSQL and dbt."""
    # What txmon writes (TXMON_HOME, dbt's logs and artefacts, the server's log) is the
    # owner's alone: logs can name what failed, and the folder holds the database password.
    os.umask(0o077)
    if debug:
        os.environ["TXMON_DEBUG"] = "1"
    if database:
        # Through the environment, so processes txmon starts (dbt, Superset, the API) agree.
        os.environ["TXMON_DATABASE"] = database


# -- database ----------------------------------------------------------------------------------


@main.group(context_settings=CONTEXT)
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
    import shlex

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
    """Create (or update) a login role that can only read schema monitoring, for dashboards."""
    from txmon.db.connection import (
        check_reader_role,
        connect,
        database_url,
        ensure_reader_role,
        libpq_environment,
    )

    password = os.environ.get(password_env, "")
    if not password:
        raise TxmonError(f"set {password_env} to the password the role {role} should have")
    check_reader_role(role, password)
    url = database_url()
    with connect(url) as conn:
        ensure_reader_role(conn, role, password)
    env = libpq_environment(url)
    click.echo(
        f"role {role} can read schema monitoring only: "
        f"postgresql://{role}@{env['PGHOST']}:{env['PGPORT']}/{env['PGDATABASE']} "
        f"(password from {password_env})"
    )


# -- data ----------------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of timestamps without an offset (IANA name).",
)
@click.option("--force", is_flag=True, help="Reload a file already loaded (replaces that load).")
@CONFIG_OPTION
def load(files: tuple[Path, ...], timezone: str, force: bool, config_path: Path | None) -> None:
    """Validate and load CSV files (counts or transactions) into the raw tables.

    Exits 2 when some rows were rejected; they are kept in txmon_raw.load_rejects. Rows far
    ahead of the clock or far from the other data are rejected too ([ingest] settings).
    """
    from txmon.core.config import load_settings
    from txmon.db.connection import connect
    from txmon.ingest.loading import format_summary, load_file

    ingest = load_settings(config_path).ingest
    rejected = 0
    with connect() as conn:
        for path in files:
            summary = load_file(conn, path, timezone=timezone, force=force, ingest=ingest)
            click.echo(format_summary(summary))
            if summary.overlap_warning:
                click.echo(f"txmon: warning: {summary.overlap_warning}", err=True)
            rejected += summary.rows_rejected
    if rejected:
        sys.exit(2)


@main.group(context_settings=CONTEXT)
def loads() -> None:
    """The loads made by `txmon load`: list them, remove them with their rows."""


@loads.command("list")
def loads_list() -> None:
    """Every load: id, shape, rows loaded and rejected, minutes covered, when, forced, file."""
    from txmon.db.connection import connect
    from txmon.ingest.loading import list_loads, loads_table

    with connect() as conn:
        click.echo(loads_table(list_loads(conn)))


@loads.command("remove")
@click.argument("load_ids", nargs=-1, required=True, type=int, metavar="ID...")
def loads_remove(load_ids: tuple[int, ...]) -> None:
    """Delete loads with their rows and rejects, in one transaction (all or none)."""
    from txmon.db.connection import connect
    from txmon.ingest.loading import remove_loads

    with connect() as conn:
        removed = remove_loads(conn, load_ids)
    for load in removed:
        click.echo(
            f"removed load {load.load_id} ({load.rows_loaded:,} rows, {load.rows_rejected:,} "
            f"rejects) from {load.file_name}"
        )


@main.command(context_settings=CONTEXT)
@click.option(
    "--keep",
    metavar="DURATION",
    help="Raw data to keep back from the newest minute: 90d, 12h, 2w "
    "(default: [retention] keep_days of the settings file).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; drop nothing.")
@CONFIG_OPTION
def prune(keep: str | None, dry_run: bool, config_path: Path | None) -> None:
    """Drop whole days of raw data older than the retention, keeping what open episodes and
    the baseline's warm-up need; print what was dropped in one line."""
    from datetime import timedelta

    from txmon.core.config import load_settings
    from txmon.db.connection import connect
    from txmon.ingest.retention import parse_duration
    from txmon.ingest.retention import prune as prune_raw

    if keep is not None:
        retention = parse_duration(keep)
    else:
        keep_days = load_settings(config_path).retention.keep_days
        if keep_days == 0:
            raise TxmonError("give --keep (e.g. --keep 90d) or set [retention] keep_days")
        retention = timedelta(days=keep_days)
    with connect() as conn:
        click.echo(prune_raw(conn, retention, dry_run=dry_run).text)


@main.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option(
    "--mode",
    type=click.Choice(["trailing", "seed"]),
    help="Baseline model (sets the baseline_mode var).",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Only what a scheduler cycle builds: the tables and one check of the rows they wrote.",
)
@click.pass_context
def build(ctx: click.Context, mode: str | None, quick: bool) -> None:
    """Run `dbt build`; extra arguments go to dbt (e.g. --select, --vars)."""
    from txmon.ops.scheduler import CYCLE_ARGUMENTS
    from txmon.pipeline import dbt as pipeline

    extra = [*CYCLE_ARGUMENTS, *ctx.args] if quick else list(ctx.args)
    if mode:
        extra = pipeline.with_vars(extra, {"baseline_mode": mode})
    result = pipeline.build(extra)
    click.echo(f"build passed: {result.nodes_run} dbt nodes")


@main.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("command")
@click.pass_context
def dbt(ctx: click.Context, command: str) -> None:
    """Run any dbt command against txmon's database, e.g. `txmon dbt source freshness`."""
    from txmon.pipeline import dbt as pipeline

    pipeline.run_dbt(command, list(ctx.args))


# -- reading -------------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
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


@main.command(context_settings=CONTEXT)
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


@main.command(context_settings=CONTEXT)
@click.option("--metric", help="Only this metric (e.g. failed_rate).")
@click.option(
    "--since",
    type=click.DateTime(DATE_FORMATS),
    help="Only episodes still open at or after this UTC time.",
)
def episodes(metric: str | None, since: datetime | None) -> None:
    """Every anomaly episode that reached INFO."""
    from datetime import UTC

    from txmon.console.tables import check_metric, episodes_table
    from txmon.db.connection import connect
    from txmon.pipeline.views import episodes as read_episodes

    with connect() as conn:
        if metric is not None:
            check_metric(conn, metric)
        found = read_episodes(
            conn, since=since.replace(tzinfo=UTC) if since else None, metric=metric
        )
    click.echo(episodes_table(found))


# -- synthetic data and the demo -------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.argument("output", type=OUTPUT_FILE)
@click.option("--days", type=FiniteFloat(min=0, min_open=True), default=3.0, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--start",
    type=click.DateTime(DATE_FORMATS),
    default="2025-07-12",
    show_default=True,
    help="First minute (UTC).",
)
@click.option(
    "--volume",
    "base_volume",
    type=FiniteFloat(min=0),
    default=126.0,
    show_default=True,
    help="Average transactions a minute.",
)
@click.option("--daily-cycle", is_flag=True, help="Busier afternoons, quiet nights.")
@click.option("--events", is_flag=True, help="Write one row per transaction instead of counts.")
@click.option("--no-incidents", is_flag=True, help="Normal traffic only.")
@click.option(
    "--crisis", is_flag=True, help="End with a 61-minute approval collapse, nothing else."
)
def generate(
    output: Path,
    days: float,
    seed: int,
    start: datetime,
    base_volume: float,
    daily_cycle: bool,
    events: bool,
    no_incidents: bool,
    crisis: bool,
) -> None:
    """Write synthetic transactions, with incidents listed in <OUTPUT stem>.labels.csv."""
    from txmon.lab import generate as generator

    options = {"start": start, "base_volume": base_volume, "daily_cycle": daily_cycle}
    try:
        if crisis:
            config = generator.crisis_scenario(days=days, seed=seed, **options)
        else:
            incidents = () if no_incidents else None
            config = generator.GeneratorConfig(days=days, seed=seed, incidents=incidents, **options)
    except ValueError as error:
        raise TxmonError(str(error)) from error
    writer = generator.write_events_csv if events else generator.write_counts_csv
    try:
        summary = writer(output, config)
    except OSError as error:
        written = error.filename or output  # the data file or its labels beside it
        raise TxmonError(f"cannot write {written}: {error.strerror or error}") from error
    click.echo(
        f"wrote {summary.rows:,} rows ({summary.minutes:,} minutes, {summary.transactions:,} "
        f"transactions) to {summary.path}; {len(summary.incidents)} incidents in "
        f"{summary.labels_path}"
    )


@main.command(context_settings=CONTEXT)
def demo() -> None:
    """Generate, load and build three days in the demo's own database, show what was found.

    The demo's database sits beside yours (txmon_demo on the embedded server); look at it with
    `txmon --database demo status`, `... superset up`, `... serve`.
    """
    from txmon.lab.demo import run_demo

    run_demo(click.echo)


@main.command(context_settings=CONTEXT)
@click.option(
    "--seeds", type=click.IntRange(1, 100), default=3, show_default=True, help="Scenarios per kind."
)
@click.option(
    "--days", type=FiniteFloat(min=0, min_open=True, max=366), default=3.0, show_default=True
)
def benchmark(seeds: int, days: float) -> None:
    """Time load and build on generated data and score the detections (prints figures)."""
    from txmon.lab.detection import run_benchmark

    run_benchmark(click.echo, seeds=seeds, days=days)


@main.command(context_settings=CONTEXT)
@click.option(
    "--days",
    "days",
    default="1,7,30,90",
    show_default=True,
    help="History lengths to measure, in days, comma-separated.",
)
@click.option(
    "--cycles", type=click.IntRange(2, 100), default=6, show_default=True, help="Live cycles each."
)
@click.option(
    "--ingest-mb",
    type=click.FloatRange(0, 10_000),
    default=0,
    show_default=True,
    help="Also load a file this large (MiB) of each line-end style and print rows per second.",
)
@click.option(
    "--sustained",
    type=click.FloatRange(0, 86_400),
    default=0,
    show_default=True,
    help="Also POST /transactions for this many seconds while the scheduler runs every 10 s.",
)
def bench(days: str, cycles: int, ingest_mb: float, sustained: float) -> None:
    """Time load, full build and one live cycle as history grows; print the figures."""
    from txmon.core.paths import private_dir, txmon_home
    from txmon.db.connection import database_url
    from txmon.lab.speed import run_bench

    try:
        lengths = [float(item) for item in days.split(",") if item.strip()]
    except ValueError:
        raise click.BadParameter(
            "takes numbers of days such as 1,7,30", param_hint="--days"
        ) from None
    if not lengths or any(not 0 < length <= 366 for length in lengths):
        raise click.BadParameter("each length must be from 0 to 366 days", param_hint="--days")
    run_bench(click.echo, lengths, cycles)
    if ingest_mb:
        from txmon.lab.ingest_speed import ingest_throughput

        folder = private_dir(txmon_home() / "bench")
        ingest_throughput(database_url(), folder, ingest_mb, click.echo)
    if sustained:
        from txmon.lab.ingest_load import sustained_ingest

        sustained_ingest(database_url(), click.echo, seconds=sustained)


# -- alerting ------------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@CONFIG_OPTION
@click.option(
    "--replay", is_flag=True, help="Queue the whole history as if dispatched live every minute."
)
@click.option("--send", is_flag=True, help="With --replay: deliver what the replay queues.")
def dispatch(config_path: Path | None, replay: bool, send: bool) -> None:
    """Queue new alert events as notifications and deliver them through the channels."""
    from txmon.alerting.channels import build_channels
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


@main.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "suppressed"]))
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
    from txmon.alerting.log import export_seed_json
    from txmon.db.connection import connect

    with connect() as conn:
        count = export_seed_json(conn, json_path)
    click.echo(f"wrote {count} notifications to {json_path}")


@main.group(context_settings=CONTEXT)
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
    from datetime import UTC

    from txmon.alerting.log import add_silence
    from txmon.db.connection import connect

    start = starts_at.replace(tzinfo=UTC) if starts_at else datetime.now(UTC)
    with connect() as conn:
        silence_id = add_silence(conn, metric_pattern, start, ends_at.replace(tzinfo=UTC), reason)
    click.echo(f"silence {silence_id} added")


@silence.command("list")
def silence_list() -> None:
    """List the silences."""
    from txmon.alerting.log import silences
    from txmon.db.connection import connect

    with connect() as conn:
        for silence_id, pattern, starts_at, ends_at, reason in silences(conn):
            click.echo(
                f"{silence_id:>4}  {pattern:<20} {starts_at:%Y-%m-%d %H:%M} -> "
                f"{ends_at:%Y-%m-%d %H:%M} UTC  {reason}"
            )


@silence.command("remove")
@click.argument("silence_id", type=click.IntRange(min=1))
def silence_remove(silence_id: int) -> None:
    """Remove a silence."""
    from txmon.alerting.log import remove_silence
    from txmon.db.connection import connect

    with connect() as conn:
        if not remove_silence(conn, silence_id):
            raise TxmonError(f"no silence {silence_id}")
    click.echo(f"silence {silence_id} removed")


# -- running live --------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.option("--every", default="60s", show_default=True, help="Cycle period: 60s, 5m, 1h.")
@CONFIG_OPTION
@click.option("--max-cycles", type=int, help="Stop after this many cycles (default: run on).")
def run(every: str, config_path: Path | None, max_cycles: int | None) -> None:
    """Build and dispatch on a schedule, one log line per cycle, until SIGTERM or Ctrl-C."""
    import logging

    from txmon.alerting.channels import build_channels
    from txmon.core.config import load_settings
    from txmon.db.connection import database_url
    from txmon.ops.scheduler import Scheduler, parse_interval

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    period = parse_interval(every)
    settings = load_settings(config_path)
    channels = build_channels(settings.channels)

    def say(line: str) -> None:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{stamp} {line}")

    Scheduler(database_url(), settings, channels, period, max_cycles=max_cycles, say=say).run()


@main.command(context_settings=CONTEXT)
@click.argument("file", type=FilePath(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--speed",
    # Slower than a minute of data every 100 real minutes is a typo, not a replay.
    type=FiniteFloat(min=0.01),
    default=60.0,
    show_default=True,
    help="Simulated minutes per real minute (60 = one hour of data a minute).",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of timestamps without an offset.",
)
def replay(file: Path, speed: float, timezone: str) -> None:
    """Feed a CSV into the raw tables minute by minute, as if it arrived live."""
    from txmon.db.connection import connect
    from txmon.lab.replay import replay_file

    with connect() as conn:
        summary = replay_file(conn, file, speed=speed, timezone=timezone, say=click.echo)
    click.echo(
        f"replay done: {summary.minutes:,} minutes, {summary.rows_loaded:,} rows loaded, "
        f"{summary.rows_rejected:,} rejected in {summary.seconds:.1f}s"
    )
    if summary.rows_rejected:
        sys.exit(2)


@main.command(context_settings=CONTEXT)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; any but 127.0.0.1, localhost or ::1 needs a token.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--token-env",
    default="TXMON_API_TOKEN",
    show_default=True,
    metavar="VARIABLE",
    help="Environment variable holding the bearer token (unset or empty: no token).",
)
def serve(host: str, port: int, token_env: str) -> None:
    """The HTTP API until Ctrl-C or SIGTERM: /monitor, /status, /episodes, /alerts,
    /metrics/METRIC, /health and POST /transactions; OpenAPI docs at /docs."""
    if not host.strip():
        raise click.BadParameter("an empty string names no interface", param_hint="'--host'")
    if not token_env.strip():
        raise click.BadParameter("name an environment variable", param_hint="'--token-env'")
    # The token comes from the environment, never the command line (ps would show it).
    token = os.environ.get(token_env, "").strip() or None
    if token is not None and len(token) < 16:
        raise TxmonError(f"the token in {token_env} is too short: use at least 16 characters")
    check_can_listen(host, port)
    # Imported once the arguments are known to be good: FastAPI takes seconds to import.
    from txmon.db.connection import database_url
    from txmon.serve.api import serve as serve_api

    serve_api(host, port, database_url(), token)


def check_can_listen(host: str, port: int) -> None:
    """Fail in one line before the server starts when the address is taken or unknown (uvicorn
    would log several lines and exit 3)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise TxmonError(f"cannot listen on {host}: {error.strerror}") from error
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is not taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise TxmonError(
                f"cannot listen on {host}:{port}: {error.strerror}; choose another with --port"
            ) from error


# -- dashboards ------------------------------------------------------------------------------------


@main.group(context_settings=CONTEXT)
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
    from txmon.ops.superset import up

    up(click.echo, host=host, port=port)


@superset.command("down")
def superset_down() -> None:
    """Stop the Superset server."""
    from txmon.ops.superset import down

    click.echo("Superset stopped" if down() else "Superset was not running")


@superset.command("status")
def superset_status() -> None:
    """Say whether Superset runs, and where. Exits 3 when it does not."""
    from txmon.ops.superset import status

    info = status()
    if info is None:
        click.echo("Superset is not running (txmon superset up)")
        sys.exit(3)
    click.echo(f"Superset running (pid {info.pid}): {info.dashboard_url}")
