"""The generator's files: per-minute counts, one row per transaction or counts by acquirer,
each written whole or not at all, and the labels file beside a data file that lists the
incidents planted in it (`<stem>.labels.csv`, in the shape `txmon eval` reads)."""

from __future__ import annotations

import csv
import errno
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from txmon.ingest.fields import COUNTS_COLUMNS, EVENTS_FIELDS
from txmon.lab import traffic
from txmon.lab.generate import (
    TIMESTAMP_FORMAT,
    GeneratorConfig,
    Incident,
    data_statuses,
    minute_counts,
    minute_parts,
    resolved_incidents,
)

# The input shapes as txmon reads them (txmon.ingest.fields holds the schema).
COUNTS_HEADER = COUNTS_COLUMNS
# The first four columns are what `txmon eval` reads from a user's labels; the rest it ignores.
LABELS_HEADER = ("metric", "start", "minutes", "must_page", "kind", "magnitude")
EVENTS_HEADER = tuple(field.name for field in EVENTS_FIELDS)
ACQUIRER_COUNTS_HEADER = ("timestamp", "status", "acquirer", "count")


@dataclass(frozen=True)
class GenerationSummary:
    path: Path
    labels_path: Path
    minutes: int
    rows: int
    transactions: int
    incidents: tuple[Incident, ...]


def labels_path(data_path: Path) -> Path:
    """Where the labels of a data file go: `<stem>.labels.csv` in the same folder."""
    data_path = Path(data_path)
    return data_path.with_name(f"{data_path.stem}.labels.csv")


def write_labels_csv(path: Path, incidents: Sequence[Incident], *, overwrite: bool = True) -> None:
    with _written_whole(Path(path), overwrite) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABELS_HEADER)
        for incident in incidents:
            writer.writerow(
                (
                    incident.series,
                    incident.started_at.strftime(TIMESTAMP_FORMAT),
                    incident.minutes,
                    "true" if incident.must_page else "false",
                    incident.kind,
                    repr(float(incident.magnitude)),
                )
            )


@dataclass(frozen=True)
class Tally:
    """What a writer wrote: minutes, data rows and transactions."""

    minutes: int
    rows: int
    transactions: int


def write_counts(
    handle: TextIO, config: GeneratorConfig, on_minute: Callable[[int], None] | None = None
) -> Tally:
    """Per-minute counts (`timestamp,status,count`, all statuses every minute) to a stream.
    `on_minute` is told the minutes written so far (for a progress bar)."""
    minutes = rows = transactions = 0
    statuses = data_statuses(config)
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COUNTS_HEADER)
    for minute, counts in minute_counts(config):
        stamp = minute.strftime(TIMESTAMP_FORMAT)
        writer.writerows((stamp, status, counts[status]) for status in statuses)
        minutes += 1
        rows += len(statuses)
        transactions += sum(counts.values())
        if on_minute is not None:
            on_minute(minutes)
    return Tally(minutes, rows, transactions)


def write_events(
    handle: TextIO, config: GeneratorConfig, on_minute: Callable[[int], None] | None = None
) -> Tally:
    """One row per transaction to a stream, drawn from the same per-minute counts as
    `write_counts`; `on_minute` as there."""
    # Event details use their own stream so the per-minute counts match the counts file.
    rng = random.Random(f"txmon-events-{config.seed}")
    minutes = transactions = 0
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(EVENTS_HEADER)
    for minute, counts, pinned in minute_parts(config):
        writer.writerows(
            traffic.minute_events(rng, config.seed, transactions, minute, counts, pinned)
        )
        minutes += 1
        transactions += sum(counts.values())
        if on_minute is not None:
            on_minute(minutes)
    return Tally(minutes, transactions, transactions)


def write_acquirer_counts(
    handle: TextIO, config: GeneratorConfig, on_minute: Callable[[int], None] | None = None
) -> Tally:
    """Per-minute counts by acquirer and status (`timestamp,status,acquirer,count`, every
    acquirer and status every minute), from the same per-minute draw as `write_counts`: the
    acquirers' counts add up to its counts."""
    # The split uses its own stream so the minute's counts match the counts file.
    rng = random.Random(f"txmon-acquirers-{config.seed}")
    weights = traffic.acquirer_weights()
    minutes = rows = transactions = 0
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(ACQUIRER_COUNTS_HEADER)
    for minute, counts, pinned in minute_parts(config):
        stamp = minute.strftime(TIMESTAMP_FORMAT)
        others = {name: weight for name, weight in weights.items() if name not in pinned}
        total_weight = sum(others.values())
        shares = {name: weight / total_weight for name, weight in others.items()}
        by_acquirer = {name: dict.fromkeys(counts, 0) for name in weights}
        for status, count in counts.items():
            left = count - sum(part.get(status, 0) for part in pinned.values())
            for name, drawn in traffic.multinomial(rng, left, shares).items():
                by_acquirer[name][status] = drawn
            for name, part in pinned.items():
                by_acquirer[name][status] = part.get(status, 0)
        for name, acquirer_counts in by_acquirer.items():
            writer.writerows(
                (stamp, status, name, count) for status, count in acquirer_counts.items()
            )
            rows += len(acquirer_counts)
        minutes += 1
        transactions += sum(counts.values())
        if on_minute is not None:
            on_minute(minutes)
    return Tally(minutes, rows, transactions)


def write_counts_csv(
    path: Path, config: GeneratorConfig, *, overwrite: bool = True
) -> GenerationSummary:
    """Per-minute counts to a file, plus its labels file (see `write_csv`)."""
    return write_csv(path, config, events=False, overwrite=overwrite)


def write_events_csv(
    path: Path, config: GeneratorConfig, *, overwrite: bool = True
) -> GenerationSummary:
    """One row per transaction to a file, plus its labels file (see `write_csv`)."""
    return write_csv(path, config, events=True, overwrite=overwrite)


def write_csv(
    path: Path,
    config: GeneratorConfig,
    *,
    events: bool,
    overwrite: bool = True,
    on_minute: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """The data file and its labels beside it, in a folder that must exist. Without
    `overwrite`, an existing data or labels file raises FileExistsError before anything is
    written. `on_minute` is told the minutes written so far."""
    path = Path(path)
    labels = labels_path(path)
    if not overwrite:
        for existing in (path, labels):
            if existing.exists():
                raise FileExistsError(errno.EEXIST, "the file exists", str(existing))
    with _written_whole(path, overwrite) as handle:
        tally = (write_events if events else write_counts)(handle, config, on_minute)
    incidents = resolved_incidents(config)
    write_labels_csv(labels, incidents, overwrite=overwrite)
    return GenerationSummary(path, labels, tally.minutes, tally.rows, tally.transactions, incidents)


@contextmanager
def _written_whole(path: Path, overwrite: bool) -> Iterator[TextIO]:
    """The file open for writing, removed if it cannot be written to the end (a full disk, a
    size limit, Ctrl-C): cut short, a data file would still load, as a shorter data set with
    no sign of the cut. Opening creates no folder, and without `overwrite` refuses an existing
    file (which is then left alone)."""
    handle = path.open("w" if overwrite else "x", newline="", encoding="utf-8")
    try:
        with handle:
            yield handle
    except BaseException:
        path.unlink(missing_ok=True)
        raise
