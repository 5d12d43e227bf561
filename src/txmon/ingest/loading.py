"""Load a CSV of per-minute counts or of single transactions into the raw tables.

A load is one transaction: the `txmon_raw.loads` row, every valid data row and every rejected
line with its reason are committed together or not at all. The file's SHA-256 makes loading the
same content twice a no-op, and `force=True` replaces the earlier load instead of adding to it.

Reading is linear whatever the line ends (LF, CRLF, CR or a mix): the file is read in chunks
and split on each of them without re-scanning. Time sanity (`TimeSanity`) refuses rows far
ahead of the clock or so far from the other data that the minute grid would span a long gap.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.pq import TransactionStatus

from txmon.core.config import Ingest
from txmon.core.errors import LoadError
from txmon.db.connection import ensure_raw_tables

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
# A line longer than this is kept only this far (its reject shows the start); memory stays
# bounded even for a file with no line end at all.
MAX_LINE_BYTES = 1 << 20
FIRST_YEAR, LAST_YEAR = 1970, 2099

# The timestamp rule as a regular expression that both Python and JSON Schema (ECMA-262) read
# the same way: the API publishes it in its OpenAPI schema, so what the schema calls valid is
# exactly what the loader accepts. Real calendar dates only (leap years included), years
# FIRST_YEAR to LAST_YEAR, hours 00-23, offsets up to ±14:00 (MAX_OFFSET).
_YEAR = r"(?:19[7-9][0-9]|20[0-9]{2})"
_LEAP_YEAR = r"(?:19(?:7[26]|8[048]|9[26])|20(?:[02468][048]|[13579][26]))"
_DATE = (
    rf"(?:{_YEAR}-(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    rf"|{_YEAR}-(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    rf"|{_YEAR}-02-(?:0[1-9]|1[0-9]|2[0-8])"
    rf"|{_LEAP_YEAR}-02-29)"
)
_CLOCK = r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:[Zz]|[+-](?:(?:0[0-9]|1[0-3])(?::?[0-5][0-9])?|14(?::?00)?))?"
TIMESTAMP_PATTERN = _DATE + _CLOCK + _OFFSET
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
# The shape of a timestamp, before its values are judged: tells "not a time" from "a time out
# of range" in reasons, and data from a header in line 1.
_TIMESTAMP_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII | re.IGNORECASE,
)
_STATUS = re.compile(r"[\w.\- ]+")  # \w: letters and digits of any script, and '_'
# The API's schema for a status, a subset of the rule above that every JSON Schema engine reads
# alike (ECMA-262 \w is ASCII only; lower-casing some non-ASCII letters changes them).
STATUS_SCHEMA_PATTERN = r"^[A-Za-z0-9_. -]*[A-Za-z0-9_.-][A-Za-z0-9_. -]*$"
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# C0 and C1 control characters except tab; PostgreSQL text cannot hold NUL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The same rules for the API's schema: text without those characters (tab allowed); an id also
# needs a character that is not white space (ids are trimmed). Lone surrogates, refused below,
# stay out of the patterns: no JSON Schema engine compiles them, and no generator draws them.
_TEXT_CHARACTER = r"[^\u0000-\u0008\u000a-\u001f\u007f-\u009f]"
_VISIBLE_CHARACTER = r"[^\s\u0000-\u0008\u000a-\u001f\u007f-\u009f]"
TEXT_SCHEMA_PATTERN = rf"^{_TEXT_CHARACTER}*$"
ID_SCHEMA_PATTERN = rf"^{_TEXT_CHARACTER}*{_VISIBLE_CHARACTER}{_TEXT_CHARACTER}*$"
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
    first_minute_at: datetime | None = None
    last_minute_at: datetime | None = None
    # Other loads whose rows fall in minutes this load also filled: (load_id or None for rows
    # written outside `txmon load`, number of shared minutes).
    overlaps: list[tuple[int | None, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return format_summary(self)

    @property
    def overlap_warning(self) -> str | None:
        """One line saying which loads this one adds up with and how to replace one."""
        if not self.overlaps:
            return None
        ids = [load_id for load_id, _ in self.overlaps if load_id is not None]
        others = []
        if ids:
            others.append(f"load(s) {', '.join(str(load_id) for load_id in ids)}")
        if any(load_id is None for load_id, _ in self.overlaps):
            others.append("rows written outside txmon load (POST /transactions or SQL)")
        minutes = sum(count for _, count in self.overlaps)
        example = ids[0] if ids else "ID"
        return (
            f"{self.path} (load {self.load_id}) fills {minutes:,} minute(s) that "
            f"{' and '.join(others)} already filled, so their counts add up; to replace a load, "
            f"`txmon loads remove {example}` and load again (or `txmon load --force` the same "
            "file)"
        )


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
    the rejected line; the HTTP API (txmon.serve.api) returns it per item, so both apply one set of
    rules with one wording.
    """


_Reject = InvalidValue  # the name the line-level checks below use


def load_file(
    conn: psycopg.Connection,
    path: str | os.PathLike[str],
    *,
    timezone: str = "UTC",
    force: bool = False,
    ingest: Ingest | None = None,
) -> LoadSummary:
    """Load one CSV file in one transaction and return what happened.

    The load is committed when this returns: a transaction the caller left open (connect()
    opens one to set the session time zone) is committed first so the load stands on its own.
    Any error rolls back everything the load wrote. `ingest` holds the time-sanity settings
    (the [ingest] section of the settings file; its defaults when None).
    """
    started = time.monotonic()
    zone = _zone(timezone)
    source = _checked_path(path)
    sha256 = _inspect(source)
    shape, columns = _read_header(source)
    _finish_open_transaction(conn)
    with conn.transaction():
        ensure_raw_tables(conn)
        # One load at a time: two loads of one file, or of overlapping ids, would race otherwise.
        conn.execute(_LOCK_LOADS)
        previous = _loads_with_hash(conn, sha256)
        if previous and not force:
            return _skipped(conn, source, previous[0], sha256, timezone)
        replaced = _remove(conn, previous) if previous else []
        warnings = _same_path_warnings(conn, source, sha256)
        load_id = _insert_load(conn, source, sha256, shape, timezone, force)
        sanity = TimeSanity(conn, ingest or Ingest())
        writer = _BatchWriter(conn, load_id, str(source), shape, columns, sanity)
        parser = (
            _counts_parser(columns, zone) if shape == "counts" else _events_parser(columns, zone)
        )
        _stream(source, sha256, len(columns), parser, writer)
        writer.flush()
        _record_totals(conn, load_id, writer)
        overlaps = _overlaps(conn, load_id, writer.first_at, writer.last_at)
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
        first_minute_at=_minute(writer.first_at),
        last_minute_at=_minute(writer.last_at),
        overlaps=overlaps,
    )


def _minute(at: datetime | None) -> datetime | None:
    return at.replace(second=0, microsecond=0) if at is not None else None


# --- time sanity: one rule for files and API batches ----------------------------------------


class TimeSanity:
    """Refuses timestamps that would break or bloat the minute grid the models build.

    A time is refused when it is more than `future_horizon_minutes` after the clock (the
    database's), or when it lies more than `max_gap_days` outside the span of the data: the
    minutes already in the raw tables plus the rows of the same file or batch accepted before
    it. A time inside that span, or close enough to it, is accepted and widens the span, so no
    accepted row ever opens a gap longer than the limit. Rows are judged in their order in the
    input; in an empty database the first valid row starts the span. The state is two
    timestamps, so a file of any size is judged in one pass in constant memory.
    """

    AHEAD = "ahead_of_clock"
    GAP = "gap_too_long"

    def __init__(self, conn: psycopg.Connection, rules: Ingest) -> None:
        row = conn.execute(
            "select clock_timestamp(),"
            " (select min(observed_at) from txmon_raw.transaction_counts),"
            " (select max(observed_at) from txmon_raw.transaction_counts),"
            " (select min(created_at) from txmon_raw.transactions),"
            " (select max(created_at) from txmon_raw.transactions)"
        ).fetchone()
        assert row is not None
        now, *ends = row
        self.horizon = timedelta(minutes=rules.future_horizon_minutes)
        self.max_gap = timedelta(days=rules.max_gap_days)
        self.latest_allowed: datetime = now + self.horizon
        self.now: datetime = now
        stored = [at for at in ends if at is not None]
        self.low: datetime | None = min(stored) if stored else None
        self.high: datetime | None = max(stored) if stored else None

    def accepts_all(self, earliest: datetime, latest: datetime) -> bool:
        """Whether every time in [earliest, latest] is acceptable now; if so, the span takes
        them in. Judging them one by one would accept them all too, since the span only grows:
        a batch inside the span (the usual case) costs two comparisons, not one per row."""
        if self.low is None or self.high is None or latest > self.latest_allowed:
            return False
        if earliest < self.low - self.max_gap or latest > self.high + self.max_gap:
            return False
        self.low, self.high = min(self.low, earliest), max(self.high, latest)
        return True

    def judge(self, at: datetime) -> tuple[str, str] | None:
        """None when `at` is acceptable (the span then includes it), else (code, reason)."""
        if at > self.latest_allowed:
            return self.AHEAD, (
                f"timestamp {_utc_text(at)} is {_duration(at - self.now)} ahead of the clock "
                f"({_utc_text(self.now)}); at most {self.horizon.total_seconds() / 60:,.0f} "
                "minute(s) ahead are accepted ([ingest] future_horizon_minutes)"
            )
        if self.low is None or self.high is None:
            self.low = self.high = at
            return None
        if at < self.low - self.max_gap:
            return self.GAP, self._gap_reason(at, self.low - at, "before the oldest")
        if at > self.high + self.max_gap:
            return self.GAP, self._gap_reason(at, at - self.high, "after the newest")
        self.low, self.high = min(self.low, at), max(self.high, at)
        return None

    def _gap_reason(self, at: datetime, gap: timedelta, where: str) -> str:
        edge = self.low if where.endswith("oldest") else self.high
        assert edge is not None
        return (
            f"timestamp {_utc_text(at)} is {_duration(gap)} {where} data ({_utc_text(edge)}): "
            f"a gap of more than {self.max_gap.days} day(s) is refused ([ingest] max_gap_days)"
        )


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes >= 2 * 1440:
        return f"{minutes / 1440:,.1f} days"
    if minutes >= 120:
        return f"{minutes / 60:,.1f} hours"
    return f"{minutes:,.0f} minute(s)"


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


def _read_chunks(source: Path) -> Iterator[bytes]:
    """The file's bytes in chunks of READ_CHUNK (streamed, never all at once)."""
    try:
        with source.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk
    except OSError as error:
        raise LoadError(f"{source} cannot be read: {error.strerror or error}") from error


def split_lines(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, int]]:
    """Physical lines of a byte stream, ended by CRLF, CR or LF in any mix, without their end.

    Yields (line, length in bytes). Linear: each chunk is split once in C, and a line that
    spans chunks is joined once. A line longer than MAX_LINE_BYTES is kept only that far
    (`length` still tells its true size), so memory stays bounded.
    """
    pending: list[bytes] = []  # the start of a line whose end is in a later chunk
    kept = length = 0
    after_cr = False  # the last chunk ended with CR: a LF starting this one belongs to it
    for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            if length:
                pending.append(part[: max(0, MAX_LINE_BYTES - kept)])
                yield b"".join(pending), length + len(part)
                pending, kept, length = [], 0, 0
            else:
                yield part[:MAX_LINE_BYTES], len(part)
        tail = parts[-1]
        if tail:
            if kept < MAX_LINE_BYTES:
                pending.append(tail[: MAX_LINE_BYTES - kept])
                kept += len(pending[-1])
            length += len(tail)
    if length:
        yield b"".join(pending), length


# Leading bytes of file formats people mistake for CSV, to name the real cause.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first (gunzip)"),
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook: export or extract the CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls (or other Office) file: save it as CSV UTF-8"),
    (b"BZh", "a bzip2-compressed file: decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file: decompress it first (unxz)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file: decompress it first (unzstd)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract the CSV first"),
    (b"PAR1", "a Parquet file, not CSV text"),
    (b"SQLite format 3\x00", "an SQLite database, not CSV text"),
    (b"%PDF", "a PDF document, not CSV text"),
    (b"\x89PNG", "a PNG image, not CSV text"),
    (b"\xff\xd8\xff", "a JPEG image, not CSV text"),
    (b"\x7fELF", "an executable program, not CSV text"),
    (b"\x00\x00\xfe\xff", "UTF-32 text: save it as UTF-8"),
    (b"\xff\xfe\x00\x00", "UTF-32 text: save it as UTF-8"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)


def _inspect(source: Path) -> str:
    """The content hash, after the whole-file checks that refuse a file before any write:
    empty, a known binary format, UTF-16, NUL bytes in the header line, or not UTF-8 (with
    the line of the first invalid byte). One linear pass in chunks."""
    digest = hashlib.sha256()
    has_text = False
    first = True
    lines = 0  # line ends seen before the current chunk
    after_cr = False
    leftover = b""  # the start of a UTF-8 sequence cut by the chunk boundary
    for chunk in _read_chunks(source):
        digest.update(chunk)
        if first:
            _check_magic(source, chunk)
            first = False
        has_text = has_text or bool(chunk.strip())
        data = leftover + chunk
        try:
            _, used = codecs.utf_8_decode(data, "strict", False)
        except UnicodeDecodeError as error:
            line = lines + _line_ends(data[: error.start], after_cr and not leftover) + 1
            bad = data[error.start]
            raise LoadError(
                f"{source} is not UTF-8 text: invalid byte 0x{bad:02X} on line {line}"
                f"{_binary_hint(chunk)}; save it as UTF-8 (CSV UTF-8 in spreadsheets)"
            ) from None
        leftover = data[used:]
        lines += _line_ends(chunk, after_cr)
        after_cr = chunk.endswith(b"\r")
    if leftover:
        raise LoadError(f"{source} is not UTF-8 text: it ends inside a multi-byte character")
    if not has_text:
        raise LoadError(f"{source} is empty; {EXPECTED_HEADERS} as its first line")
    return digest.hexdigest()


def _check_magic(source: Path, first_chunk: bytes) -> None:
    for magic, what in _MAGIC:
        if first_chunk.startswith(magic):
            raise LoadError(f"{source} is {what}")


def _line_ends(data: bytes, after_cr: bool) -> int:
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends - 1 if after_cr and data.startswith(b"\n") else ends


def _binary_hint(chunk: bytes) -> str:
    sample = chunk[:8192]
    if b"\x00" in sample:
        return " (NUL bytes: a binary file or UTF-16 text?)"
    controls = sum(byte < 9 or 13 < byte < 32 for byte in sample)
    if controls > len(sample) // 100:
        return " (it looks like a binary file)"
    return " (Latin-1 or Windows-1252 text?)"


def _read_header(source: Path) -> tuple[str, dict[str, int]]:
    """The input shape and each column's position, from the first line."""
    first, length = next(split_lines(_read_chunks(source)), (b"", 0))
    if length > MAX_LINE_CHARS:
        raise LoadError(
            f"{source}: its first line is {length:,} bytes long, no CSV header; "
            f"{EXPECTED_HEADERS} as line 1"
        )
    text = first.decode("utf-8").removeprefix("\ufeff")  # a BOM, as spreadsheet exports write
    if "\x00" in text:
        raise LoadError(
            f"{source} is not UTF-8 text (NUL bytes in line 1): a binary file or UTF-16 text?"
        )
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
    if names and _TIMESTAMP_SHAPE.fullmatch(names[0]):
        raise LoadError(f"{source} has no header line (line 1 looks like data); {EXPECTED_HEADERS}")
    if len(columns) != len(names):
        twice = sorted(name for name, seen in Counter(names).items() if seen > 1)
        raise LoadError(
            f"{source}: header {shown} names {', '.join(_show(name, 40) for name in twice[:5])}"
            " more than once"
        )
    if set(names) == set(COUNTS_COLUMNS):
        return "counts", columns
    allowed = set(EVENTS_REQUIRED) | set(EVENTS_OPTIONAL)
    if set(EVENTS_REQUIRED) <= set(names) <= allowed:
        return "events", columns
    # Say what is wrong relative to the shape the header most resembles.
    looks_like_events = bool(set(names) & {"transaction_id", "created_at", "amount"})
    expected = set(EVENTS_REQUIRED) if looks_like_events else set(COUNTS_COLUMNS)
    known = allowed if looks_like_events else set(COUNTS_COLUMNS)
    problems = []
    if missing := [name for name in sorted(expected) if name not in columns]:
        problems.append(f"missing {', '.join(missing)}")
    if unknown := [name for name in names if name not in known]:
        shown_unknown = ", ".join(_show(name, 40) for name in unknown[:5])
        more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
        problems.append(f"unknown column(s) {shown_unknown}{more}")
    raise LoadError(
        f"{source}: unrecognised header {shown} ({'; '.join(problems)}); {EXPECTED_HEADERS}"
    )


def _finish_open_transaction(conn: psycopg.Connection) -> None:
    # connect() leaves a transaction open; commit it so conn.transaction() below is a real
    # transaction that commits the load, not a savepoint the caller could still roll back.
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.INTRANS:
        conn.commit()


# --- the loads table ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadInfo:
    """One row of `txmon loads list`."""

    load_id: int
    file_name: str
    input_shape: str
    rows_loaded: int
    rows_rejected: int
    first_minute_at: datetime | None
    last_minute_at: datetime | None
    loaded_at: datetime
    is_forced: bool


# Minute ranges are stored with each load; loads made before that are measured on the fly.
_LOADS = """
    select load_id, file_name, input_shape, rows_loaded, rows_rejected,
        coalesce(first_minute_at, date_trunc('minute', least(
            (select min(observed_at) from txmon_raw.transaction_counts as c
             where c.load_id = l.load_id),
            (select min(created_at) from txmon_raw.transactions as t
             where t.load_id = l.load_id)))),
        coalesce(last_minute_at, date_trunc('minute', greatest(
            (select max(observed_at) from txmon_raw.transaction_counts as c
             where c.load_id = l.load_id),
            (select max(created_at) from txmon_raw.transactions as t
             where t.load_id = l.load_id)))),
        loaded_at, is_forced
    from txmon_raw.loads l
"""


def list_loads(conn: psycopg.Connection) -> list[LoadInfo]:
    """Every load, oldest first."""
    ensure_raw_tables(conn)
    rows = conn.execute(_LOADS + " order by load_id").fetchall()
    return [LoadInfo(*row) for row in rows]


def remove_loads(conn: psycopg.Connection, load_ids: Sequence[int]) -> list[LoadInfo]:
    """Delete these loads with their rows and rejects, in one transaction, and record the
    minutes they covered in txmon_raw.load_removals so a build can judge them again. An id
    that is not a load is an error and nothing is removed."""
    wanted = sorted(set(load_ids))
    _finish_open_transaction(conn)
    with conn.transaction():
        ensure_raw_tables(conn)
        conn.execute(_LOCK_LOADS)
        found = [
            LoadInfo(*row)
            for row in conn.execute(
                _LOADS + " where load_id = any(%s) order by load_id", (wanted,)
            ).fetchall()
        ]
        unknown = sorted(set(wanted) - {load.load_id for load in found})
        if unknown:
            raise LoadError(
                f"no load {', '.join(str(load_id) for load_id in unknown)}; nothing was removed "
                "(`txmon loads list` shows the loads)"
            )
        _remove(conn, wanted)
    return found


def _remove(conn: psycopg.Connection, load_ids: list[int]) -> list[int]:
    """Delete loads, their rows and rejects, recording the minutes they covered."""
    conn.execute(
        "insert into txmon_raw.load_removals (load_id, first_minute_at, last_minute_at)"
        f" select load_id, first_at, last_at from ({_LOADS}) as loads"
        "  (load_id, file_name, input_shape, rows_loaded, rows_rejected, first_at, last_at,"
        "   loaded_at, is_forced)"
        " where load_id = any(%s) on conflict (load_id) do nothing",
        (load_ids,),
    )
    # Explicit deletes rather than only the foreign keys' cascade: the data tables stay
    # correct whatever constraints a partitioned layout keeps.
    for table in ("transaction_counts", "transactions", "load_rejects"):
        conn.execute(f"delete from txmon_raw.{table} where load_id = any(%s)", (load_ids,))
    rows = conn.execute(
        "delete from txmon_raw.loads where load_id = any(%s) returning load_id", (load_ids,)
    ).fetchall()
    return sorted(row[0] for row in rows)


def loads_table(loads: Sequence[LoadInfo]) -> str:
    """`txmon loads list`: one line per load."""
    if not loads:
        return "no loads yet (txmon load FILE)"
    header = ("load", "shape", "loaded", "rejected", "minutes (UTC)", "loaded at (UTC)", "forced")
    lines = [
        (
            str(load.load_id),
            load.input_shape,
            f"{load.rows_loaded:,}",
            f"{load.rows_rejected:,}",
            _minute_range(load.first_minute_at, load.last_minute_at),
            load.loaded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "yes" if load.is_forced else "no",
        )
        for load in loads
    ]
    widths = [max(len(row[column]) for row in [header, *lines]) for column in range(len(header))]
    right = {0, 2, 3}

    def line(values: Sequence[str], file_name: str) -> str:
        cells = [
            value.rjust(width) if column in right else value.ljust(width)
            for column, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join([*cells, file_name]).rstrip()

    out = [line(header, "file"), line(["-" * width for width in widths], "----")]
    out += [line(values, load.file_name) for values, load in zip(lines, loads, strict=True)]
    return "\n".join(out)


def _minute_range(first: datetime | None, last: datetime | None) -> str:
    if first is None or last is None:
        return "-"
    return f"{first.astimezone(UTC):%Y-%m-%d %H:%M} .. {last.astimezone(UTC):%Y-%m-%d %H:%M}"


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
        f"counts from both add up (`txmon loads remove {rows[0][0]}` removes one)."
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
        "update txmon_raw.loads set rows_loaded = %s, rows_rejected = %s,"
        " first_minute_at = %s, last_minute_at = %s where load_id = %s",
        (
            writer.loaded,
            writer.rejected,
            _minute(writer.first_at),
            _minute(writer.last_at),
            load_id,
        ),
    )


def _overlaps(
    conn: psycopg.Connection,
    load_id: int,
    first: datetime | None,
    last: datetime | None,
) -> list[tuple[int | None, int]]:
    """Other loads (None: rows written outside `txmon load`) with rows in minutes this load
    filled too, and how many such minutes: their counts add up in the models.

    One pass over the rows of both tables in the load's range, grouped by minute and load, with
    no join: its plan cannot go quadratic on tables that have no statistics yet."""
    if first is None or last is None:
        return []
    rows = conn.execute(
        """
        with per_minute as (
            select date_trunc('minute', at) as minute_at, load_id
            from (
                select observed_at as at, load_id from txmon_raw.transaction_counts
                where observed_at >= %(first)s and observed_at < %(end)s
                union all
                select created_at, load_id from txmon_raw.transactions
                where created_at >= %(first)s and created_at < %(end)s
            ) as loaded
            group by 1, 2
        ),
        marked as (
            select load_id,
                bool_or(load_id is not distinct from %(load)s)
                    over (partition by minute_at) as shares_a_minute
            from per_minute
        )
        select load_id, count(*)
        from marked
        where shares_a_minute and load_id is distinct from %(load)s
        group by load_id
        order by load_id nulls last
        """,
        {"load": load_id, "first": _minute(first), "end": _minute(last) + timedelta(minutes=1)},
    ).fetchall()
    return [(row[0], int(row[1])) for row in rows]


# --- reading and validating data lines ----------------------------------------------------


def _stream(source: Path, sha256: str, width: int, parser: RowParser, writer: _BatchWriter) -> None:
    """Validate every data line and hand it to the writer as a row or as a reject."""
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in _read_chunks(source):
            digest.update(chunk)
            yield chunk

    lines = split_lines(hashed())
    next(lines, None)  # the header, already understood
    try:
        for number, (raw, length) in enumerate(lines, start=2):
            text = raw.decode("utf-8", "strict" if length == len(raw) else "ignore")
            if not text.strip():
                continue  # blank lines (often the last one) carry no data
            try:
                if length > len(raw):
                    raise _Reject(f"line is {length:,} bytes long, more than {MAX_LINE_CHARS:,}")
                writer.add(number, text, _parse_line(text, width, parser))
            except _Reject as reject:
                writer.reject(number, text, str(reject))
    except UnicodeDecodeError:
        raise LoadError(
            f"{source} changed while it was being loaded; nothing was written"
        ) from None
    if digest.hexdigest() != sha256:
        raise LoadError(f"{source} changed while it was being loaded; nothing was written")


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
    if not _TIMESTAMP_SHAPE.fullmatch(text):
        raise _Reject(f"unparseable timestamp {_show(text)}" if text else "empty timestamp")
    try:
        value = datetime.fromisoformat(text.upper())
    except ValueError:
        raise _Reject(f"unparseable timestamp {_show(text)}") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _Reject(
            f"timestamp {_show(text)} is out of range (years {FIRST_YEAR} to {LAST_YEAR})"
        )
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise _Reject(f"unparseable timestamp {_show(text)} (offset beyond ±14:00)")
    if not _TIMESTAMP.fullmatch(text):
        # What the published pattern refuses is refused here too, whatever Python would read.
        raise _Reject(f"unparseable timestamp {_show(text)}")
    if offset is None:
        return _localise(value, zone, text)
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
        sanity: TimeSanity,
    ) -> None:
        self.conn, self.load_id, self.file_name, self.shape = conn, load_id, file_name, shape
        self.sanity = sanity
        self.time_at = 0 if shape == "counts" else 1  # where a row holds its timestamp
        self.first_at: datetime | None = None  # the span of the rows written
        self.last_at: datetime | None = None
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
        self._judge_times()
        table_sql = _COPY_COUNTS if self.shape == "counts" else _COPY_EVENTS
        self._copy(table_sql, self.rows)
        self.loaded += len(self.rows)
        self.rows, self.raw_lines = [], []
        self._copy(_COPY_REJECTS, self.rejects)
        self.rejects = []

    def _judge_times(self) -> None:
        # In line order, after the id checks: only rows that will be written widen the span.
        if not self.rows:
            return
        times = [row[self.time_at] for row in self.rows]
        earliest, latest = min(times), max(times)
        if self.sanity.accepts_all(earliest, latest):
            self.first_at = earliest if self.first_at is None else min(self.first_at, earliest)
            self.last_at = latest if self.last_at is None else max(self.last_at, latest)
            return
        kept_rows, kept_lines = [], []
        for row, text in zip(self.rows, self.raw_lines, strict=True):
            at = row[self.time_at]
            refused = self.sanity.judge(at)
            if refused is not None:
                self._record_reject(row[-1], text, refused[1])
                continue
            kept_rows.append(row)
            kept_lines.append(text)
            self.first_at = at if self.first_at is None else min(self.first_at, at)
            self.last_at = at if self.last_at is None else max(self.last_at, at)
        self.rows, self.raw_lines = kept_rows, kept_lines

    def _reject_loaded_ids(self) -> None:
        # Ids from earlier loads become rejects, not errors. The look-up uses the index that
        # leads with transaction_id (the key of the day-partitioned table, or its own index),
        # and needs no unique constraint on transaction_id alone.
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
