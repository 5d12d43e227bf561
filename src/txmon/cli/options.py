"""Option types and options several commands share: files to read and write, dates, finite
numbers, the settings file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"]}
# Commands that hand what they do not know to dbt (`txmon build --select ...`).
PASS_THROUGH = {**CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}

# Dates on the command line, with or without seconds (the README writes '2025-07-16 06:00').
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
]


class FilePath(click.Path):
    """click.Path that refuses an empty string: Path("") is the current folder, never a file."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty string names no file", param, ctx)
        return super().convert(value, param, ctx)


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
