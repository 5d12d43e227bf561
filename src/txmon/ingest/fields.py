"""The transaction schema and the rule of each of its fields, shared by every way in.

Each `parse_*` rule takes a field's text and returns the value to store, or raises
`InvalidValue` with the reason. The CSV readers, the HTTP API's request models and its OpenAPI
schema (the `*_PATTERN` expressions) all use these rules, so every entry point accepts and
refuses the same values in the same words.

The schema itself, `COUNTS_FIELDS` and `EVENTS_FIELDS` at the end, is the one list of the
columns of each input shape: the names a CSV header and a JSON item use, the raw-table column
each lands in, its SQL type and whether it is required. The readers, the writer's COPY column
lists and the header help text derive from it; tests check the raw-table DDL and the API's item
models against it.

May import: the standard library and `txmon.core`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

from txmon.core.facts import DIMENSIONS_SEED, monitored_dimensions

MAX_STATUS_CHARS = 64
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 256
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
MAX_AMOUNT = Decimal(10) ** 16  # numeric(18, 2) holds 16 digits before the point
CENT = Decimal("0.01")
MAX_OFFSET = timedelta(hours=14)  # the widest offset any real time zone uses
FIRST_YEAR, LAST_YEAR = 1970, 2099
UTC_ZONE = ZoneInfo("UTC")

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
TIMESTAMP_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII | re.IGNORECASE,
)
_STATUS = re.compile(r"[\w.\- ]+")  # \w: letters and digits of any script, and '_'
_DIMENSION = re.compile(r"[a-z][a-z0-9_]*")
# Names a counts file's extra column cannot have: the other columns', and `all`, which names
# the series of all transactions.
RESERVED_DIMENSIONS = frozenset({"all", "timestamp", "status", "count", "dimension"})
# The API's schema for a status, a subset of the rule above that every JSON Schema engine reads
# alike (ECMA-262 \w is ASCII only; lower-casing some non-ASCII letters changes them).
STATUS_SCHEMA_PATTERN = r"^[A-Za-z0-9_. -]*[A-Za-z0-9_.-][A-Za-z0-9_. -]*$"
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# C0 and C1 control characters except tab; PostgreSQL text cannot hold NUL at all.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The same rules for the API's schema: text without those characters (tab allowed); an id also
# needs a character that is not white space (ids are trimmed). Lone surrogates, refused below,
# stay out of the patterns: no JSON Schema engine compiles them, and no generator draws them.
_TEXT_CHARACTER = r"[^\u0000-\u0008\u000a-\u001f\u007f-\u009f]"
_VISIBLE_CHARACTER = r"[^\s\u0000-\u0008\u000a-\u001f\u007f-\u009f]"
TEXT_SCHEMA_PATTERN = rf"^{_TEXT_CHARACTER}*$"
ID_SCHEMA_PATTERN = rf"^{_TEXT_CHARACTER}*{_VISIBLE_CHARACTER}{_TEXT_CHARACTER}*$"
# Lone surrogates cannot be encoded as UTF-8; a CSV file never has them, a JSON string can.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidValue(ValueError):
    """A value or line that cannot be loaded; the message is the reason.

    The `parse_*` rules raise it for one field. A file load stores the reason with the rejected
    line; the HTTP API returns it per item.
    """


def quoted(value: str, limit: int = 60) -> str:
    """A value quoted for a reason, cut short so a hostile value cannot flood the message."""
    return "'" + (value if len(value) <= limit else value[:limit] + "...") + "'"


def parse_timestamp(text: str, zone: ZoneInfo = UTC_ZONE) -> datetime:
    """An ISO 8601 timestamp (minutes at least, optional seconds, fraction and offset) as an
    aware UTC datetime; one without an offset is wall-clock time in `zone`."""
    return _timestamp(text.strip(), zone)


@lru_cache(maxsize=8192)  # counts files repeat each minute once per status
def _timestamp(text: str, zone: ZoneInfo) -> datetime:
    if not TIMESTAMP_SHAPE.fullmatch(text):
        raise InvalidValue(f"unparseable timestamp {quoted(text)}" if text else "empty timestamp")
    try:
        value = datetime.fromisoformat(text.upper())
    except ValueError:
        raise InvalidValue(f"unparseable timestamp {quoted(text)}") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidValue(
            f"timestamp {quoted(text)} is out of range (years {FIRST_YEAR} to {LAST_YEAR})"
        )
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise InvalidValue(f"unparseable timestamp {quoted(text)} (offset beyond ±14:00)")
    if not _TIMESTAMP.fullmatch(text):
        # What the published pattern refuses is refused here too, whatever Python would read.
        raise InvalidValue(f"unparseable timestamp {quoted(text)}")
    if offset is None:
        return _localise(value, zone, text)
    return _to_utc(value, text)


def _localise(naive: datetime, zone: ZoneInfo, text: str) -> datetime:
    """A wall-clock time in `zone` as UTC; times a DST change skips or repeats are refused."""
    early, late = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        round_trip = _to_utc(early, text).astimezone(zone).replace(tzinfo=None)
        what = "does not exist" if round_trip != naive else "happens twice"
        raise InvalidValue(
            f"local time {quoted(text)} {what} in {zone.key} (daylight-saving change); "
            "give it a UTC offset"
        )
    return _to_utc(early, text)


def _to_utc(value: datetime, text: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidValue(f"timestamp {quoted(text)} is out of range") from None


def parse_status(text: str) -> str:
    """A status, trimmed and lower-cased: letters, digits, '_', '-', '.' and ' ' only."""
    value = text.strip().lower()
    if not value:
        raise InvalidValue("empty status")
    if len(value) > MAX_STATUS_CHARS:
        raise InvalidValue(f"status is longer than {MAX_STATUS_CHARS} characters")
    if not _STATUS.fullmatch(value):
        raise InvalidValue(
            f"status {quoted(text.strip())} has characters other than letters, digits, "
            "'_', '-', '.' and ' '"
        )
    return value


def parse_count(text: str) -> int:
    """A transaction count: a non-negative integer that fits a bigint."""
    value = text.strip()
    if not value:
        raise InvalidValue("empty count")
    return _non_negative_int("count", value, BIGINT_MAX)


def _non_negative_int(name: str, value: str, maximum: int) -> int:
    if not (value.isascii() and value.isdigit()):
        raise InvalidValue(f"{name} must be a non-negative integer, got {quoted(value)}")
    # Check the length first: int() refuses strings of more than 4,300 digits.
    if len(value.lstrip("0")) > len(str(maximum)) or int(value) > maximum:
        raise InvalidValue(f"{name} {quoted(value)} is larger than the maximum {maximum:,}")
    return int(value)


def parse_transaction_id(text: str) -> str:
    """A transaction id: trimmed, not empty, at most MAX_ID_CHARS characters of text."""
    return _required_text("transaction_id", text, MAX_ID_CHARS)


def parse_amount(text: str) -> Decimal:
    """An amount: a plain decimal number (no exponent), at most 2 decimal places and 16 digits
    before the point."""
    value = text.strip()
    if not _AMOUNT.fullmatch(value):
        raise InvalidValue(f"amount must be a decimal number, got {quoted(value)}")
    try:
        amount = Decimal(value)
        if abs(amount) >= MAX_AMOUNT:
            raise InvalidValue(
                f"amount {quoted(value)} is too large (at most 16 digits before the point)"
            )
        if amount != amount.quantize(CENT):
            raise InvalidValue(f"amount {quoted(value)} has more than 2 decimal places")
    except InvalidOperation:
        raise InvalidValue(f"amount must be a decimal number, got {quoted(value)}") from None
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
        raise InvalidValue(f"{name} is longer than {MAX_TEXT_CHARS} characters")
    _check_text(name, value)
    return value


def parse_dimension(text: str) -> str:
    """A dimension's name (a counts file's column header, lower-cased like every header, or an
    API item's `dimension`): one of the monitored_dimensions seed; `all` names the series of
    all transactions and cannot be one."""
    value = text.strip()
    if not _DIMENSION.fullmatch(value) or len(value) > MAX_STATUS_CHARS:
        raise InvalidValue(
            f"dimension {quoted(text.strip())} must be letters, digits and '_', starting with a"
            f" letter, at most {MAX_STATUS_CHARS} characters"
        )
    if value in RESERVED_DIMENSIONS:
        raise InvalidValue(f"{value!r} cannot be a dimension's name")
    known = monitored_dimensions()
    if value not in known:
        raise InvalidValue(
            f"{quoted(value)} is not a monitored dimension ({', '.join(known)}; add it to"
            f" seeds/{DIMENSIONS_SEED} to monitor counts by it)"
        )
    return value


def parse_dimension_value(text: str) -> str:
    """A dimension's value (an acquirer, an auth code): trimmed text, not empty, at most
    MAX_TEXT_CHARS characters. Leading zeros stay (auth code 05 is not 5)."""
    return _required_text("dimension value", text, MAX_TEXT_CHARS)


def _required_text(name: str, text: str, maximum: int) -> str:
    value = text.strip()
    if not value:
        raise InvalidValue(f"empty {name}")
    if len(value) > maximum:
        raise InvalidValue(f"{name} is longer than {maximum} characters")
    _check_text(name, value)
    return value


def _check_text(name: str, value: str) -> None:
    # A CSV line with a control character is rejected whole before its fields are read; this
    # gives a single field (an API item) the same rule.
    if control := CONTROL_CHARACTER.search(value):
        raise InvalidValue(f"{name} contains control character U+{ord(control.group()):04X}")
    if surrogate := _SURROGATE.search(value):
        raise InvalidValue(
            f"{name} contains an unpaired surrogate U+{ord(surrogate.group()):04X} (not text)"
        )


# --- the schema -----------------------------------------------------------------------------

Shape = Literal["counts", "events"]
Row = tuple[Any, ...]  # one row's values in schema order
SHAPES: tuple[Shape, ...] = ("counts", "events")


@dataclass(frozen=True)
class Field:
    """One field of an input shape and the raw-table column it lands in."""

    name: str  # as a CSV header and a JSON item name it
    column: str  # in the raw table
    sql_type: str  # as PostgreSQL's format_type() prints the column's type
    required: bool
    rule: Callable[[str], Any]  # text -> value; timestamps also take the zone (see `is_time`)

    @property
    def is_time(self) -> bool:
        return self.sql_type == "timestamp with time zone"


def _optional(name: str, sql_type: str = "text") -> Field:
    return Field(name, name, sql_type, False, partial(parse_optional, name))


# Per-minute counts by status, by a dimension's value, or by both: txmon_raw.transaction_counts.
# A row needs a status or a dimension (a counts file names its dimension in its header, as
# `timestamp,auth_code,count`; an API item as `dimension` and `dimension_value`).
COUNTS_FIELDS: tuple[Field, ...] = (
    Field("timestamp", "observed_at", "timestamp with time zone", True, parse_timestamp),
    Field("status", "status", "text", False, parse_status),
    Field("count", "transaction_count", "bigint", True, parse_count),
    Field("dimension", "dimension_name", "text", False, parse_dimension),
    Field("dimension_value", "dimension_value", "text", False, parse_dimension_value),
)
# Single transactions: txmon_raw.transactions. The required fields come first.
EVENTS_FIELDS: tuple[Field, ...] = (
    Field("transaction_id", "transaction_id", "text", True, parse_transaction_id),
    Field("created_at", "created_at", "timestamp with time zone", True, parse_timestamp),
    Field("status", "status", "text", True, parse_status),
    Field("amount", "amount", "numeric(18,2)", True, parse_amount),
    _optional("channel"),
    _optional("product"),
    _optional("acquirer"),
    _optional("card_type"),
    _optional("auth_code"),
    _optional("duration_ms", "integer"),
)
FIELDS: dict[Shape, tuple[Field, ...]] = {"counts": COUNTS_FIELDS, "events": EVENTS_FIELDS}
# The raw table of each shape, in RAW_SCHEMA.
TABLES: dict[Shape, str] = {"counts": "transaction_counts", "events": "transactions"}

DIMENSION_FIELDS = ("dimension", "dimension_value")
# The plain counts header, by status only.
COUNTS_COLUMNS = tuple(field.name for field in COUNTS_FIELDS if field.name not in DIMENSION_FIELDS)
EVENTS_REQUIRED = tuple(field.name for field in EVENTS_FIELDS if field.required)
EVENTS_OPTIONAL = tuple(field.name for field in EVENTS_FIELDS if not field.required)
# Where each shape's rows hold their time, and which field that is.
TIME_INDEX: dict[Shape, int] = {
    shape: next(index for index, field in enumerate(fields) if field.is_time)
    for shape, fields in FIELDS.items()
}
TIME_FIELD: dict[Shape, str] = {shape: FIELDS[shape][TIME_INDEX[shape]].name for shape in SHAPES}
TIME_COLUMN: dict[Shape, str] = {shape: FIELDS[shape][TIME_INDEX[shape]].column for shape in SHAPES}
EXPECTED_HEADERS = (
    f"expected '{','.join(COUNTS_COLUMNS)}' (counts), 'timestamp,<dimension>,count' or"
    f" 'timestamp,status,<dimension>,count' (counts by a dimension's value, e.g. auth_code) or"
    f" '{','.join(EVENTS_REQUIRED)}' plus any of '{','.join(EVENTS_OPTIONAL)}' (events),"
    " in any order"
)


def row_from(shape: Shape, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row in schema order from values by field name; a missing optional field is None."""
    return tuple(values.get(field.name) for field in FIELDS[shape])
