"""POST /transactions: a batch of counts or transactions for the next `txmon build`."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

from fastapi import APIRouter

from txmon.serve.batches import TransactionBatch, write_batch
from txmon.serve.dependencies import IngestRules, ServedDatabase
from txmon.serve.errors import ERROR_RESPONSES
from txmon.serve.models import BatchWritten, Message, Problems

router = APIRouter(tags=["ingest"])


@router.post(
    "/transactions",
    summary="Add a batch of counts or transactions",
    status_code=201,
    response_model=BatchWritten,
    responses={
        **ERROR_RESPONSES,
        400: {"model": Message, "description": "The body cannot be read."},
        413: {"model": Message, "description": "Body larger than the server's limit."},
        422: {"model": Problems, "description": "Every bad item; nothing was written."},
    },
)
def post_transactions(
    batch: TransactionBatch, database: ServedDatabase, ingest: IngestRules
) -> BatchWritten:
    """Validated with the CSV loader's rules (`txmon load`), written in one transaction to
    the raw tables of counts or transactions: all of it or, with any bad item or a
    transaction_id already stored, nothing. At most 10,000 items a batch; the body may be as
    large as 10,000 of the longest valid items, twice over. Times more than [ingest]
    future_horizon_minutes ahead of the clock, or that would open a gap of more than [ingest]
    max_gap_days to the stored data and the items before them, are refused like `txmon load`
    refuses such rows. Each problem has a `code`: only `invalid` breaks a rule of this schema.
    The next `txmon build` includes the rows."""
    with database.writing() as conn:
        return write_batch(conn, batch, ingest)
