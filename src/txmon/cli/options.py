"""Option types and options several commands share: files to read and write (`-` for
stdout), times, finite numbers, the settings file, and the exit statuses of the commands that
report a verdict."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from txmon.core.errors import TxmonError

if TYPE_CHECKING:
    import psycopg

CONTEXT = {"help_option_names": ["-h", "--help"]}
# Commands that hand what they do not know to dbt (`txmon build --select ...`).
PASS_THROUGH = {**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}

# Exit statuses of `txmon status` and `txmon monitor`, as monitoring plugins (Nagios, Icinga,
# Sensu, Zabbix) read them. Their errors exit UNKNOWN, so an error is never read as a verdict;
# every other command's errors exit 1.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_ERROR = 1


class VerdictCommand(click.Command):
    """A command whose exit status is its verdict: its errors, usage errors included, exit
    EXIT_UNKNOWN (the `txmon` group reads `error_exit_code`)."""

    error_exit_code = EXIT_UNKNOWN


def error_exit_code(command: click.Command | None) -> int:
    return getattr(command, "error_exit_code", EXIT_ERROR)


# --- times ----------------------------------------------------------------------------------

TIME_HELP = "YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (T or space, optional offset; else UTC) or HH:MM"
_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class TimeOfDay:
    """`HH:MM` without a date: a minute of the data's latest day (see `resolve_time`)."""

    clock: time

    def on(self, day: date) -> datetime:
        return datetime.combine(day, self.clock, tzinfo=UTC)


# What a time option gives: an aware UTC moment, or a time of day to place against the data.
TimeValue = datetime | TimeOfDay


class TimeType(click.ParamType):
    """A moment on the command line, read by the same rule as timestamps in files and the API
    (`txmon.ingest.fields.parse_timestamp`: minutes at least, optional seconds, `T` or a space,
    optional offset; without one, UTC), or a date alone (its midnight, UTC), or, where
    `time_of_day` allows it, `HH:MM[:SS]` alone."""

    name = "time"

    def __init__(self, *, time_of_day: bool = True) -> None:
        self.time_of_day = time_of_day

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> TimeValue:
        if isinstance(value, datetime | TimeOfDay):
            return value
        from txmon.ingest.fields import InvalidValue, parse_timestamp

        text = str(value).strip()
        clock = _TIME_OF_DAY.fullmatch(text)
        if clock and self.time_of_day:
            hour, minute, second = (int(part or 0) for part in clock.groups())
            return TimeOfDay(time(hour, minute, second))
        try:
            if _DATE_ONLY.fullmatch(text):
                return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
            return parse_timestamp(text)
        except (InvalidValue, ValueError):
            accepted = TIME_HELP if self.time_of_day else TIME_HELP.rsplit(" or ", 1)[0]
            self.fail(f"{text[:60]!r} is not a time; give {accepted}", param, ctx)


def data_clock(conn: psycopg.Connection) -> datetime:
    """The latest minute in the published data, or the clock's minute before anything is
    built: what `HH:MM` alone and a silence's default start refer to. Silences and alerts are
    matched against data minutes, which trail the clock (and by far when old data are
    replayed)."""
    from txmon.pipeline.build_state import data_freshness, has_relation

    if has_relation(conn, "current_status"):
        latest, _lag = data_freshness(conn)
        if latest is not None:
            return latest
    return datetime.now(UTC).replace(second=0, microsecond=0)


def resolve_time(value: TimeValue, reference: datetime, *, after: bool = False) -> datetime:
    """A time option's moment: `HH:MM` alone is that minute of `reference`'s day (UTC), or,
    with `after`, the first such minute after `reference` (an end: `--until 06:00` from 22:00
    ends the next morning)."""
    if isinstance(value, datetime):
        return value
    moment = value.on(reference.astimezone(UTC).date())
    if after and moment <= reference:
        moment += timedelta(days=1)
    return moment


class FilePath(click.Path):
    """click.Path that refuses an empty string: Path("") is the current folder, never a file."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty string names no file", param, ctx)
        return super().convert(value, param, ctx)


# `-` for an output file: standard output, as in most Unix tools (`./-` names a file `-`).
STDOUT = "-"


class OutputPath(FilePath):
    """A file to write, or STDOUT for `-`: not a folder, and in a folder that exists (txmon
    creates no folders on the way: a typo in a path would scatter files)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == STDOUT:
            return STDOUT
        path = super().convert(value, param, ctx)
        folder = Path(path).absolute().parent
        ancestor = folder
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            self.fail(f"{ancestor} is a file, not a folder", param, ctx)
        if ancestor != folder:
            self.fail(f"the folder {folder} does not exist: create it first", param, ctx)
        return path


# Output files: `-` is stdout; a folder, a path below a file or in a missing folder, or an
# empty name is refused before any work. The value is a Path or STDOUT.
OUTPUT_FILE = OutputPath(path_type=Path, dir_okay=False, writable=True)


def refuse_to_overwrite(*paths: Path, force: bool) -> None:
    """Refuse before any work when an output file exists, unless --force."""
    existing = [str(path) for path in paths if path.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise TxmonError(f"{' and '.join(existing)} already {verb}: --force overwrites")


class FiniteFloat(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which compare false with any bound."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=FilePath(path_type=Path, dir_okay=False),
    help="Settings file (default: $TXMON_CONFIG, else ./txmon.toml if present).",
)

TIMEZONE_OPTION = click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of timestamps without an offset (IANA name).",
)
