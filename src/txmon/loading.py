"""Load a CSV of per-minute counts or of single transactions into the raw tables.

A load is one transaction: the `txmon_raw.loads` row, every valid data row and every rejected
line with its reason are committed together or not at all. The file's SHA-256 makes loading the
same content twice a no-op, and `force=True` replaces the earlier load instead of adding to it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.pq import TransactionStatus

from txmon.database import ensure_raw_tables
from txmon.errors import LoadError

COUNTS_COLUMNS = ("timestamp", "status", "count")
EVENTS_REQUIRED = ("transaction_id", "created_at", "status", "amount")
EVENTS_OPTIONAL = ("channel", "product", "acquirer", "card_type", "auth_code", "duration_ms")
EXPECTED_HEADERS = (
    f"expected '{','.join(COUNTS_COLUMNS)}' (counts) or '{','.join(EVENTS_REQUIRED)}' "
    f"plus any of '{','.join(EVENTS_OPTIONAL)}' (events), in any order"
)

# Rows are validated in Python and written with COPY in batches: memory stays bounded and the
# transaction-id lookups against earlier loads happen between COPY operations.
BATCH_ROWS = 5_000
FIRST_REJECTS = 10
MAX_LINE_CHARS = 10_000
RAW_LINE_CHARS = 2_000
MAX_STATUS_CHARS = 64
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 256
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
MAX_AMOUNT = Decimal(10) ** 16  # numeric(18, 2) holds 16 digits before the point
CENT = Decimal("0.01")
MAX_OFFSET = timedelta(hours=14)  # the widest offset any real time zone uses
READ_CHUNK = 1 << 20

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
_STATUS = re.compile(r"[\w.\- ]+")  # \w: letters and digits of any script, and '_'
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# C0 and C1 control characters except tab; PostgreSQL text cannot hold NUL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Lone surrogates cannot be encoded as UTF-8; a CSV file never has them, a JSON string can.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
UTC_ZONE = ZoneInfo("UTC")

_LOCK_LOADS = "select pg_advisory_xact_lock(hashtext('txmon.load'))"
_COPY_COUNTS = (
    "copy txmon_raw.transaction_counts"
    " (observed_at, status, transaction_count, load_id, line_number) from stdin"
)
_COPY_EVENTS = (
    "copy txmon_raw.transactions (transaction_id, created_at, status, amount, channel, product,"
    " acquirer, card_type, auth_code, duration_ms, load_id, line_number) from stdin"
)
_COPY_REJECTS = (
    "copy txmon_raw.load_rejects (load_id, file_name, line_number, raw_line, reason) from stdin"
)

Row = tuple[Any, ...]
RowParser = Callable[[list[str]], Row]


@dataclass
class LoadSummary:
    """What one `load_file` call did, for the command line and for tests."""

    load_id: int | None
    path: Path
    input_shape: str
    rows_loaded: int
    rows_rejected: int
    skipped: bool = False
    first_rejects: list[tuple[int, str]] = field(default_factory=list)
    timezone: str = "UTC"
    forced: bool = False
    replaced_load_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_sha256: str = ""
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return format_summary(self)


def format_summary(summary: LoadSummary) -> str:
    """One paragraph saying what was loaded, what was rejected and why."""
    if summary.skipped:
        return (
            f"{summary.path} was already loaded as load {summary.load_id} (same content, "
            f"sha256 {summary.file_sha256[:12]}); nothing was written. "
            "Use --force to replace that load."
        )
    parts = [
        f"Loaded {summary.path} as load {summary.load_id} ({summary.input_shape}; "
        f"timestamps without an offset read as {summary.timezone}): "
        f"{summary.rows_loaded:,} rows loaded, {summary.rows_rejected:,} rejected "
        f"in {summary.seconds:.1f}s."
    ]
    if summary.replaced_load_ids:
        replaced = ", ".join(str(load_id) for load_id in summary.replaced_load_ids)
        parts.append(f"It replaces earlier load(s) {replaced} of the same content.")
    if summary.first_rejects:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in summary.first_rejects)
        more = summary.rows_rejected - len(summary.first_rejects)
        parts.append(f"Rejected {shown}" + (f"; and {more:,} more." if more > 0 else "."))
        parts.append(f"All rejects are in txmon_raw.load_rejects (load_id = {summary.load_id}).")
    parts.extend(summary.warnings)
    return " ".join(parts)


class InvalidValue(ValueError):
    """A value or line that cannot be loaded; the message is the reason.

    The public `parse_*` functions raise it for one field. `load_file` stores the reason with
    the rejected line; the HTTP API (txmon.api) returns it per item, so both apply one set of
    rules with one wording.
    """


_Reject = InvalidValue  # the name the line-level checks below use


def load_file(
    conn: psycopg.Connection,
    path: str | os.PathLike[str],
    *,
    timezone: str = "UTC",
    force: bool = False,
) -> LoadSummary:
    """Load one CSV file in one transaction and return what happened.

    The load is committed when this returns: a transaction the caller left open (connect()
    opens one to set the session time zone) is committed first so the load stands on its own.
    Any error rolls back everything the load wrote.
    """
    started = time.monotonic()
    zone = _zone(timezone)
    source = _checked_path(path)
    sha256 = _sha256_of_text_file(source)
    shape, columns = _read_header(source)
    _finish_open_transaction(conn)
    with conn.transaction():
        ensure_raw_tables(conn)
        # One load at a time: two loads of one file, or of overlapping ids, would race otherwise.
        conn.execute(_LOCK_LOADS)
        previous = _loads_with_hash(conn, sha256)
        if previous and not force:
            return _skipped(conn, source, previous[0], sha256, timezone)
        replaced = _delete_loads(conn, sha256) if previous else []
        warnings = _same_path_warnings(conn, source, sha256)
        load_id = _insert_load(conn, source, sha256, shape, timezone, force)
        writer = _BatchWriter(conn, load_id, str(source), shape, columns)
        parser = (
            _counts_parser(columns, zone) if shape == "counts" else _events_parser(columns, zone)
        )
        _stream(source, sha256, len(columns), parser, writer)
        writer.flush()
        _record_totals(conn, load_id, writer)
    return LoadSummary(
        load_id=load_id,
        path=source,
        input_shape=shape,
        rows_loaded=writer.loaded,
        rows_rejected=writer.rejected,
        first_rejects=sorted(writer.first_rejects),
        timezone=timezone,
        forced=force,
        replaced_load_ids=replaced,
        warnings=warnings,
        file_sha256=sha256,
        seconds=time.monotonic() - started,
    )


# --- checks made before anything is written -------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise LoadError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'America/Sao_Paulo'"
        ) from None


def _checked_path(path: str | os.PathLike[str]) -> Path:
    source = Path(path).expanduser().resolve()
    try:
        if not source.exists():
            raise LoadError(f"{source} does not exist")
        if source.is_dir():
            raise LoadError(f"{source} is a directory, not a CSV file")
        if not source.is_file():  # a device or a pipe could be endless
            raise LoadError(f"{source} is not a regular file")
    except OSError as error:
        raise LoadError(f"{source} cannot be read: {error.strerror or error}") from error
    if not os.access(source, os.R_OK):
        raise LoadError(f"{source} cannot be read: permission denied")
    return source


def _read_lines(source: Path) -> Iterator[bytes]:
    """The lines the loading pass reads; the checks before it use `_physical_lines` directly."""
    return _physical_lines(source)


def _physical_lines(source: Path) -> Iterator[bytes]:
    """The file's physical lines, as bytes with their line ends (streamed, never all at once)."""
    try:
        with source.open("rb") as handle:
            yield from handle
    except OSError as error:
        raise LoadError(f"{source} cannot be read: {error.strerror or error}") from error


def _sha256_of_text_file(source: Path) -> str:
    """The content hash; also refuses files that are empty or not UTF-8 before any write."""
    digest = hashlib.sha256()
    has_text = False
    try:
        with source.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                digest.update(chunk)
                has_text = has_text or bool(chunk.strip())
    except OSError as error:
        raise LoadError(f"{source} cannot be read: {error.strerror or error}") from error
    if not has_text:
        raise LoadError(f"{source} is empty; {EXPECTED_HEADERS} as its first line")
    bad_line = _first_non_utf8_line(source)
    if bad_line is not None:
        raise LoadError(
            f"{source} is not UTF-8 text (invalid bytes on line {bad_line}); "
            "is it a binary or compressed file? Save it as a UTF-8 CSV"
        )
    return digest.hexdigest()


def _first_non_utf8_line(source: Path) -> int | None:
    for number, line in enumerate(_physical_lines(source), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def _read_header(source: Path) -> tuple[str, dict[str, int]]:
    """The input shape and each column's position, from the first line."""
    first = next(_physical_lines(source), b"")
    text = _decode(first).removeprefix("\ufeff")  # a BOM, as spreadsheet exports write
    if "\x00" in text:
        raise LoadError(f"{source} is not UTF-8 text (NUL bytes in line 1); is it UTF-16?")
    if not text.strip():
        raise LoadError(f"{source} has a blank first line; {EXPECTED_HEADERS} as line 1")
    try:
        names = [name.strip().lower() for name in _split(text)]
    except _Reject as reject:
        raise LoadError(f"{source} has an unreadable header: {reject}") from None
    return _shape_of(source, text, names)


def _shape_of(source: Path, text: str, names: list[str]) -> tuple[str, dict[str, int]]:
    columns = {name: position for position, name in enumerate(names)}
    shown = _show(text.strip(), 120)
    if len(columns) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise LoadError(f"{source}: header {shown} names {', '.join(twice)} more than once")
    if set(names) == set(COUNTS_COLUMNS):
        return "counts", columns
    allowed = set(EVENTS_REQUIRED) | set(EVENTS_OPTIONAL)
    if set(EVENTS_REQUIRED) <= set(names) <= allowed:
        return "events", columns
    if names and _TIMESTAMP.fullmatch(names[0].upper()):
        raise LoadError(f"{source} has no header line (line 1 looks like data); {EXPECTED_HEADERS}")
    # Say what is wrong relative to the shape the header most resembles.
    looks_like_events = bool(set(names) & {"transaction_id", "created_at", "amount"})
    expected = set(EVENTS_REQUIRED) if looks_like_events else set(COUNTS_COLUMNS)
    known = allowed if looks_like_events else set(COUNTS_COLUMNS)
    problems = []
    if missing := [name for name in sorted(expected) if name not in columns]:
        problems.append(f"missing {', '.join(missing)}")
    if unknown := [name for name in names if name not in known]:
        problems.append(f"unknown column(s) {', '.join(_show(name, 40) for name in unknown)}")
    raise LoadError(
        f"{source}: unrecognised header {shown} ({'; '.join(problems)}); {EXPECTED_HEADERS}"
    )


def _finish_open_transaction(conn: psycopg.Connection) -> None:
    # connect() leaves a transaction open; commit it so conn.transaction() below is a real
    # transaction that commits the load, not a savepoint the caller could still roll back.
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.INTRANS:
        conn.commit()


# --- the loads table ----------------------------------------------------------------------


def _loads_with_hash(conn: psycopg.Connection, sha256: str) -> list[int]:
    rows = conn.execute(
        "select load_id from txmon_raw.loads where file_sha256 = %s order by load_id", (sha256,)
    ).fetchall()
    return [row[0] for row in rows]


def _skipped(
    conn: psycopg.Connection, source: Path, load_id: int, sha256: str, timezone: str
) -> LoadSummary:
    row = conn.execute(
        "select input_shape from txmon_raw.loads where load_id = %s", (load_id,)
    ).fetchone()
    shape = row[0] if row else ""
    return LoadSummary(
        load_id, source, shape, 0, 0, skipped=True, timezone=timezone, file_sha256=sha256
    )


def _delete_loads(conn: psycopg.Connection, sha256: str) -> list[int]:
    # The data rows and rejects of those loads go with them (on delete cascade).
    rows = conn.execute(
        "delete from txmon_raw.loads where file_sha256 = %s returning load_id", (sha256,)
    ).fetchall()
    return sorted(row[0] for row in rows)


def _same_path_warnings(conn: psycopg.Connection, source: Path, sha256: str) -> list[str]:
    # An edited file has a new hash; its rows add to the old load's rather than replacing them.
    rows = conn.execute(
        "select load_id from txmon_raw.loads where file_name = %s and file_sha256 <> %s"
        " order by load_id",
        (str(source), sha256),
    ).fetchall()
    if not rows:
        return []
    earlier = ", ".join(str(row[0]) for row in rows)
    return [
        f"Note: load(s) {earlier} came from the same path with different content and are kept; "
        "counts from both add up."
    ]


def _insert_load(
    conn: psycopg.Connection, source: Path, sha256: str, shape: str, timezone: str, force: bool
) -> int:
    row = conn.execute(
        "insert into txmon_raw.loads (file_name, file_sha256, input_shape, source_timezone,"
        " is_forced) values (%s, %s, %s, %s, %s) returning load_id",
        (str(source), sha256, shape, timezone, force),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _record_totals(conn: psycopg.Connection, load_id: int, writer: _BatchWriter) -> None:
    conn.execute(
        "update txmon_raw.loads set rows_loaded = %s, rows_rejected = %s where load_id = %s",
        (writer.loaded, writer.rejected, load_id),
    )


# --- reading and validating data lines ----------------------------------------------------


def _stream(source: Path, sha256: str, width: int, parser: RowParser, writer: _BatchWriter) -> None:
    """Validate every data line and hand it to the writer as a row or as a reject."""
    digest = hashlib.sha256()
    lines = _read_lines(source)
    digest.update(next(lines, b""))  # the header, already understood
    for number, raw in enumerate(lines, start=2):
        digest.update(raw)
        text = _decode(raw)
        if not text.strip():
            continue  # blank lines (often the last one) carry no data
        try:
            writer.add(number, text, _parse_line(text, width, parser))
        except _Reject as reject:
            writer.reject(number, text, str(reject))
    if digest.hexdigest() != sha256:
        raise LoadError(f"{source} changed while it was being loaded; nothing was written")


def _decode(raw: bytes) -> str:
    # The whole file was checked as UTF-8 already; only the line end is removed here.
    return raw.decode("utf-8").rstrip("\r\n")


def _parse_line(text: str, width: int, parser: RowParser) -> Row:
    if "\x00" in text:
        raise _Reject("line contains NUL bytes")
    if len(text) > MAX_LINE_CHARS:
        raise _Reject(f"line is {len(text):,} characters long, more than {MAX_LINE_CHARS:,}")
    if control := _CONTROL.search(text):
        raise _Reject(f"line contains control character U+{ord(control.group()):04X}")
    fields = _split(text)
    if len(fields) != width:
        raise _Reject(f"expected {width} columns, got {len(fields)}")
    return parser(fields)


def _split(text: str) -> list[str]:
    # Plain lines take the fast path; quoted fields go through the csv module, one line at a
    # time so an unclosed quote rejects its own line instead of swallowing the lines after it.
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as error:
        raise _Reject(f"malformed CSV quoting: {error}") from None


def _counts_parser(columns: dict[str, int], zone: ZoneInfo) -> RowParser:
    at, status, count = (columns[name] for name in COUNTS_COLUMNS)

    def parse(fields: list[str]) -> Row:
        return (
            parse_timestamp(fields[at], zone),
            parse_status(fields[status]),
            parse_count(fields[count]),
        )

    return parse


def _events_parser(columns: dict[str, int], zone: ZoneInfo) -> RowParser:
    tx_id, created, status, amount = (columns[name] for name in EVENTS_REQUIRED)
    optional = [(name, columns.get(name)) for name in EVENTS_OPTIONAL]

    def parse(fields: list[str]) -> Row:
        required = (
            parse_transaction_id(fields[tx_id]),
            parse_timestamp(fields[created], zone),
            parse_status(fields[status]),
            parse_amount(fields[amount]),
        )
        extra = tuple(
            parse_optional(name, fields[at] if at is not None else "") for name, at in optional
        )
        return required + extra

    return parse


# --- field rules: one per column, shared by the CSV loader and the HTTP API ------------------
# Each takes the field's text and returns the value to store, or raises InvalidValue.


def parse_timestamp(text: str, zone: ZoneInfo = UTC_ZONE) -> datetime:
    """An ISO 8601 timestamp (minutes at least, optional seconds, fraction and offset) as an
    aware UTC datetime; one without an offset is wall-clock time in `zone`."""
    return _timestamp(text.strip(), zone)


@lru_cache(maxsize=8192)  # counts files repeat each minute once per status
def _timestamp(text: str, zone: ZoneInfo) -> datetime:
    if not _TIMESTAMP.fullmatch(text.upper()):
        raise _Reject(f"unparseable timestamp {_show(text)}" if text else "empty timestamp")
    try:
        value = datetime.fromisoformat(text.upper())
    except ValueError:
        raise _Reject(f"unparseable timestamp {_show(text)}") from None
    offset = value.utcoffset()
    if offset is None:
        return _localise(value, zone, text)
    if abs(offset) > MAX_OFFSET:
        raise _Reject(f"unparseable timestamp {_show(text)} (offset beyond ±14:00)")
    return _to_utc(value, text)


def _localise(naive: datetime, zone: ZoneInfo, text: str) -> datetime:
    """A wall-clock time in `zone` as UTC; times a DST change skips or repeats are refused."""
    early, late = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        round_trip = _to_utc(early, text).astimezone(zone).replace(tzinfo=None)
        what = "does not exist" if round_trip != naive else "happens twice"
        raise _Reject(
            f"local time {_show(text)} {what} in {zone.key} (daylight-saving change); "
            "give it a UTC offset"
        )
    return _to_utc(early, text)


def _to_utc(value: datetime, text: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _Reject(f"timestamp {_show(text)} is out of range") from None


def parse_status(text: str) -> str:
    """A status, trimmed and lower-cased: letters, digits, '_', '-', '.' and ' ' only."""
    value = text.strip().lower()
    if not value:
        raise _Reject("empty status")
    if len(value) > MAX_STATUS_CHARS:
        raise _Reject(f"status is longer than {MAX_STATUS_CHARS} characters")
    if not _STATUS.fullmatch(value):
        raise _Reject(
            f"status {_show(text.strip())} has characters other than letters, digits, "
            "'_', '-', '.' and ' '"
        )
    return value


def parse_count(text: str) -> int:
    """A transaction count: a non-negative integer that fits a bigint."""
    value = text.strip()
    if not value:
        raise _Reject("empty count")
    return _non_negative_int("count", value, BIGINT_MAX)


def _non_negative_int(name: str, value: str, maximum: int) -> int:
    if not (value.isascii() and value.isdigit()):
        raise _Reject(f"{name} must be a non-negative integer, got {_show(value)}")
    # Check the length first: int() refuses strings of more than 4,300 digits.
    if len(value.lstrip("0")) > len(str(maximum)) or int(value) > maximum:
        raise _Reject(f"{name} {_show(value)} is larger than the maximum {maximum:,}")
    return int(value)


def parse_transaction_id(text: str) -> str:
    """A transaction id: trimmed, not empty, at most MAX_ID_CHARS characters of text."""
    value = text.strip()
    if not value:
        raise _Reject("empty transaction_id")
    if len(value) > MAX_ID_CHARS:
        raise _Reject(f"transaction_id is longer than {MAX_ID_CHARS} characters")
    _check_text("transaction_id", value)
    return value


def parse_amount(text: str) -> Decimal:
    """An amount: a plain decimal number (no exponent), at most 2 decimal places and 16 digits
    before the point."""
    value = text.strip()
    if not _AMOUNT.fullmatch(value):
        raise _Reject(f"amount must be a decimal number, got {_show(value)}")
    try:
        amount = Decimal(value)
        if abs(amount) >= MAX_AMOUNT:
            raise _Reject(
                f"amount {_show(value)} is too large (at most 16 digits before the point)"
            )
        if amount != amount.quantize(CENT):
            raise _Reject(f"amount {_show(value)} has more than 2 decimal places")
    except InvalidOperation:
        raise _Reject(f"amount must be a decimal number, got {_show(value)}") from None
    return amount


def parse_optional(name: str, text: str) -> str | int | None:
    """One of EVENTS_OPTIONAL: empty is None; duration_ms is a non-negative integer, the others
    text of at most MAX_TEXT_CHARS characters."""
    value = text.strip()
    if not value:
        return None
    if name == "duration_ms":
        return _non_negative_int(name, value, INTEGER_MAX)
    if len(value) > MAX_TEXT_CHARS:
        raise _Reject(f"{name} is longer than {MAX_TEXT_CHARS} characters")
    _check_text(name, value)
    return value


def _check_text(name: str, value: str) -> None:
    # A CSV line with a control character is rejected whole before its fields are read; this
    # gives a single field (an API item) the same rule.
    if control := _CONTROL.search(value):
        raise _Reject(f"{name} contains control character U+{ord(control.group()):04X}")
    if surrogate := _SURROGATE.search(value):
        raise _Reject(
            f"{name} contains an unpaired surrogate U+{ord(surrogate.group()):04X} (not text)"
        )


def _show(value: str, limit: int = 60) -> str:
    """A value quoted for a reason, cut short so a hostile value cannot flood the message."""
    return "'" + (value if len(value) <= limit else value[:limit] + "...") + "'"


# --- writing ------------------------------------------------------------------------------


class _BatchWriter:
    """Collects valid rows and rejects and writes them with COPY, one batch at a time."""

    def __init__(
        self,
        conn: psycopg.Connection,
        load_id: int,
        file_name: str,
        shape: str,
        columns: dict[str, int],
    ) -> None:
        self.conn, self.load_id, self.file_name, self.shape = conn, load_id, file_name, shape
        self.header = list(columns)
        self.rows: list[Row] = []
        self.raw_lines: list[str] = []  # kept per batch in case a row turns out to be a reject
        self.rejects: list[Row] = []
        self.first_seen: dict[str, int] = {}  # transaction_id -> line, across the whole file
        self.loaded = 0
        self.rejected = 0
        self.first_rejects: list[tuple[int, str]] = []

    def add(self, line_number: int, text: str, values: Row) -> None:
        if self.shape == "events":
            first = self.first_seen.setdefault(values[0], line_number)
            if first != line_number:
                reason = f"duplicate transaction_id {values[0]} (first on line {first})"
                self.reject(line_number, text, reason)
                return
        self.rows.append((*values, self.load_id, line_number))
        self.raw_lines.append(text)
        self._flush_when_full()

    def reject(self, line_number: int, text: str, reason: str) -> None:
        self._record_reject(line_number, text, reason)
        self._flush_when_full()

    def _flush_when_full(self) -> None:
        if len(self.rows) + len(self.rejects) >= BATCH_ROWS:
            self.flush()

    def _record_reject(self, line_number: int, text: str, reason: str) -> None:
        if reason.startswith("unparseable timestamp") and self._is_header(text):
            reason = "repeated header line"
        raw = text.replace("\x00", "")[:RAW_LINE_CHARS]  # PostgreSQL text cannot hold NUL
        self.rejects.append((self.load_id, self.file_name, line_number, raw, reason[:500]))
        self.rejected += 1
        if len(self.first_rejects) < FIRST_REJECTS:
            self.first_rejects.append((line_number, reason))

    def flush(self) -> None:
        if self.shape == "events" and self.rows:
            self._reject_loaded_ids()
        table_sql = _COPY_COUNTS if self.shape == "counts" else _COPY_EVENTS
        self._copy(table_sql, self.rows)
        self.loaded += len(self.rows)
        self.rows, self.raw_lines = [], []
        self._copy(_COPY_REJECTS, self.rejects)
        self.rejects = []

    def _reject_loaded_ids(self) -> None:
        # transaction_id is the primary key: ids from earlier loads become rejects, not errors.
        ids = [row[0] for row in self.rows]
        loaded_by = dict(
            self.conn.execute(
                "select transaction_id, load_id from txmon_raw.transactions"
                " where transaction_id = any(%s)",
                (ids,),
            ).fetchall()
        )
        if not loaded_by:
            return
        kept_rows, kept_lines = [], []
        for row, text in zip(self.rows, self.raw_lines, strict=True):
            if row[0] in loaded_by:
                load = loaded_by[row[0]]
                by = f"load {load}" if load is not None else "outside txmon load"
                reason = f"transaction_id {row[0]} already loaded ({by})"
                self._record_reject(row[-1], text, reason)
            else:
                kept_rows.append(row)
                kept_lines.append(text)
        self.rows, self.raw_lines = kept_rows, kept_lines

    def _copy(self, statement: str, rows: list[Row]) -> None:
        if not rows:
            return
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _is_header(self, text: str) -> bool:
        try:
            return [name.strip().lower() for name in _split(text)] == self.header
        except _Reject:
            return False
