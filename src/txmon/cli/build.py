"""Running the pipeline: `txmon build` (dbt build), `txmon dbt` (any dbt command) and
`txmon run` (build and dispatch on a schedule)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from txmon.cli.app import warn
from txmon.cli.options import CONFIG_OPTION, CONTEXT, PASS_THROUGH

# The values of the dbt var baseline_mode, and older names still accepted for a release with
# the name that replaces them (macros/settings.sql: setting_defaults, deprecated_setting_values).
BASELINE_MODES = ("trailing", "prototype")
DEPRECATED_BASELINE_MODES = {"seed": "prototype"}
# dbt's options that choose nodes; `--quick` has chosen them already.
_SELECTION_OPTIONS = {"--select", "-s", "--models", "-m", "--exclude", "--selector"}


class BaselineMode(click.Choice):
    """The model's modes; an older name is still taken, with a warning, as its replacement."""

    def __init__(self) -> None:
        super().__init__(BASELINE_MODES)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        replacement = DEPRECATED_BASELINE_MODES.get(value)
        if replacement is not None:
            warn(f"--mode {value} is deprecated and will be removed: use --mode {replacement}")
            return replacement
        return super().convert(value, param, ctx)


@click.command(context_settings=PASS_THROUGH)
@click.option("--mode", type=BaselineMode(), help="Baseline model (sets the baseline_mode var).")
@click.option(
    "--quick",
    is_flag=True,
    help="Only what a scheduler cycle builds (the selector monitor_cycle): the tables and one "
    "check of the rows they wrote.",
)
@click.option(
    "--dbt-log",
    is_flag=True,
    help="Print dbt's own log, a line per node, instead of a progress bar (by default dbt "
    "prints only errors; its full log is in TXMON_HOME/dbt/logs either way).",
)
@click.pass_context
def build(ctx: click.Context, mode: str | None, quick: bool, dbt_log: bool) -> None:
    """Run `dbt build`; extra arguments go to dbt (e.g. --select, --vars, --target dev).

    Prints one line when the build has passed. On a terminal a progress bar shows the nodes
    as they finish; in a log, a line says when the build started. dbt prints only errors,
    without colour when the output is not a terminal, unless --dbt-log.
    """
    import time

    from txmon.console.progress import progress
    from txmon.core.formatting import format_duration
    from txmon.ops.scheduler import CYCLE_ARGUMENTS
    from txmon.pipeline import dbt as pipeline

    if quick:
        chooser = next((arg for arg in ctx.args if arg.split("=")[0] in _SELECTION_OPTIONS), None)
        if chooser is not None:
            raise click.UsageError(
                f"--quick is the selector monitor_cycle: it takes no {chooser.split('=')[0]}"
            )
    extra = [*CYCLE_ARGUMENTS, *ctx.args] if quick else list(ctx.args)
    if mode:
        extra = pipeline.with_vars(extra, {"baseline_mode": mode})
    started = time.monotonic()
    if dbt_log:
        result = pipeline.build(extra)  # dbt's log says what it is doing: no bar
    else:
        with progress("dbt build", unit="nodes") as meter:
            result = pipeline.build(extra, quiet=True, on_progress=meter.update)
    seconds = time.monotonic() - started
    click.echo(f"build passed: {result.nodes_run} dbt nodes in {format_duration(seconds)}")


@click.command(context_settings=PASS_THROUGH)
@click.argument("words", nargs=-1, required=True, type=click.UNPROCESSED, metavar="COMMAND [ARGS]")
def dbt(words: tuple[str, ...]) -> None:
    """Run any dbt command against txmon's database, e.g. `txmon dbt source freshness` or
    `txmon dbt docs generate`. The target is the profile's: prod, or $TXMON_DBT_TARGET, or
    --target dev."""
    from txmon.pipeline import dbt as pipeline

    command, extra = pipeline.dbt_command(words)
    pipeline.run_dbt(command, extra, target=None)


@click.command(context_settings=CONTEXT)
@click.option("--every", default="60s", show_default=True, help="Cycle period: 60s, 5m, 1h.")
@CONFIG_OPTION
@click.option("--max-cycles", type=int, help="Stop after this many cycles (default: run on).")
def run(every: str, config_path: Path | None, max_cycles: int | None) -> None:
    """Build and dispatch on a schedule, one log line per cycle, until SIGTERM or Ctrl-C."""
    import logging

    from txmon.alerting.channels.config import build_channels
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
