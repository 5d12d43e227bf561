"""The CSV loader's field rules as pydantic types, for JSON items and query parameters.

Each type feeds the JSON value to the loader's own rule (txmon.ingest.fields.parse_*) as the
text a CSV would hold, so `txmon load` and the API accept and refuse the same values with the same
words; the JSON Schema beside each rule says the same thing to OpenAPI clients.
"""

# No `from __future__ import annotations`: pydantic reads these annotations at run time.

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from txmon.core.facts import monitored_dimensions
from txmon.ingest import fields as rules


def printable(text: str) -> str:
    """Text that can be sent as UTF-8: a reason may quote a client's lone surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _invalid(reason: str) -> PydanticCustomError:
    # The reason is passed as context so braces in a hostile value are never formatted, and
    # made printable: pydantic-core (Rust) cannot hold the lone surrogates a value may quote.
    return PydanticCustomError("invalid_value", "{reason}", {"reason": printable(reason)})


def field_rule(
    parse: Callable[[str], Any], what: str, *, integers: bool = False, numbers: bool = False
) -> Callable[[Any], Any]:
    """A pydantic before-validator that feeds the JSON value to a loader rule as text.

    JSON numbers are accepted where the CSV column holds a number and are checked as the text
    the CSV would hold, so the loader's rule decides (2.5 is not a count, 1e-3 not an amount).
    A whole number written with a fraction (2.0) is that integer, as JSON Schema reads it;
    `integers` accepts whole numbers only (ids). Booleans are never numbers.
    """
    expected = "a number or a string" if numbers else "an integer or a string"
    expected = expected if numbers or integers else "a string"

    def validate(value: Any) -> Any:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            raise _invalid(f"{what} must be {expected}, got a boolean")
        elif (integers or numbers) and isinstance(value, int):
            text = str(value)
        elif (integers or numbers) and isinstance(value, float) and value.is_integer():
            # JSON (and JSON Schema) has one number type: 2.0 is the integer 2.
            text = str(int(value))
        elif numbers and isinstance(value, float):
            text = repr(value)
        else:
            raise _invalid(f"{what} must be {expected}")
        try:
            return parse(text)
        except rules.InvalidValue as error:
            raise _invalid(str(error)) from None

    return validate


def optional_rule(name: str, *, numbers: bool = False) -> Callable[[Any], Any]:
    """The rule of an optional events column: null stays null."""
    rule = field_rule(lambda text: rules.parse_optional(name, text), name, numbers=numbers)
    return lambda value: None if value is None else rule(value)


# Bounds in the OpenAPI document become floats; 10**18 is exact as one and fits a bigint.
SCHEMA_INTEGER_MAX = 10**18
_AMOUNT_MAX = 10**15  # exact as a float, unlike the rule's own limit 10**16 - 1
_TIMESTAMP_SCHEMA = {
    "type": "string",
    "description": (
        f"ISO 8601, at least to the minute: a real date of the years {rules.FIRST_YEAR} to "
        f"{rules.LAST_YEAR}, optional seconds and fraction, an optional offset up to ±14:00; "
        "without an offset it is UTC. Batches also refuse times more than "
        "[ingest] future_horizon_minutes ahead of the clock or more than [ingest] max_gap_days "
        "from the other data (codes ahead_of_clock and gap_too_long)."
    ),
    "pattern": f"^{rules.TIMESTAMP_PATTERN}$",
    "examples": ["2025-07-15T13:44:00Z"],
}

Timestamp = Annotated[
    datetime,
    BeforeValidator(field_rule(rules.parse_timestamp, "timestamp")),
    WithJsonSchema(_TIMESTAMP_SCHEMA),
]
_STATUS_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": rules.MAX_STATUS_CHARS,
    "pattern": rules.STATUS_SCHEMA_PATTERN,
    "description": (
        "Letters, digits, '_', '-', '.' and ' ' (letters of any script are accepted "
        "too); trimmed and stored lower-cased."
    ),
    "examples": ["approved"],
}
_status_rule = field_rule(rules.parse_status, "status")
Status = Annotated[str, BeforeValidator(_status_rule), WithJsonSchema(_STATUS_SCHEMA)]
# A count may be by a dimension's value alone (an auth code), without a status.
OptionalStatus = Annotated[
    str | None,
    BeforeValidator(lambda value: None if value is None else _status_rule(value)),
    WithJsonSchema({"anyOf": [_STATUS_SCHEMA, {"type": "null"}]}),
]
_dimension_rule = field_rule(rules.parse_dimension, "dimension")
Dimension = Annotated[
    str | None,
    BeforeValidator(lambda value: None if value is None else _dimension_rule(value)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": list(monitored_dimensions())},
                {"type": "null"},
            ],
            "description": (
                "A dimension of the monitored_dimensions seed (acquirer, auth_code, ...): the"
                " count is of the transactions with dimension_value."
            ),
            "examples": ["auth_code"],
        }
    ),
]
_dimension_value_rule = field_rule(rules.parse_dimension_value, "dimension_value", integers=True)
DimensionValue = Annotated[
    str | None,
    BeforeValidator(lambda value: None if value is None else _dimension_value_rule(value)),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "maxLength": rules.MAX_TEXT_CHARS,
                    "pattern": rules.ID_SCHEMA_PATTERN,
                },
                {"type": "null"},
            ],
            "examples": ["59"],
        }
    ),
]
Count = Annotated[
    int,
    BeforeValidator(field_rule(rules.parse_count, "count", numbers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                # OpenAPI documents hold bounds as floats: these are exact, and within the rule.
                {"type": "integer", "minimum": 0, "maximum": SCHEMA_INTEGER_MAX},
                # Up to 18 digits always fits a bigint; longer strings are judged by value.
                {"type": "string", "pattern": "^[0-9]{1,18}$"},
            ],
            "description": "Transactions with this status in this minute.",
        }
    ),
]
TransactionId = Annotated[
    str,
    BeforeValidator(field_rule(rules.parse_transaction_id, "transaction_id", integers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": rules.MAX_ID_CHARS,
                    "pattern": rules.ID_SCHEMA_PATTERN,
                },
                {"type": "integer", "minimum": -SCHEMA_INTEGER_MAX, "maximum": SCHEMA_INTEGER_MAX},
            ],
            "description": (
                "Unique across every batch and file loaded; trimmed, without control characters."
            ),
        }
    ),
]
Amount = Annotated[
    Decimal,
    BeforeValidator(field_rule(rules.parse_amount, "amount", numbers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": -_AMOUNT_MAX, "maximum": _AMOUNT_MAX},
                {
                    "type": "string",
                    "pattern": r"^[+-]?(?:[0-9]{1,16}(?:\.[0-9]{0,2})?|\.[0-9]{1,2})$",
                },
            ],
            "description": (
                "At most 16 digits before the point and 2 after; a string keeps it exact (a "
                "JSON number with a fraction is accepted when it has at most 2 decimals)."
            ),
            "examples": ["129.90"],
        }
    ),
]
# The optional text columns get their rule from EventItem's field validator, which knows the
# column's name for the loader's message.
OptionalText = Annotated[
    str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "maxLength": rules.MAX_TEXT_CHARS,
                    "pattern": rules.TEXT_SCHEMA_PATTERN,
                },
                {"type": "null"},
            ],
            "description": "Any text without control characters (tab allowed); empty means none.",
        }
    ),
]
DurationMs = Annotated[
    int | None,
    BeforeValidator(optional_rule("duration_ms", numbers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": rules.INTEGER_MAX},
                {"type": "string", "pattern": "^[0-9]{0,9}$"},
                {"type": "null"},
            ]
        }
    ),
]


def _query_time(value: Any) -> Any:
    # Query times follow the loader's timestamp rule, so "naive means UTC" holds everywhere and
    # an offset PostgreSQL would refuse is a 422, not a database error.
    if value is None or isinstance(value, datetime):
        return value
    return field_rule(rules.parse_timestamp, "time")(value)


QueryTime = Annotated[
    datetime | None,
    BeforeValidator(_query_time),
    WithJsonSchema(
        {
            "anyOf": [
                {key: value for key, value in _TIMESTAMP_SCHEMA.items() if key != "description"},
                {"type": "null"},
            ],
            "description": "Same format as the timestamps of POST /transactions.",
        }
    ),
]
