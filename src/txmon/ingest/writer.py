"""The one writer of the raw tables: every entry point (files, the HTTP API, replay, tests)
writes rows through `RawWriter`, so the rules that depend on stored data are applied once.

Those rules: the load lock for single transactions (ids are checked against what is stored,
one writer at a time), transaction ids unique in the input and not stored yet, and time sanity
(`TimeSanity`). Rows arrive already parsed by the field rules (txmon.ingest.fields), as tuples
in schema order. `RejectLog` records the lines of a file load that could not be written.

Everything happens in the caller's transaction; nothing here commits.

May import: `txmon.ingest.fields`, `txmon.ingest.raw_tables`, `txmon.ingest.time_sanity`,
`txmon.core`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg

from txmon.core.config import Ingest
from txmon.core.facts import RAW_SCHEMA
from txmon.ingest.fields import FIELDS, TABLES, TIME_FIELD, TIME_INDEX, Row, Shape
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ingest.time_sanity import TimeSanity

# One writer of single transactions at a time, file loads included: two loads of one file, or
# two writers of overlapping ids, would race otherwise. Released when the transaction ends.
# Taken first in its transaction, before any table is touched: ensure_raw_tables may move rows
# out of a default partition and hold it exclusively, and a writer that did so and then waited
# here would deadlock with the lock's holder reading or writing that partition.
LOCK_LOADS = "select pg_advisory_xact_lock(hashtext('txmon.load'))"

DUPLICATE_ID = "duplicate_transaction_id"
ID_LOADED = "transaction_id_loaded"
# Why a row that passed the field rules is not written, by code.
WRITE_PROBLEM_CODES = {
    DUPLICATE_ID: "the transaction_id appears earlier in the same batch",
    ID_LOADED: "the transaction_id is already stored",
    TimeSanity.AHEAD: "the time is further ahead of the clock than [ingest] allows",
    TimeSanity.GAP: "the time is further from the other data than [ingest] allows",
}

FIRST_REJECTS = 10  # the rejects a load's summary quotes
RAW_LINE_CHARS = 2_000  # how much of a rejected line is kept
REASON_CHARS = 500


def copy_statement(shape: Shape, *, with_load: bool) -> str:
    """COPY into the shape's raw table, its columns in schema order (then the load's)."""
    columns = [field.column for field in FIELDS[shape]]
    if with_load:
        columns += ["load_id", "line_number"]
    return f"copy {RAW_SCHEMA}.{TABLES[shape]} ({', '.join(columns)}) from stdin"


@dataclass(frozen=True)
class WriteProblem:
    """Why one row is not written."""

    index: int | None  # the row's position in the rows given; None if no row is to blame
    field: str
    reason: str
    code: str  # one of WRITE_PROBLEM_CODES


class BatchRefused(Exception):
    """`RawWriter.write_batch` wrote nothing; `problems` says why, sorted by row."""

    def __init__(self, problems: list[WriteProblem]) -> None:
        super().__init__("; ".join(problem.reason for problem in problems))
        self.problems = problems


class RawWriter:
    """Writes rows of one shape in the caller's transaction.

    Creating it takes the load lock for events, as the first thing in the transaction (see
    LOCK_LOADS); counts take none, so a long file load never holds up live counts: every
    accepted row lies within the gap limit of the span it was judged against, so concurrent
    writers cannot open a gap between them either. Then it makes sure the raw tables exist and
    reads the span for time sanity. With `load_id`, rows are written with that load and their
    line number (`positions`); `position` names what a position is in reasons ("first at index
    3", "first on line 4").
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        shape: Shape,
        *,
        ingest: Ingest | None = None,
        load_id: int | None = None,
        position: Literal["index", "line"] = "index",
    ) -> None:
        if shape == "events":
            conn.execute(LOCK_LOADS)
        ensure_raw_tables(conn)
        self.conn, self.shape, self.load_id = conn, shape, load_id
        self.sanity = TimeSanity(conn, ingest or Ingest())
        self._where = "at index" if position == "index" else "on line"
        self._copy = copy_statement(shape, with_load=load_id is not None)
        self._time_at = TIME_INDEX[shape]
        self._first_seen: dict[str, int] = {}  # transaction_id -> position, for this writer
        self.rows_written = 0
        self.first_at: datetime | None = None  # the span of the rows written
        self.last_at: datetime | None = None

    def write_batch(self, rows: Sequence[Row]) -> int:
        """All or nothing: write every row, or raise BatchRefused with every problem of every
        row (a row with a repeated id and a bad time gets both) and write none."""
        _, problems = self._check(rows, range(len(rows)), judge_every_row=True)
        if problems:
            raise BatchRefused(problems)
        try:
            with self.conn.transaction():  # a savepoint: the caller's transaction stays usable
                self.copy(rows)
        except psycopg.errors.UniqueViolation:
            # Only a writer that bypasses the load lock gets here between the check and the copy.
            problem = WriteProblem(
                None, "transaction_id", "a transaction_id was stored meanwhile", ID_LOADED
            )
            raise BatchRefused([problem]) from None
        return len(rows)

    def screen(
        self, rows: Sequence[Row], positions: Sequence[int] | None = None
    ) -> tuple[list[int], list[WriteProblem]]:
        """For a partial write: the indexes of the rows that may be written, and why the others
        may not. Only rows kept widen the time-sanity span; ids are remembered across calls."""
        return self._check(rows, positions or range(len(rows)), judge_every_row=False)

    def copy(self, rows: Sequence[Row], positions: Sequence[int] | None = None) -> None:
        """COPY rows that passed `screen` (or `write_batch`'s checks)."""
        if not rows:
            return
        times = [row[self._time_at] for row in rows]
        earliest, latest = min(times), max(times)
        self.first_at = earliest if self.first_at is None else min(self.first_at, earliest)
        self.last_at = latest if self.last_at is None else max(self.last_at, latest)
        with self.conn.cursor() as cursor, cursor.copy(self._copy) as copy:
            if self.load_id is None:
                for row in rows:
                    copy.write_row(row)
            else:
                numbers = positions or range(len(rows))
                for row, number in zip(rows, numbers, strict=True):
                    copy.write_row((*row, self.load_id, number))
        self.rows_written += len(rows)

    def _check(
        self, rows: Sequence[Row], positions: Sequence[int], *, judge_every_row: bool
    ) -> tuple[list[int], list[WriteProblem]]:
        problems: list[WriteProblem] = []
        refused: set[int] = set()
        if self.shape == "events":
            problems += self._id_problems(rows, positions)
            refused = {problem.index for problem in problems if problem.index is not None}
        judged = [i for i in range(len(rows)) if judge_every_row or i not in refused]
        for problem in self._time_problems([rows[i][self._time_at] for i in judged]):
            index = judged[problem.index or 0]
            problems.append(WriteProblem(index, problem.field, problem.reason, problem.code))
            refused.add(index)
        problems.sort(key=lambda problem: problem.index or 0)  # stable: ids first per row
        return [i for i in range(len(rows)) if i not in refused], problems

    def _id_problems(self, rows: Sequence[Row], positions: Sequence[int]) -> list[WriteProblem]:
        """Ids seen earlier by this writer, then ids already stored."""
        problems = []
        first_times = []
        for index, (row, position) in enumerate(zip(rows, positions, strict=True)):
            first = self._first_seen.setdefault(row[0], position)
            if first == position:
                first_times.append(index)
                continue
            reason = f"duplicate transaction_id {row[0]} (first {self._where} {first})"
            problems.append(WriteProblem(index, "transaction_id", reason, DUPLICATE_ID))
        if not first_times:
            return problems
        # Served by the index that leads with transaction_id (the key of the day-partitioned
        # table); no unique constraint on transaction_id alone is needed.
        stored = dict(
            self.conn.execute(
                f"select transaction_id, load_id from {RAW_SCHEMA}.{TABLES['events']}"
                " where transaction_id = any(%s)",
                ([rows[index][0] for index in first_times],),
            ).fetchall()
        )
        for index in first_times:
            transaction_id = rows[index][0]
            if transaction_id in stored:
                load = stored[transaction_id]
                by = f"load {load}" if load is not None else "outside txmon load"
                reason = f"transaction_id {transaction_id} already loaded ({by})"
                problems.append(WriteProblem(index, "transaction_id", reason, ID_LOADED))
        return problems

    def _time_problems(self, times: list[datetime]) -> list[WriteProblem]:
        """Time sanity in order; `index` is the position in `times`."""
        if not times or self.sanity.accepts_all(min(times), max(times)):
            return []
        problems = []
        for index, at in enumerate(times):
            refused = self.sanity.judge(at)
            if refused is not None:
                code, reason = refused
                problems.append(WriteProblem(index, TIME_FIELD[self.shape], reason, code))
        return problems


class RejectLog:
    """The lines of one load that were not written, with their reasons, COPYed in batches
    into `load_rejects`."""

    def __init__(self, conn: psycopg.Connection, load_id: int, file_name: str) -> None:
        self.conn, self.load_id, self.file_name = conn, load_id, file_name
        self.pending: list[Row] = []
        self.rejected = 0
        self.first_rejects: list[tuple[int, str]] = []  # (line, reason), the first few

    def add(self, line_number: int, text: str, reason: str) -> None:
        raw = text.replace("\x00", "")[:RAW_LINE_CHARS]  # PostgreSQL text cannot hold NUL
        self.pending.append((self.load_id, self.file_name, line_number, raw, reason[:REASON_CHARS]))
        self.rejected += 1
        if len(self.first_rejects) < FIRST_REJECTS:
            self.first_rejects.append((line_number, reason))

    def flush(self) -> None:
        if not self.pending:
            return
        statement = (
            f"copy {RAW_SCHEMA}.load_rejects (load_id, file_name, line_number, raw_line, reason)"
            " from stdin"
        )
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in self.pending:
                copy.write_row(row)
        self.pending = []
