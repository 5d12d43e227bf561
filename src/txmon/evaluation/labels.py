"""Labelled incidents: the CSV a user keeps of what happened in their data, and whether each
one should have paged.

The file has a header and one row per incident: `metric,start,minutes,must_page`, in any order,
and any further columns: the generator also writes `kind` (kept: the benchmark reads it) and
`magnitude` (ignored). Every problem is one line naming the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from txmon.core.errors import TxmonError
from txmon.ingest.fields import InvalidValue, parse_timestamp
from txmon.pipeline import views

LABEL_COLUMNS = ("metric", "start", "minutes", "must_page")
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
START_FORMAT = "YYYY-MM-DD HH:MM[:SS] or ISO 8601 (UTC unless it has an offset)"
WHOLE_NUMBER = re.compile(r"[0-9]+")
# Long enough to span years of minutes, short enough that a typo is caught.
MAX_MINUTES = 10 * 366 * 24 * 60


class LabelsError(TxmonError):
    """A labels file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Label:
    """One labelled incident: `minutes` minutes of `metric` from `start` (aware UTC)."""

    line: int
    metric: str
    start: datetime
    minutes: int
    must_page: bool
    kind: str | None = None  # the optional `kind` column (the generator writes it)

    @property
    def end(self) -> datetime:
        """The first minute after the incident (exclusive end)."""
        return self.start + timedelta(minutes=self.minutes)


def read_labels(path: Path) -> list[Label]:
    """The labels of a CSV file, in file order; LabelsError for any bad input."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            try:
                return _parse(path, reader)
            except csv.Error as error:
                raise LabelsError(f"{path}: line {reader.line_num}: not CSV: {error}") from None
    except UnicodeDecodeError as error:
        raise LabelsError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise LabelsError(f"{path}: cannot read it: {error.strerror or error}") from None


def _parse(path: Path, reader: csv.DictReader) -> list[Label]:
    header = reader.fieldnames
    if not header:
        raise LabelsError(
            f"{path}: line 1: the file is empty; it needs the header {','.join(LABEL_COLUMNS)}"
        )
    columns = [name.strip().lower() for name in header]
    reader.fieldnames = columns
    missing = [name for name in LABEL_COLUMNS if name not in columns]
    if missing:
        raise LabelsError(
            f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the header needs {','.join(LABEL_COLUMNS)})"
        )
    # A header alone is a valid file: no known incident, so every page is one outside the labels.
    return [_label(path, reader.line_num, row) for row in reader]


def _label(path: Path, line: int, row: dict[str | None, str | None]) -> Label:
    try:
        if row.get(None):
            raise ValueError("more values than the header has columns")
        values = {name: (row.get(name) or "").strip() for name in LABEL_COLUMNS}
        for name, value in values.items():
            if not value:
                raise ValueError(f"{name} is empty")
        return Label(
            line=line,
            metric=values["metric"],
            start=_start(values["start"]),
            minutes=_minutes(values["minutes"]),
            must_page=_flag(values["must_page"]),
            kind=(row.get("kind") or "").strip() or None,
        )
    except ValueError as error:
        raise LabelsError(f"{path}: line {line}: {error}") from None


def _start(text: str) -> datetime:
    try:
        moment = parse_timestamp(text)
    except InvalidValue as error:
        raise ValueError(f"bad start {text[:60]!r} ({error}); give {START_FORMAT}") from None
    if moment.second or moment.microsecond:
        raise ValueError(f"start {text[:60]!r} is not a whole minute")
    return moment


def _minutes(text: str) -> int:
    if not WHOLE_NUMBER.fullmatch(text):
        raise ValueError(f"bad minutes {text[:60]!r}: give a whole number of minutes")
    minutes = int(text)
    if not 0 < minutes <= MAX_MINUTES:
        raise ValueError(f"bad minutes {minutes}: give from 1 to {MAX_MINUTES:,}")
    return minutes


def _flag(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"bad must_page {text[:60]!r}: give true/false, yes/no or 1/0")


def check_metrics(conn: psycopg.Connection, path: Path, labels: Sequence[Label]) -> None:
    """LabelsError at the first label whose metric (or series, `failed_rate[acquirer=stone]`)
    this database does not judge."""
    known = views.metric_names(conn)
    series = set(views.series_ids(conn))
    for label in labels:
        if label.metric not in known and label.metric not in series:
            raise LabelsError(
                f"{path}: line {label.line}: unknown metric {label.metric[:100]!r}; "
                f"known: {', '.join(known)}"
            )
