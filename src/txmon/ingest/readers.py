"""Reading CSV files: the checks that refuse a whole file before anything is written, the
header that names its shape, and its data lines as rows or as rejects with a reason.

Reading is linear whatever the line ends (LF, CRLF, CR or a mix): the file is read in chunks
and split on each of them without re-scanning. Files are UTF-8 (a BOM is allowed); a file in
another encoding or a binary format is refused with its likely cause. Fields are separated by
commas and may be quoted with double quotes.

May import: `txmon.ingest.fields`, `txmon.core`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from txmon.core.errors import LoadError
from txmon.ingest.fields import (
    CONTROL_CHARACTER,
    COUNTS_COLUMNS,
    EVENTS_OPTIONAL,
    EVENTS_REQUIRED,
    EXPECTED_HEADERS,
    FIELDS,
    TIMESTAMP_SHAPE,
    InvalidValue,
    Row,
    Shape,
    parse_dimension,
    quoted,
)

MAX_LINE_CHARS = 10_000
READ_CHUNK = 1 << 20
# A line longer than this is kept only this far (its reject shows the start); memory stays
# bounded even for a file with no line end at all.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class CsvFile:
    """A file that passed the whole-file checks, with its shape and column positions."""

    path: Path
    sha256: str
    shape: Shape
    columns: dict[str, int]  # field name -> position
    # The dimension a counts file is cut by, named by its header (`timestamp,auth_code,count`).
    dimension: str | None = None


class Line(NamedTuple):
    """One data line: its row, or the reason it cannot be loaded."""

    number: int
    text: str
    row: Row | None
    reason: str | None


def open_csv(path: str | os.PathLike[str]) -> CsvFile:
    """Check a file before anything is written and read its header; a LoadError says why not."""
    source = checked_path(path)
    sha256 = inspect(source)
    return CsvFile(source, sha256, *shape_of(source, *read_header(source)))


def zone_of(name: str) -> ZoneInfo:
    """The time zone for timestamps without an offset, or a LoadError naming the bad name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise LoadError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'America/Sao_Paulo'"
        ) from None


def checked_path(path: str | os.PathLike[str]) -> Path:
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


def read_chunks(source: Path) -> Iterator[bytes]:
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


def inspect(source: Path) -> str:
    """The content hash, after the whole-file checks that refuse a file before any write:
    empty, a known binary format, UTF-16, or not UTF-8 (with the line of the first invalid
    byte). One linear pass in chunks."""
    digest = hashlib.sha256()
    has_text = False
    first = True
    lines = 0  # line ends seen before the current chunk
    after_cr = False
    leftover = b""  # the start of a UTF-8 sequence cut by the chunk boundary
    for chunk in read_chunks(source):
        digest.update(chunk)
        if first:
            for magic, what in _MAGIC:
                if chunk.startswith(magic):
                    raise LoadError(f"{source} is {what}")
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


def read_header(source: Path) -> tuple[str, list[str]]:
    """Line 1 and its column names, trimmed and lower-cased (a LoadError if it is no header)."""
    first, length = next(split_lines(read_chunks(source)), (b"", 0))
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
        names = [name.strip().lower() for name in split_fields(text)]
    except InvalidValue as reject:
        raise LoadError(f"{source} has an unreadable header: {reject}") from None
    return text, names


def shape_of(source: Path, text: str, names: list[str]) -> tuple[Shape, dict[str, int], str | None]:
    """The input shape a header names, each field's position and the dimension a counts file
    is cut by (its one column besides timestamp, status and count), or a LoadError saying what
    is wrong relative to the shape the header most resembles."""
    columns = {name: position for position, name in enumerate(names)}
    shown = quoted(text.strip(), 120)
    if names and TIMESTAMP_SHAPE.fullmatch(names[0]):
        raise LoadError(f"{source} has no header line (line 1 looks like data); {EXPECTED_HEADERS}")
    if len(columns) != len(names):
        twice = sorted(name for name, seen in Counter(names).items() if seen > 1)
        raise LoadError(
            f"{source}: header {shown} names {', '.join(quoted(name, 40) for name in twice[:5])}"
            " more than once"
        )
    if set(names) == set(COUNTS_COLUMNS):
        return "counts", columns, None
    allowed = set(EVENTS_REQUIRED) | set(EVENTS_OPTIONAL)
    if set(EVENTS_REQUIRED) <= set(names) <= allowed:
        return "events", columns, None
    looks_like_events = bool(set(names) & {"transaction_id", "created_at", "amount"})
    extra = [name for name in names if name not in COUNTS_COLUMNS]
    if not looks_like_events and {"timestamp", "count"} <= set(names) and len(extra) == 1:
        try:
            dimension = parse_dimension(extra[0])
        except InvalidValue as reason:
            raise LoadError(f"{source}: header {shown}: {reason}") from None
        columns["dimension_value"] = columns.pop(extra[0])
        return "counts", columns, dimension
    expected = set(EVENTS_REQUIRED) if looks_like_events else set(COUNTS_COLUMNS)
    known = allowed if looks_like_events else set(COUNTS_COLUMNS)
    problems = []
    if missing := [name for name in sorted(expected) if name not in columns]:
        problems.append(f"missing {', '.join(missing)}")
    if unknown := [name for name in names if name not in known]:
        shown_unknown = ", ".join(quoted(name, 40) for name in unknown[:5])
        more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
        problems.append(f"unknown column(s) {shown_unknown}{more}")
    raise LoadError(
        f"{source}: unrecognised header {shown} ({'; '.join(problems)}); {EXPECTED_HEADERS}"
    )


def split_fields(text: str) -> list[str]:
    """The fields of one line; InvalidValue for broken quoting."""
    # Plain lines take the fast path; quoted fields go through the csv module, one line at a
    # time so an unclosed quote rejects its own line instead of swallowing the lines after it.
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as error:
        raise InvalidValue(f"malformed CSV quoting: {error}") from None


def read_lines(
    csv_file: CsvFile, zone: ZoneInfo, on_read: Callable[[int], None] | None = None
) -> Iterator[Line]:
    """Every data line after the header, parsed by the field rules (blank lines skipped).

    The file is read again and hashed on the way: a LoadError if it changed since `open_csv`,
    so a caller that writes as it reads must do so in a transaction it can roll back.
    `on_read` is told the bytes read so far after each chunk (for a progress bar).
    """
    parse = _row_parser(csv_file.shape, csv_file.columns, zone, csv_file.dimension)
    # The header as written: a counts file's dimension column has the dimension's name.
    header = [
        csv_file.dimension if name == "dimension_value" and csv_file.dimension else name
        for name in sorted(csv_file.columns, key=csv_file.columns.__getitem__)
    ]
    width = len(header)
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        read = 0
        for chunk in read_chunks(csv_file.path):
            digest.update(chunk)
            read += len(chunk)
            if on_read is not None:
                on_read(read)
            yield chunk

    lines = split_lines(hashed())
    next(lines, None)  # the header, already read
    changed = f"{csv_file.path} changed while it was being loaded; nothing was written"
    try:
        for number, (raw, length) in enumerate(lines, start=2):
            text = raw.decode("utf-8", "strict" if length == len(raw) else "ignore")
            if not text.strip():
                continue  # blank lines (often the last one) carry no data
            try:
                if length > len(raw):
                    raise InvalidValue(
                        f"line is {length:,} bytes long, more than {MAX_LINE_CHARS:,}"
                    )
                yield Line(number, text, _parse_line(text, width, parse), None)
            except InvalidValue as reject:
                reason = str(reject)
                if reason.startswith("unparseable timestamp") and _is_header(text, header):
                    reason = "repeated header line"
                yield Line(number, text, None, reason)
    except UnicodeDecodeError:
        raise LoadError(changed) from None
    if digest.hexdigest() != csv_file.sha256:
        raise LoadError(changed)


def _parse_line(text: str, width: int, parse: Callable[[list[str]], Row]) -> Row:
    if "\x00" in text:
        raise InvalidValue("line contains NUL bytes")
    if len(text) > MAX_LINE_CHARS:
        raise InvalidValue(f"line is {len(text):,} characters long, more than {MAX_LINE_CHARS:,}")
    if control := CONTROL_CHARACTER.search(text):
        raise InvalidValue(f"line contains control character U+{ord(control.group()):04X}")
    fields = split_fields(text)
    if len(fields) != width:
        raise InvalidValue(f"expected {width} columns, got {len(fields)}")
    return parse(fields)


def _row_parser(
    shape: Shape, columns: dict[str, int], zone: ZoneInfo, dimension: str | None = None
) -> Callable[[list[str]], Row]:
    """Fields of a line -> a row in schema order; a column the file lacks (an optional one)
    is None, and a counts file's dimension is the one its header named. The first field that
    breaks its rule (in schema order) gives the reason."""
    plan = [
        (lambda text, rule=field.rule: rule(text, zone)) if field.is_time else field.rule
        for field in FIELDS[shape]
    ]
    positions = [columns.get(field.name) for field in FIELDS[shape]]
    steps = list(zip(plan, positions, strict=True))
    named = [field.name == "dimension" for field in FIELDS[shape]]

    def parse(fields: list[str]) -> Row:
        return tuple(
            dimension if is_named else None if at is None else rule(fields[at])
            for (rule, at), is_named in zip(steps, named, strict=True)
        )

    return parse


def _is_header(text: str, header: list[str]) -> bool:
    try:
        return [name.strip().lower() for name in split_fields(text)] == header
    except InvalidValue:
        return False
