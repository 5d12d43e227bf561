"""POST /transactions: a batch of counts or transactions for the next `txmon build`."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

from typing import Annotated

from fastapi import APIRouter, Header, Response

from txmon.serve.batches import (
    IDEMPOTENCY_KEY_CHARS,
    IDEMPOTENCY_KEY_PATTERN,
    KeyReused,
    TransactionBatch,
    write_batch,
)
from txmon.serve.dependencies import IngestRules, ServedDatabase
from txmon.serve.errors import ERROR_RESPONSES, message
from txmon.serve.models import BatchWritten, Message, Problems

router = APIRouter(tags=["ingest"])

# Says that an answer repeats the first one for the same Idempotency-Key.
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_CHARS,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes a retry safe: a batch sent again with the same key writes nothing"
        " and gets the first answer again (with `Idempotent-Replayed: true`); the same key"
        " with other items is a 409. Up to 255 visible ASCII characters, such as a UUID."
        " Keys are kept in the database with the batch's load (`txmon loads list`).",
    ),
]


@router.post(
    "/transactions",
    summary="Add a batch of counts or transactions",
    status_code=201,
    response_model=BatchWritten,
    responses={
        201: {
            "headers": {
                REPLAYED_HEADER: {
                    "description": "`true` when the answer repeats the first one for the"
                    " Idempotency-Key, and nothing was written now.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            }
        },
        **ERROR_RESPONSES,
        400: {"model": Message, "description": "The body cannot be read."},
        409: {
            "model": Message,
            "description": "The Idempotency-Key was used for other items; nothing was written.",
        },
        413: {"model": Message, "description": "Body larger than the server's limit."},
        422: {"model": Problems, "description": "Every bad item; nothing was written."},
    },
)
def post_transactions(
    batch: TransactionBatch,
    database: ServedDatabase,
    ingest: IngestRules,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BatchWritten | Response:
    """Validated with the CSV loader's rules (`txmon load`), written in one transaction to
    the raw tables of counts or transactions: all of it or, with any bad item or a
    transaction_id already stored, nothing. At most 10,000 items a batch; the body may be as
    large as 10,000 of the longest valid items, twice over. Times more than [ingest]
    future_horizon_minutes ahead of the clock, or that would open a gap of more than [ingest]
    max_gap_days to the stored data and the items before them, are refused like `txmon load`
    refuses such rows. Each problem has a `code`: only `invalid` breaks a rule of this schema.
    With an `Idempotency-Key`, the batch is written as a load under that key, and sending it
    again writes nothing. The next `txmon build` includes the rows."""
    try:
        with database.writing() as conn:
            outcome = write_batch(conn, batch, ingest, idempotency_key)
    except KeyReused as reused:
        return message(409, str(reused))
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return outcome.written
