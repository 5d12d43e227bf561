"""Evaluation on the command line: `txmon demo`, `txmon benchmark` (detection quality),
`txmon bench` (speed) and `txmon replay` (a file fed minute by minute, as if live)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from txmon.cli.options import CONTEXT, TIMEZONE_OPTION, FilePath, FiniteFloat


@click.command(context_settings=CONTEXT)
def demo() -> None:
    """Generate, load and build three days in the demo's own database, show what was found.

    The demo's database sits beside yours (txmon_demo on the embedded server); look at it with
    `txmon --database demo status`, `... superset up`, `... serve`.
    """
    from txmon.lab.demo import run_demo

    run_demo(click.echo)


@click.command(context_settings=CONTEXT)
@click.option(
    "--days",
    type=FiniteFloat(min=0, min_open=True, max=366),
    default=14.0,
    show_default=True,
    help="Days of traffic per scenario.",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="Only this scenario (repeatable; default: every one).",
)
@click.option(
    "--model",
    type=click.Choice(["default", "prototype", "both"]),
    default="both",
    show_default=True,
    help="The model to score: the default (the settings' own), the prototype's, or both.",
)
def benchmark(days: float, scenarios: tuple[str, ...], model: str) -> None:
    """Score detection on generated scenarios, by the rules of `txmon eval`, against the
    targets (prints figures; exits 0 whatever they are)."""
    from txmon.lab.detection import choose_scenarios, model_names, run_benchmark

    chosen = choose_scenarios(days, scenarios)  # before any work: a typo costs nothing
    run_benchmark(click.echo, chosen, model_names(model))


def _history_lengths(days: str) -> list[float]:
    """--days of `txmon bench`: comma-separated numbers of days, each from 0 to 366."""
    try:
        lengths = [float(item) for item in days.split(",") if item.strip()]
    except ValueError:
        raise click.BadParameter(
            "takes numbers of days such as 1,7,30", param_hint="--days"
        ) from None
    if not lengths or any(not 0 < length <= 366 for length in lengths):
        raise click.BadParameter("each length must be from 0 to 366 days", param_hint="--days")
    return lengths


@click.command(context_settings=CONTEXT)
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
@click.option(
    "--many-series",
    "series_days",
    type=FiniteFloat(min=0),
    default=0.0,
    show_default=True,
    help="Also time this many days of transactions with 4 dimensions and about 250 values"
    " (about 1,500 series): full build, cycle, and the series one server keeps up with.",
)
def bench(days: str, cycles: int, ingest_mb: float, sustained: float, series_days: float) -> None:
    """Time load, full build and one live cycle as history grows; print the figures."""
    from txmon.core.paths import private_dir, txmon_home
    from txmon.db.connection import database_url
    from txmon.lab.speed import run_bench

    run_bench(click.echo, _history_lengths(days), cycles)
    if series_days:
        from txmon.lab.many_series import report_many_series

        folder = private_dir(txmon_home() / "bench")
        report_many_series(database_url(), series_days, max(cycles, 3), folder, click.echo)
    if ingest_mb:
        from txmon.lab.ingest_speed import ingest_throughput

        folder = private_dir(txmon_home() / "bench")
        ingest_throughput(database_url(), folder, ingest_mb, click.echo)
    if sustained:
        from txmon.lab.ingest_load import sustained_ingest

        sustained_ingest(database_url(), click.echo, seconds=sustained)


@click.command(context_settings=CONTEXT)
@click.argument("file", type=FilePath(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--speed",
    # Slower than a minute of data every 100 real minutes is a typo, not a replay.
    type=FiniteFloat(min=0.01),
    default=60.0,
    show_default=True,
    help="Simulated minutes per real minute (60 = one hour of data a minute).",
)
@TIMEZONE_OPTION
def replay(file: Path, speed: float, timezone: str) -> None:
    """Feed a CSV into the raw tables minute by minute, as if it arrived live."""
    from txmon.core.formatting import format_duration
    from txmon.db.connection import connect
    from txmon.lab.replay import replay_file

    with connect() as conn:
        summary = replay_file(conn, file, speed=speed, timezone=timezone, say=click.echo)
    click.echo(
        f"replay done: {summary.minutes:,} minutes, {summary.rows_loaded:,} rows loaded, "
        f"{summary.rows_rejected:,} rejected in {format_duration(summary.seconds)}"
    )
    if summary.rows_rejected:
        sys.exit(2)
