"""Data in and out of the raw tables: `txmon load`, `txmon loads list|remove`, `txmon prune`,
and `txmon generate`, which writes synthetic files to load."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from txmon.cli.app import warn
from txmon.cli.options import (
    CONFIG_OPTION,
    CONTEXT,
    OUTPUT_FILE,
    STDOUT,
    TIMEZONE_OPTION,
    FiniteFloat,
    TimeType,
    refuse_to_overwrite,
)
from txmon.core.errors import TxmonError


@click.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@TIMEZONE_OPTION
@click.option("--force", is_flag=True, help="Reload a file already loaded (replaces that load).")
@CONFIG_OPTION
def load(files: tuple[Path, ...], timezone: str, force: bool, config_path: Path | None) -> None:
    """Validate and load CSV files (counts or transactions) into the raw tables.

    Exits 2 when some rows were rejected; they are kept in txmon_raw.load_rejects. Rows far
    ahead of the clock or far from the other data are rejected too ([ingest] settings).
    """
    from txmon.console.progress import progress
    from txmon.core.config import load_settings
    from txmon.db.connection import connect
    from txmon.ingest.files import load_file
    from txmon.ingest.loads import format_summary

    ingest = load_settings(config_path).ingest
    rejected = 0
    with connect() as conn:
        for path in files:
            with progress(f"loading {path}", total=_size(path), unit="bytes") as meter:
                summary = load_file(
                    conn, path, timezone=timezone, force=force, ingest=ingest, on_read=meter.update
                )
            click.echo(format_summary(summary))
            if summary.overlap_warning:
                warn(summary.overlap_warning)
            rejected += summary.rows_rejected
    if rejected:
        sys.exit(2)


def _size(path: Path) -> int | None:
    """The file's size for the progress bar; None if unknown (load_file says what is wrong)."""
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


@click.group(context_settings=CONTEXT)
def loads() -> None:
    """The loads made by `txmon load`: list them, remove them with their rows."""


@loads.command("list")
def loads_list() -> None:
    """Every load: id, shape, rows loaded and rejected, minutes covered, when, forced, file."""
    from txmon.console.tables import loads_table
    from txmon.db.connection import connect
    from txmon.ingest.loads import list_loads

    with connect() as conn:
        click.echo(loads_table(list_loads(conn)))


@loads.command("remove")
@click.argument("load_ids", nargs=-1, required=True, type=int, metavar="ID...")
def loads_remove(load_ids: tuple[int, ...]) -> None:
    """Delete loads with their rows and rejects, in one transaction (all or none)."""
    from txmon.db.connection import connect
    from txmon.ingest.loads import remove_loads

    with connect() as conn:
        removed = remove_loads(conn, load_ids)
    for info in removed:
        click.echo(
            f"removed load {info.load_id} ({info.rows_loaded:,} rows, {info.rows_rejected:,} "
            f"rejects) from {info.file_name}"
        )


@click.command(context_settings=CONTEXT)
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


@click.command(context_settings=CONTEXT)
@click.argument("output", type=OUTPUT_FILE)
@click.option("--days", type=FiniteFloat(min=0, min_open=True), default=3.0, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--start",
    type=TimeType(time_of_day=False),
    default="2025-07-12",
    show_default=True,
    help="First minute: YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC unless an offset is given).",
)
@click.option(
    "--volume",
    "base_volume",
    type=FiniteFloat(min=0),
    default=126.0,
    show_default=True,
    help="Average transactions a minute.",
)
@click.option("--daily-cycle", is_flag=True, help="Busier afternoons, quiet nights (cosine).")
@click.option(
    "--cycle",
    "cycle_shape",
    type=click.Choice(["cosine", "business"]),
    default=None,
    help="The daily cycle's shape (implies --daily-cycle): cosine swings half the volume"
    " around the mean; business peaks at 16:00 UTC with nights of 3 % of the peak and quieter"
    " weekends.  [default: cosine]",
)
@click.option("--events", is_flag=True, help="Write one row per transaction instead of counts.")
@click.option("--no-incidents", is_flag=True, help="Normal traffic only.")
@click.option(
    "--crisis", is_flag=True, help="End with a 61-minute approval collapse, nothing else."
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT and its labels file if they exist.")
def generate(
    output: Path | str,
    days: float,
    seed: int,
    start: datetime,
    base_volume: float,
    daily_cycle: bool,
    cycle_shape: str | None,
    events: bool,
    no_incidents: bool,
    crisis: bool,
    force: bool,
) -> None:
    """Write synthetic transactions to OUTPUT (- for stdout), with the planted incidents in
    <OUTPUT stem>.labels.csv beside it (none with -).

    OUTPUT's folder must exist; an existing OUTPUT or labels file is refused without --force.
    """
    from txmon.console.progress import progress, stderr_console
    from txmon.lab import generate as generator
    from txmon.lab import generated_files

    if output != STDOUT:
        refuse_to_overwrite(Path(output), generated_files.labels_path(Path(output)), force=force)
    # The generator works in naive UTC minutes.
    start = start.astimezone(UTC).replace(tzinfo=None)
    options = {
        "start": start,
        "base_volume": base_volume,
        # Naming a shape asks for a cycle; --daily-cycle alone keeps its cosine.
        "daily_cycle": daily_cycle or cycle_shape is not None,
        "cycle_shape": cycle_shape or "cosine",
    }
    try:
        if crisis:
            config = generator.crisis_scenario(days=days, seed=seed, **options)
        else:
            incidents = () if no_incidents else None
            config = generator.GeneratorConfig(days=days, seed=seed, incidents=incidents, **options)
    except ValueError as error:
        raise TxmonError(str(error)) from error
    minutes = generator.total_minutes(config.days)
    if output == STDOUT:
        stream = click.get_text_stream("stdout")
        write = generated_files.write_events if events else generated_files.write_counts
        # stdout carries the data: a line in a log goes to stderr, as the summary does.
        with progress("generating", total=minutes, unit="minutes", log=stderr_console()) as meter:
            tally = write(stream, config, meter.update)
        stream.flush()
        planted = len(generator.resolved_incidents(config))
        click.echo(
            f"wrote {tally.rows:,} rows ({tally.minutes:,} minutes, {tally.transactions:,} "
            f"transactions) to stdout; {planted} incidents planted (no labels file with -)",
            err=True,
        )
        return
    try:
        with progress(f"generating {output}", total=minutes, unit="minutes") as meter:
            summary = generated_files.write_csv(
                Path(output), config, events=events, overwrite=force, on_minute=meter.update
            )
    except FileExistsError as error:
        raise TxmonError(f"{error.filename} already exists: --force overwrites") from error
    except OSError as error:
        written = error.filename or output  # the data file or its labels beside it
        raise TxmonError(f"cannot write {written}: {error.strerror or error}") from error
    click.echo(
        f"wrote {summary.rows:,} rows ({summary.minutes:,} minutes, {summary.transactions:,} "
        f"transactions) to {summary.path}; {len(summary.incidents)} incidents in "
        f"{summary.labels_path}"
    )
