"""POST /transactions: the batch a client sends, its limits, and writing it.

The items are validated by pydantic with the CSV loader's field rules (field_types.py); the
raw-table writer every entry point uses (txmon.ingest.writer) judges the rules that depend on
stored data (ids already loaded, time sanity), and every problem becomes a `Problem` of the 422
answer.
"""

# No `from __future__ import annotations`: pydantic reads these annotations at run time.

import json
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from txmon.core.config import Ingest
from txmon.ingest import fields as rules
from txmon.ingest.loads import (
    LOCK_KEY,
    KeyedLoad,
    add_to_load,
    find_keyed_load,
    load_rows,
    register_keyed_load,
)
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.ingest.writer import LOCK_LOADS, BatchRefused, RawWriter
from txmon.serve.errors import Refused
from txmon.serve.field_types import (
    Amount,
    Count,
    Dimension,
    DimensionValue,
    DurationMs,
    OptionalStatus,
    OptionalText,
    Status,
    Timestamp,
    TransactionId,
    optional_rule,
)
from txmon.serve.models import BatchWritten, Problem

MAX_BATCH_ITEMS = 10_000


def _largest_item_bytes() -> int:
    """The longest valid item as compact JSON: an event with every field at its longest."""
    text = {name: "t" * rules.MAX_TEXT_CHARS for name in rules.EVENTS_OPTIONAL}
    item = {
        "transaction_id": "i" * rules.MAX_ID_CHARS,
        "created_at": "2025-07-15T13:44:59.123456+13:59",
        "status": "s" * rules.MAX_STATUS_CHARS,
        "amount": "-" + "9" * 16 + ".99",
        **text,
        "duration_ms": rules.INTEGER_MAX,
    }
    return len(json.dumps(item, separators=(",", ":")).encode())


# The body cap follows from the item cap, so a full batch is never refused for its size:
# MAX_BATCH_ITEMS of the longest valid item, with BODY_ROOM times that for indentation,
# spaces and text beyond ASCII (about 35 MB). One definition; `create_app` takes it by default.
BODY_ROOM = 2
MAX_ITEM_BYTES = _largest_item_bytes()
MAX_BODY_BYTES = BODY_ROOM * MAX_BATCH_ITEMS * (MAX_ITEM_BYTES + 1) + 1024


def _status_or_dimension(schema: dict[str, Any]) -> None:
    # What _check_cut enforces, said in the schema.
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("status", "dimension")
    ]
    # Both or neither, null counting as absent.
    schema["oneOf"] = [
        {
            "required": ["dimension", "dimension_value"],
            "properties": {
                "dimension": {"type": "string"},
                "dimension_value": {"type": "string"},
            },
        },
        {
            "properties": {
                "dimension": {"type": "null"},
                "dimension_value": {"type": "null"},
            }
        },
    ]


class CountItem(BaseModel):
    """Transactions of one status, of one dimension's value or of both in one minute; rows for
    the same minute, status and value add up."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_status_or_dimension)

    timestamp: Timestamp
    status: OptionalStatus = None
    count: Count
    dimension: Dimension = None
    dimension_value: DimensionValue = None

    @model_validator(mode="after")
    def _check_cut(self) -> "CountItem":
        if (self.dimension is None) != (self.dimension_value is None):
            raise PydanticCustomError("invalid_value", "dimension and dimension_value go together")
        if self.status is None and self.dimension is None:
            raise PydanticCustomError(
                "invalid_value", "a count needs a status, a dimension and its value, or both"
            )
        return self


class EventItem(BaseModel):
    """One transaction."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: TransactionId
    created_at: Timestamp
    status: Status
    amount: Amount
    channel: OptionalText = None
    product: OptionalText = None
    acquirer: OptionalText = None
    card_type: OptionalText = None
    auth_code: OptionalText = None
    duration_ms: DurationMs = None

    @field_validator("channel", "product", "acquirer", "card_type", "auth_code", mode="before")
    @classmethod
    def _optional_text(cls, value: Any, info: ValidationInfo) -> Any:
        return optional_rule(info.field_name or "")(value)


def _one_of_two_lists(schema: dict[str, Any]) -> None:
    # What _one_shape enforces, said in the schema: one key, a list (None is only the default).
    for key in rules.SHAPES:
        field = schema["properties"][key]
        field.update(next(option for option in field.pop("anyOf") if option["type"] == "array"))
        field.pop("default", None)
    schema["oneOf"] = [{"required": [key]} for key in rules.SHAPES]


class TransactionBatch(BaseModel):
    """Either per-minute counts or single transactions (exactly one of the two keys)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_two_lists)

    counts: list[CountItem] | None = Field(
        None, max_length=MAX_BATCH_ITEMS, description="Per-minute counts by status."
    )
    events: list[EventItem] | None = Field(
        None, max_length=MAX_BATCH_ITEMS, description="Single transactions."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_shape(cls, data: Any) -> Any:
        # Checked before the items: a mis-shaped batch gets one clear error, not thousands.
        if isinstance(data, dict):
            given = [key for key in rules.SHAPES if key in data]
            if len(given) != 1 or data[given[0]] is None:
                raise PydanticCustomError(
                    "batch_shape", "send exactly one of 'counts' and 'events', as a list"
                )
        return data


# --- writing ------------------------------------------------------------------------------

# The Idempotency-Key header: 1 to 255 visible ASCII characters (spaces inside), as the
# IETF draft's examples and the usual clients send (UUIDs, hashes, "order-123:retry").
IDEMPOTENCY_KEY_CHARS = 255
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"
BATCH_SOURCE = "POST /transactions"


class KeyReused(Exception):
    """The idempotency key names an earlier batch with other items: nothing was written."""


@dataclass(frozen=True)
class BatchOutcome:
    """What `write_batch` answers: the batch written, or the earlier one a key names."""

    written: BatchWritten
    replayed: bool = False  # the key named a batch already written; nothing was written now


def write_batch(
    conn: psycopg.Connection,
    batch: TransactionBatch,
    ingest: Ingest | None = None,
    idempotency_key: str | None = None,
) -> BatchOutcome:
    """Write a validated batch in the connection's transaction through the raw-table writer
    (the same as `txmon load`), or raise Refused with every problem and write nothing.

    After pydantic has applied the field rules, the writer applies the rules that depend on
    data: transaction ids unique in the batch and not stored yet, and time sanity (items judged
    in order, against the stored data and the items before).

    With an idempotency key the batch is written as a load under that key. A key already used
    writes nothing: for the same items it answers what the first batch answered (`replayed`),
    for other items it raises KeyReused.
    """
    shape: rules.Shape = "counts" if batch.counts is not None else "events"
    items: list[CountItem] | list[EventItem] = batch.counts or batch.events or []
    rows = [rules.row_from(shape, item.model_dump()) for item in items]
    load_id = None
    if idempotency_key is not None:
        # The key's lock first, then (for events) the load lock: always in that order.
        conn.execute(LOCK_KEY, (idempotency_key,))
        if shape == "events":
            conn.execute(LOCK_LOADS)
        ensure_raw_tables(conn)
        earlier = find_keyed_load(conn, idempotency_key)
        if earlier is not None:
            return BatchOutcome(_same_batch(conn, earlier, shape, rows), replayed=True)
        load_id = register_keyed_load(conn, idempotency_key, BATCH_SOURCE, shape)
    writer = RawWriter(conn, shape, ingest=ingest, load_id=load_id)  # events: one at a time
    try:
        written = writer.write_batch(rows)
    except BatchRefused as refused:
        problems = [Problem.model_validate(asdict(problem)) for problem in refused.problems]
        raise Refused(problems) from None
    if load_id is not None:
        add_to_load(conn, load_id, written, 0, writer.first_at, writer.last_at)
    return BatchOutcome(BatchWritten(kind=shape, rows_written=written))


def _same_batch(
    conn: psycopg.Connection, earlier: KeyedLoad, shape: rules.Shape, rows: list[rules.Row]
) -> BatchWritten:
    """What the earlier batch under this key answered, if it had exactly these items (compared
    as stored, so `"count": "7"` and `"count": 7` are the same item); else KeyReused."""
    what = f"Idempotency-Key was first used for load {earlier.load_id}"
    if earlier.input_shape != shape:
        raise KeyReused(f"{what}, a batch of {earlier.input_shape}; send this batch with a new key")
    stored = load_rows(conn, earlier.load_id, shape)
    if len(stored) != earlier.rows_loaded:
        raise KeyReused(
            f"{what}, whose rows were pruned or removed in part; send this batch with a new key"
        )
    if stored != rows:
        raise KeyReused(
            f"{what}, a batch of {len(stored):,} other {shape} items; nothing was written: "
            "send this batch with a new key"
        )
    return BatchWritten(kind=shape, rows_written=len(stored))
