"""The HTTP API: the public views as JSON, and a way in for transactions.

Read routes only read the views in schema `monitoring` (through txmon.pipeline.views where a reader
exists); nothing is recomputed here. POST /transactions validates with the CSV loader's own
field rules (txmon.ingest.loading.parse_*) and writes one batch in one transaction.

Every request opens its own short-lived connection: nothing to repair when PostgreSQL restarts,
and an unreachable database is a 503 with the reason, never a 500.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

import hmac
import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import psycopg
import uvicorn
from fastapi import FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from psycopg.rows import dict_row
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from txmon import __version__
from txmon.alerting import log as alert_log
from txmon.core.config import Ingest, Settings, load_settings
from txmon.core.errors import DatabaseUnavailable, TxmonError
from txmon.db.connection import connect, ensure_raw_tables
from txmon.ingest import loading
from txmon.pipeline import views as monitoring
from txmon.pipeline.views import PUBLIC_VIEWS, VIEWS_MISSING, existing_relations, has_relation

logger = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 10_000


def _largest_item_bytes() -> int:
    """The longest valid item as compact JSON: an event with every field at its longest."""
    text = {name: "t" * loading.MAX_TEXT_CHARS for name in loading.EVENTS_OPTIONAL}
    item = {
        "transaction_id": "i" * loading.MAX_ID_CHARS,
        "created_at": "2025-07-15T13:44:59.123456+13:59",
        "status": "s" * loading.MAX_STATUS_CHARS,
        "amount": "-" + "9" * 16 + ".99",
        **text,
        "duration_ms": loading.INTEGER_MAX,
    }
    return len(json.dumps(item, separators=(",", ":")).encode())


# The body cap follows from the item cap, so a full batch is never refused for its size:
# MAX_BATCH_ITEMS of the longest valid item, with BODY_ROOM times that for indentation,
# spaces and text beyond ASCII (about 35 MB). One definition; `create_app` takes it by default.
BODY_ROOM = 2
MAX_ITEM_BYTES = _largest_item_bytes()
MAX_BODY_BYTES = BODY_ROOM * MAX_BATCH_ITEMS * (MAX_ITEM_BYTES + 1) + 1024
MAX_SERIES_ROWS = 10_080  # one week of minutes: plenty for a chart, bounded for the server
DEFAULT_SERIES_SPAN = timedelta(hours=6)
MAX_ALERTS = 10_000
STATEMENT_TIMEOUT_MS = 30_000  # a read that takes longer is answered 503, not left hanging
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Open without a token: the liveness probe, and the docs (they show the schema, never data).
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# The same advisory lock as `txmon load`: a file load and a batch never race on transaction ids.
LOCK_LOADS = "select pg_advisory_xact_lock(hashtext('txmon.load'))"
COPY_COUNTS = (
    "copy txmon_raw.transaction_counts (observed_at, status, transaction_count) from stdin"
)
COPY_EVENTS = (
    "copy txmon_raw.transactions (transaction_id, created_at, status, amount, channel, product,"
    " acquirer, card_type, auth_code, duration_ms) from stdin"
)

DESCRIPTION = """
Real-time monitoring of payment transactions. The read routes serve the public views that
`txmon build` (dbt) keeps in schema `monitoring`; `POST /transactions` adds raw data for the
next build. Timestamps are UTC; a query time without an offset is read as UTC.

When the server runs with a token, every route except `/health` and these docs needs
`Authorization: Bearer <token>`.
"""


# --- response models ----------------------------------------------------------------------


class Message(BaseModel):
    """An error with its reason."""

    detail: str = Field(description="What went wrong and, where it helps, what to do.")


# Why a request was refused. `invalid` breaks a rule that the OpenAPI schema states; the others
# depend on data the schema cannot know (the stored rows, the clock, the other items).
PROBLEM_CODES = {
    "invalid": "a value, parameter or the batch's shape breaks a rule of the schema",
    "duplicate_transaction_id": "the transaction_id appears earlier in the same batch",
    "transaction_id_loaded": "the transaction_id is already stored",
    loading.TimeSanity.AHEAD: "the time is further ahead of the clock than [ingest] allows",
    loading.TimeSanity.GAP: "the time is further from the other data than [ingest] allows",
    "range_reversed": "'from' is after 'to'",
}
ProblemCode = Literal[
    "invalid",
    "duplicate_transaction_id",
    "transaction_id_loaded",
    "ahead_of_clock",
    "gap_too_long",
    "range_reversed",
]


class Problem(BaseModel):
    """One reason a request was refused."""

    index: int | None = Field(
        None, description="Position (from 0) of the bad item in the batch, if in an item."
    )
    field: str | None = Field(None, description="The field or query parameter at fault.")
    reason: str = Field(description="Why it was refused, in the CSV loader's words.")
    code: ProblemCode = Field(
        "invalid",
        description="; ".join(f"`{code}`: {meaning}" for code, meaning in PROBLEM_CODES.items()),
    )


class Problems(BaseModel):
    """A refused request; for a batch, nothing of it was written."""

    detail: str
    errors: list[Problem] = Field(description="Every problem found, not only the first.")


class Persistence(BaseModel):
    consecutive_minutes: int = Field(description="Minutes the ongoing episode has persisted.")
    severity: str = Field(description="HEALTHY, INFO, WARNING, CRITICAL or SEVERE.")


class MonitorDocument(BaseModel):
    """The prototype's GET /monitor document; txmon's own keys follow the prototype's."""

    model_config = ConfigDict(extra="allow")

    current_minute: str = Field(
        description="Latest minute, UTC, as 'YYYY-MM-DD HH:MM:SS'.",
        examples=["2025-07-15 13:44:00"],
    )
    metrics: dict[str, float] = Field(description="Value per metric in the latest minute.")
    thresholds: dict[str, float | None] = Field(description="Threshold per metric short name.")
    persistence_analysis: dict[str, Persistence] = Field(description="Per metric short name.")
    overall_severity: str | None = Field(None, description="Worst severity of all metrics.")
    baseline_mode: str | None = Field(None, description="trailing or seed.")
    judged_values: dict[str, float | None] | None = Field(
        None, description="The value compared with the threshold, per metric."
    )
    baselines: dict[str, float | None] | None = Field(None, description="Per metric short name.")
    episodes: dict[str, str | None] | None = Field(
        None, description="Ongoing episode id per metric short name."
    )
    needs_full_refresh: str | None = Field(
        None,
        description="Rows arrived for minutes older than the lateness window after they were"
        " judged: what they are and how to have them judged (`txmon build --full-refresh`).",
    )


class MetricStatusOut(BaseModel):
    """One metric at its latest minute (monitoring.current_status)."""

    metric_name: str
    short_name: str
    current_minute_at: datetime
    value: float | None
    judged_value: float | None
    baseline: float | None
    threshold: float | None
    is_anomalous: bool
    consecutive_minutes: int = Field(description="Consecutive anomalous minutes up to now.")
    episode_minutes: int = Field(description="How long the ongoing episode has persisted.")
    severity: str
    episode_id: str | None
    baseline_mode: str


class EpisodeOut(BaseModel):
    """A run of anomalous minutes that reached INFO (monitoring.anomaly_episodes)."""

    episode_id: str = Field(examples=["failed_rate@2025-07-15T12:47Z"])
    metric_name: str
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while the episode is ongoing.")
    minutes: int
    peak_severity: str
    peak_value: float | None


class AlertOut(BaseModel):
    """One notification of the alert log (monitoring.alert_log), for one channel."""

    notification_id: int
    minute_at: datetime
    metric_name: str
    event_type: str = Field(description="ALERT, ESCALATION, RECOVERY, STALE, ...")
    severity: str
    previous_severity: str | None
    consecutive_minutes: int | None
    message: str
    channel: str
    status: str = Field(description="pending, sent, failed or suppressed.")
    attempts: int
    last_error: str | None
    suppressed_reason: str | None
    sent_at: datetime | None
    dedup_key: str


class MinutePoint(BaseModel):
    """One minute of one metric (monitoring.metric_minutes, severity from metric_status)."""

    minute_at: datetime
    value: float | None
    judged_value: float | None
    baseline: float | None
    threshold: float | None
    is_anomalous: bool | None
    severity: str | None


class MetricSeries(BaseModel):
    """The minute series of one metric over [from, to], oldest first."""

    model_config = ConfigDict(populate_by_name=True)

    metric: str
    from_: datetime = Field(alias="from", description="First minute asked for (inclusive).")
    to: datetime = Field(description="Last minute asked for (inclusive).")
    row_limit: int = Field(description="At most this many minutes are returned per request.")
    truncated: bool = Field(description="More minutes lie in the range than row_limit.")
    next_from: datetime | None = Field(
        description="When truncated: pass as `from` to get the next page."
    )
    minutes: list[MinutePoint]


class Health(BaseModel):
    """Whether the database answers and the views exist (200), or why not (503)."""

    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    views: Literal["ok", "missing", "unknown"]
    latest_minute_at: datetime | None = Field(description="Newest minute in the views.")
    data_lag_seconds: float | None = Field(
        description="now() minus the end of the newest minute: how old the data are."
    )
    last_build_at: datetime | None = Field(
        description="End of the latest successful build in monitoring.build_runs, if recorded."
    )
    last_build_succeeded: bool | None = Field(description="Whether the latest build succeeded.")
    reason: str | None = Field(description="Why the status is error.")


class BatchWritten(BaseModel):
    kind: Literal["counts", "events"]
    rows_written: int


# --- request models: the CSV loader's field rules, applied per JSON item -----------------------


def _invalid(reason: str) -> PydanticCustomError:
    # The reason is passed as context so braces in a hostile value are never formatted, and
    # made printable: pydantic-core (Rust) cannot hold the lone surrogates a value may quote.
    return PydanticCustomError("invalid_value", "{reason}", {"reason": _printable(reason)})


def _field_rule(
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
        except loading.InvalidValue as error:
            raise _invalid(str(error)) from None

    return validate


def _optional_rule(name: str, *, numbers: bool = False) -> Callable[[Any], Any]:
    rule = _field_rule(lambda text: loading.parse_optional(name, text), name, numbers=numbers)
    return lambda value: None if value is None else rule(value)


# Bounds in the OpenAPI document become floats; 10**18 is exact as one and fits a bigint.
SCHEMA_INTEGER_MAX = 10**18
_TIMESTAMP_SCHEMA = {
    "type": "string",
    "description": (
        f"ISO 8601, at least to the minute: a real date of the years {loading.FIRST_YEAR} to "
        f"{loading.LAST_YEAR}, optional seconds and fraction, an optional offset up to ±14:00; "
        "without an offset it is UTC. Batches also refuse times more than "
        "[ingest] future_horizon_minutes ahead of the clock or more than [ingest] max_gap_days "
        "from the other data (codes ahead_of_clock and gap_too_long)."
    ),
    "pattern": f"^{loading.TIMESTAMP_PATTERN}$",
    "examples": ["2025-07-15T13:44:00Z"],
}
_TEXT_OR_NULL = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": loading.MAX_TEXT_CHARS,
            "pattern": loading.TEXT_SCHEMA_PATTERN,
        },
        {"type": "null"},
    ],
    "description": "Any text without control characters (tab allowed); empty means none.",
}

Timestamp = Annotated[
    datetime,
    BeforeValidator(_field_rule(loading.parse_timestamp, "timestamp")),
    WithJsonSchema(_TIMESTAMP_SCHEMA),
]
Status = Annotated[
    str,
    BeforeValidator(_field_rule(loading.parse_status, "status")),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": loading.MAX_STATUS_CHARS,
            "pattern": loading.STATUS_SCHEMA_PATTERN,
            "description": (
                "Letters, digits, '_', '-', '.' and ' ' (letters of any script are accepted "
                "too); trimmed and stored lower-cased."
            ),
            "examples": ["approved"],
        }
    ),
]
Count = Annotated[
    int,
    BeforeValidator(_field_rule(loading.parse_count, "count", numbers=True)),
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
    BeforeValidator(_field_rule(loading.parse_transaction_id, "transaction_id", integers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": loading.MAX_ID_CHARS,
                    "pattern": loading.ID_SCHEMA_PATTERN,
                },
                {"type": "integer", "minimum": -SCHEMA_INTEGER_MAX, "maximum": SCHEMA_INTEGER_MAX},
            ],
            "description": (
                "Unique across every batch and file loaded; trimmed, without control characters."
            ),
        }
    ),
]
_AMOUNT_MAX = 10**15  # exact as a float, unlike the rule's own limit 10**16 - 1
Amount = Annotated[
    Decimal,
    BeforeValidator(_field_rule(loading.parse_amount, "amount", numbers=True)),
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
OptionalText = Annotated[str | None, WithJsonSchema(_TEXT_OR_NULL)]
DurationMs = Annotated[
    int | None,
    BeforeValidator(_optional_rule("duration_ms", numbers=True)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": loading.INTEGER_MAX},
                {"type": "string", "pattern": "^[0-9]{0,9}$"},
                {"type": "null"},
            ]
        }
    ),
]


class CountItem(BaseModel):
    """Transactions of one status in one minute; rows for the same minute and status add up."""

    model_config = ConfigDict(extra="forbid")

    timestamp: Timestamp
    status: Status
    count: Count


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
        return _optional_rule(info.field_name or "")(value)


SHAPES = ("counts", "events")


def _one_of_two_lists(schema: dict[str, Any]) -> None:
    # What _one_shape enforces, said in the schema: one key, a list (None is only the default).
    for key in SHAPES:
        field = schema["properties"][key]
        field.update(next(option for option in field.pop("anyOf") if option["type"] == "array"))
        field.pop("default", None)
    schema["oneOf"] = [{"required": [key]} for key in SHAPES]


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
            given = [key for key in SHAPES if key in data]
            if len(given) != 1 or data[given[0]] is None:
                raise PydanticCustomError(
                    "batch_shape", "send exactly one of 'counts' and 'events', as a list"
                )
        return data


def _query_time(value: Any) -> Any:
    # Query times follow the loader's timestamp rule, so "naive means UTC" holds everywhere and
    # an offset PostgreSQL would refuse is a 422, not a database error.
    if value is None or isinstance(value, datetime):
        return value
    return _field_rule(loading.parse_timestamp, "time")(value)


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


# --- reading ------------------------------------------------------------------------------


class _Refused(Exception):
    """A request refused with a list of problems (422), raised after pydantic's validation."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@contextmanager
def _reading(url: str) -> Iterator[psycopg.Connection]:
    """A read-only transaction with a statement timeout, on a connection of its own."""
    with connect(url) as conn:
        conn.read_only = True  # a read route cannot write, whatever a reader function does
        conn.execute(f"set local statement_timeout = {STATEMENT_TIMEOUT_MS}")
        yield conn


def _rows(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return list(cursor.execute(sql, params).fetchall())  # type: ignore[arg-type]


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity; a value without meaning is null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _finite(value) for key, value in row.items()}


def latest_minute(conn: psycopg.Connection, metric: str) -> datetime | None:
    row = conn.execute(
        "select max(minute_at) from monitoring.metric_minutes where metric_name = %s", (metric,)
    ).fetchone()
    return row[0] if row else None


def metric_names(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("select metric_name from monitoring.current_status order by 1").fetchall()
    return [row[0] for row in rows]


def metric_series(
    conn: psycopg.Connection, metric: str, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` minutes of one metric in [start, end], oldest first."""
    return _rows(
        conn,
        """
        select metric_minutes.minute_at, metric_minutes.value, metric_minutes.judged_value,
               metric_minutes.baseline, metric_minutes.threshold, metric_minutes.is_anomalous,
               metric_status.severity
        from monitoring.metric_minutes
        left join monitoring.metric_status
            on metric_status.metric_name = metric_minutes.metric_name
            and metric_status.minute_at = metric_minutes.minute_at
        where metric_minutes.metric_name = %(metric)s
          and metric_minutes.minute_at between %(start)s and %(end)s
        order by metric_minutes.minute_at
        limit %(limit)s
        """,
        {"metric": metric, "start": start, "end": end, "limit": limit},
    )


def health_facts(conn: psycopg.Connection) -> Health:
    """The facts /health reports, from a connection that answered."""
    missing = sorted(set(PUBLIC_VIEWS) - existing_relations(conn, PUBLIC_VIEWS))
    if missing:
        return _unhealthy("ok", "missing", f"{VIEWS_MISSING} (missing: {', '.join(missing)})")
    latest, lag = monitoring.data_freshness(conn)
    last_build_at, last_succeeded = _last_build(conn)
    return Health(
        status="ok",
        database="ok",
        views="ok",
        latest_minute_at=latest,
        data_lag_seconds=lag,
        last_build_at=last_build_at,
        last_build_succeeded=last_succeeded,
        reason=None,
    )


def _last_build(conn: psycopg.Connection) -> tuple[datetime | None, bool | None]:
    # monitoring.build_runs exists once the scheduler (`txmon run`) has recorded a build;
    # without it, or with other columns than expected, the build is simply not reported.
    if not has_relation(conn, "build_runs"):
        return None, None
    try:
        with conn.transaction():  # a savepoint: a failure here must not spoil the answer
            row = conn.execute(
                "select (select max(finished_at) from monitoring.build_runs where succeeded),"
                " (select succeeded from monitoring.build_runs"
                "  order by finished_at desc limit 1)"
            ).fetchone()
    except psycopg.Error as error:
        logger.warning("cannot read monitoring.build_runs: %s", error)
        return None, None
    return (row[0], row[1]) if row else (None, None)


def _unhealthy(database: Literal["ok", "error"], views: Any, reason: str) -> Health:
    return Health(
        status="error",
        database=database,
        views=views,
        latest_minute_at=None,
        data_lag_seconds=None,
        last_build_at=None,
        last_build_succeeded=None,
        reason=reason,
    )


# --- writing ------------------------------------------------------------------------------


def write_batch(
    conn: psycopg.Connection, batch: TransactionBatch, ingest: Ingest | None = None
) -> BatchWritten:
    """Write a validated batch in the connection's transaction, or raise _Refused.

    After pydantic has applied the field rules, the rules that depend on data: transaction ids
    unique in the batch and not stored yet, and time sanity (`loading.TimeSanity`, the same
    rule as `txmon load`: items judged in order, against the stored data and the items before).
    """
    ensure_raw_tables(conn)
    # Counts take no lock, so a long file load never holds up live batches: every row accepted
    # lies within the limit of the span it was judged against, so concurrent writers cannot
    # open a gap between them either.
    sanity = loading.TimeSanity(conn, ingest or Ingest())
    if batch.counts is not None:
        times = [item.timestamp for item in batch.counts]
        if problems := _time_problems(sanity, times, "timestamp"):
            raise _Refused(problems)
        rows = [(item.timestamp, item.status, item.count) for item in batch.counts]
        _copy(conn, COPY_COUNTS, rows)
        return BatchWritten(kind="counts", rows_written=len(rows))
    events = batch.events or []
    conn.execute(LOCK_LOADS)  # ids are checked against what is stored: one writer at a time
    problems = _duplicate_ids(conn, [item.transaction_id for item in events])
    problems += _time_problems(sanity, [item.created_at for item in events], "created_at")
    if problems:
        raise _Refused(sorted(problems, key=lambda problem: problem.index or 0))
    rows = [
        (
            item.transaction_id,
            item.created_at,
            item.status,
            item.amount,
            item.channel,
            item.product,
            item.acquirer,
            item.card_type,
            item.auth_code,
            item.duration_ms,
        )
        for item in events
    ]
    try:
        with conn.transaction():
            _copy(conn, COPY_EVENTS, rows)
    except psycopg.errors.UniqueViolation:
        # Only a writer that bypasses the load lock can get here between the check and the copy.
        problem = Problem(
            field="transaction_id",
            reason="a transaction_id was stored meanwhile",
            code="transaction_id_loaded",
        )
        raise _Refused([problem]) from None
    return BatchWritten(kind="events", rows_written=len(rows))


def _time_problems(sanity: loading.TimeSanity, times: list[datetime], field: str) -> list[Problem]:
    problems = []
    for index, at in enumerate(times):
        refused = sanity.judge(at)
        if refused is not None:
            code, reason = refused
            problems.append(
                Problem.model_validate(
                    {"index": index, "field": field, "reason": reason, "code": code}
                )
            )
    return problems


def _duplicate_ids(conn: psycopg.Connection, ids: list[str]) -> list[Problem]:
    """Ids repeated in the batch or already stored, in the CSV loader's words."""
    problems: list[Problem] = []
    first_at: dict[str, int] = {}
    for index, transaction_id in enumerate(ids):
        first = first_at.setdefault(transaction_id, index)
        if first != index:
            reason = f"duplicate transaction_id {transaction_id} (first at index {first})"
            problems.append(
                Problem(
                    index=index,
                    field="transaction_id",
                    reason=reason,
                    code="duplicate_transaction_id",
                )
            )
    # Served by the index that leads with transaction_id; no unique constraint is needed.
    stored = dict(
        conn.execute(
            "select transaction_id, load_id from txmon_raw.transactions"
            " where transaction_id = any(%s)",
            (list(first_at),),
        ).fetchall()
    )
    for transaction_id, index in first_at.items():
        if transaction_id in stored:
            load = stored[transaction_id]
            by = f"load {load}" if load is not None else "outside txmon load"
            reason = f"transaction_id {transaction_id} already loaded ({by})"
            problems.append(
                Problem(
                    index=index, field="transaction_id", reason=reason, code="transaction_id_loaded"
                )
            )
    return sorted(problems, key=lambda problem: problem.index or 0)


def _copy(conn: psycopg.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


# --- errors -------------------------------------------------------------------------------


def _printable(text: str) -> str:
    # A reason may quote a client's value; a lone surrogate in it could not be sent as UTF-8.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _problems_from(errors: list[Any]) -> list[Problem]:
    problems = []
    for error in errors:
        where, *rest = tuple(error.get("loc", ())) or ("",)
        index = None
        field = None
        if error.get("type") == "json_invalid":
            reason = f"invalid JSON: {error.get('ctx', {}).get('error', 'cannot be decoded')}"
        else:
            reason = str(error.get("msg", "invalid"))
            if where == "body" and len(rest) >= 2 and isinstance(rest[1], int):
                index = rest[1]  # ("events", 3, "created_at")
                field = ".".join(str(part) for part in rest[2:]) or None
            elif rest:
                field = ".".join(str(part) for part in rest)
        problems.append(Problem(index=index, field=field, reason=_printable(reason)))
    return problems


def _problems_response(request: Request, problems: list[Problem]) -> JSONResponse:
    if request.method == "POST":
        detail = f"the batch was refused and nothing was written: {len(problems)} problem(s)"
    else:
        detail = f"invalid request: {len(problems)} problem(s)"
    body = Problems(detail=detail, errors=problems)
    return JSONResponse(body.model_dump(), status_code=422)


def _message(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": _printable(detail)}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _problems_response(request, _problems_from(list(error.errors())))

    async def batch_rejected(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, _Refused)
        return _problems_response(request, error.problems)

    async def txmon_error(request: Request, error: Exception) -> JSONResponse:
        # The database cannot be reached, or the views are missing or empty: not the API's bug.
        return _message(503, str(error))

    async def views_missing(request: Request, error: Exception) -> JSONResponse:
        return _message(503, VIEWS_MISSING)

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        logger.warning("database error on %s %s: %s", request.method, request.url.path, error)
        return _message(503, f"database error ({type(error).__name__}): {_first_line(error)}")

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return _message(500, "internal error; the server log has the details")

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(_Refused, batch_rejected)
    app.add_exception_handler(TxmonError, txmon_error)
    app.add_exception_handler(psycopg.errors.UndefinedTable, views_missing)
    app.add_exception_handler(psycopg.errors.UndefinedColumn, views_missing)
    app.add_exception_handler(psycopg.Error, database_error)
    app.add_exception_handler(Exception, unexpected)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


# --- the gate: token and body size, before anything else ---------------------------------------


class _Gate:
    """Pure ASGI middleware: the bearer token first (a caller without it learns nothing, not
    even whether a body is valid), then the body size, counted as it arrives so no more than
    max_body_bytes is ever held in memory."""

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # names are lower-case bytes in ASGI
        needs_token = self.token is not None and scope["path"] not in OPEN_PATHS
        if needs_token and not self._authorised(headers.get(b"authorization", b"")):
            detail = "a valid token is required: send 'Authorization: Bearer <token>'"
            await _send_json(send, 401, {"detail": detail}, [(b"www-authenticate", b"Bearer")])
            return
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    def _authorised(self, header: bytes) -> bool:
        scheme, _, credentials = header.strip().partition(b" ")
        assert self.token is not None
        # compare_digest: the time taken does not tell how much of a guess was right.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)

    async def _too_large(self, send: Send) -> None:
        detail = f"the request body is larger than {self.max_body_bytes:,} bytes; split the batch"
        await _send_json(send, 413, {"detail": detail}, [(b"connection", b"close")])


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> ASGIMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_json(
    send: Send, status: int, content: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = JSONResponse(content).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# --- the app ------------------------------------------------------------------------------


def create_app(
    database_url: str,
    *,
    token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    ingest: Ingest | None = None,
) -> FastAPI:
    """The API over the database at `database_url`; with `token`, bearer auth on all but
    /health and the docs. `ingest` holds the time-sanity settings of POST /transactions (the
    settings file's [ingest] section; its defaults when None)."""
    token = token or None  # an empty token would protect nothing
    ingest = ingest or Ingest()
    app = FastAPI(
        title="txmon API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "monitoring", "description": "The public views of schema `monitoring`."},
            {"name": "ingest", "description": "Raw transactions for the next `txmon build`."},
            {"name": "service", "description": "Liveness and readiness."},
        ],
    )
    app.add_middleware(_Gate, token=token, max_body_bytes=max_body_bytes)
    _install_error_handlers(app)

    # Documents the scheme in OpenAPI (the Authorize button of /docs); _Gate enforces it.
    security = [Security(HTTPBearer(auto_error=False))] if token else []
    responses: dict[int | str, dict[str, Any]] = {
        422: {"model": Problems, "description": "Invalid parameters."},
        503: {"model": Message, "description": "Database unreachable or views missing."},
    }
    if token:
        responses[401] = {"model": Message, "description": "Missing or wrong bearer token."}

    @app.get(
        "/monitor",
        tags=["monitoring"],
        summary="The prototype's /monitor document",
        response_model=MonitorDocument,
        response_model_exclude_unset=True,
        responses=responses,
        dependencies=security,
    )
    def get_monitor() -> Any:
        """Current minute, value, threshold and persistence per metric (the prototype's keys),
        then txmon's: overall severity, judged values, baselines and ongoing episodes."""
        with _reading(database_url) as conn:
            return monitoring.monitor_document(conn)

    @app.get(
        "/status",
        tags=["monitoring"],
        summary="Current status per metric",
        response_model=list[MetricStatusOut],
        responses=responses,
        dependencies=security,
    )
    def get_status() -> Any:
        """monitoring.current_status: every metric at its latest minute."""
        with _reading(database_url) as conn:
            return [_clean(asdict(status)) for status in monitoring.current_status(conn)]

    @app.get(
        "/episodes",
        tags=["monitoring"],
        summary="Anomaly episodes",
        response_model=list[EpisodeOut],
        responses=responses,
        dependencies=security,
    )
    def get_episodes(
        since: Annotated[
            QueryTime, Query(description="Only episodes still open at or after this time.")
        ] = None,
        metric: Annotated[
            str | None, Query(max_length=200, description="Only this metric (failed_rate, ...).")
        ] = None,
    ) -> Any:
        """monitoring.anomaly_episodes, oldest first: every run of anomalous minutes that
        reached INFO."""
        if metric is not None and "\x00" in metric:
            return []  # no metric has such a name, and PostgreSQL text cannot hold NUL
        with _reading(database_url) as conn:
            found = monitoring.episodes(conn, since=since, metric=metric)
        return [_clean(asdict(episode)) for episode in found]

    @app.get(
        "/alerts",
        tags=["monitoring"],
        summary="The alert log",
        response_model=list[AlertOut],
        responses=responses,
        dependencies=security,
    )
    def get_alerts(
        since: Annotated[
            QueryTime, Query(description="Only alerts for minutes from this time.")
        ] = None,
        status: Annotated[
            Literal["pending", "sent", "failed", "suppressed"] | None,
            Query(description="Only notifications in this delivery state."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ALERTS, description="At most this many.")] = 500,
    ) -> Any:
        """monitoring.alert_log, latest first; empty until `txmon dispatch` has run."""
        with _reading(database_url) as conn:
            found = alert_log.entries(conn, status=status, limit=limit, since=since)
            return [asdict(entry) for entry in found]

    @app.get(
        "/metrics/{metric}",
        tags=["monitoring"],
        summary="The minute series of one metric",
        response_model=MetricSeries,
        responses={**responses, 404: {"model": Message, "description": "Unknown metric."}},
        dependencies=security,
    )
    def get_metric(
        metric: Annotated[str, Path(description="failed_rate, denied_rate, ..., volume.")],
        from_: Annotated[
            QueryTime, Query(alias="from", description="First minute (default: `to` - 6 h).")
        ] = None,
        to: Annotated[
            QueryTime, Query(description="Last minute (default: the metric's latest).")
        ] = None,
    ) -> Any:
        """Value, judged value, baseline, threshold, verdict and severity per minute, for
        charts. Both ends are inclusive; at most row_limit minutes come back per request,
        oldest first, with next_from to page on."""
        with _reading(database_url) as conn:
            latest = None if "\x00" in metric else latest_minute(conn, metric)
            if latest is None:
                known = ", ".join(metric_names(conn)) or "none yet: run `txmon build`"
                return _message(404, f"unknown metric {metric[:100]!r}; known: {known}")
            end = to or (latest if from_ is None else max(latest, from_))
            start = from_ or end - DEFAULT_SERIES_SPAN
            if start > end:
                problem = Problem(
                    field="from", reason="'from' is after 'to'", code="range_reversed"
                )
                raise _Refused([problem])
            rows = metric_series(conn, metric, start, end, MAX_SERIES_ROWS + 1)
        truncated = len(rows) > MAX_SERIES_ROWS
        return MetricSeries(
            metric=metric,
            from_=start,
            to=end,
            row_limit=MAX_SERIES_ROWS,
            truncated=truncated,
            next_from=rows[-1]["minute_at"] if truncated else None,
            minutes=[MinutePoint(**_clean(row)) for row in rows[:MAX_SERIES_ROWS]],
        )

    @app.get(
        "/health",
        tags=["service"],
        summary="Database and views",
        response_model=Health,
        responses={503: {"model": Health, "description": "Database unreachable or no views."}},
    )
    def get_health(response: Response) -> Health:
        """200 when the database answers and the views exist, else 503 with the reason. Also
        the newest minute, how old it is, and the last build the scheduler recorded. Needs no
        token."""
        try:
            with _reading(database_url) as conn:
                health = health_facts(conn)
        except DatabaseUnavailable as error:
            health = _unhealthy("error", "unknown", str(error))
        except psycopg.OperationalError as error:  # the connection broke, the server stopped...
            health = _unhealthy("error", "unknown", f"database error: {_first_line(error)}")
        except (psycopg.Error, TxmonError) as error:  # it answered, but not as the views should
            health = _unhealthy("ok", "unknown", f"cannot read the views: {_first_line(error)}")
        if health.status != "ok":
            response.status_code = 503
        return health

    @app.post(
        "/transactions",
        tags=["ingest"],
        summary="Add a batch of counts or transactions",
        status_code=201,
        response_model=BatchWritten,
        responses={
            **responses,
            400: {"model": Message, "description": "The body cannot be read."},
            413: {"model": Message, "description": "Body larger than the server's limit."},
            422: {"model": Problems, "description": "Every bad item; nothing was written."},
        },
        dependencies=security,
    )
    def post_transactions(batch: TransactionBatch) -> BatchWritten:
        """Validated with the CSV loader's rules (`txmon load`), written in one transaction to
        txmon_raw.transaction_counts or txmon_raw.transactions: all of it or, with any bad
        item or a transaction_id already stored, nothing. At most 10,000 items a batch; the
        body may be as large as 10,000 of the longest valid items, twice over. Times more than
        [ingest] future_horizon_minutes ahead of the clock, or that would open a gap of more
        than [ingest] max_gap_days to the stored data and the items before them, are refused
        like `txmon load` refuses such rows. Each problem has a `code`: only `invalid` breaks
        a rule of this schema. The next `txmon build` includes the rows."""
        with connect(database_url) as conn:
            return write_batch(conn, batch, ingest)

    return app


def serve(
    host: str, port: int, database_url: str, token: str | None, settings: Settings | None = None
) -> None:
    """Run the API with uvicorn until interrupted. Without a token, only on loopback.
    `settings` defaults to the settings file ($TXMON_CONFIG, else ./txmon.toml)."""
    token = token or None
    if token is None and host.lower() not in LOOPBACK_HOSTS:
        raise TxmonError(
            f"refusing to serve on {host} without a token: anyone who can reach it could read "
            "the monitoring data and write transactions. Set a token (`txmon serve` reads "
            "$TXMON_API_TOKEN, see --token-env) or listen on 127.0.0.1, localhost or ::1"
        )
    settings = settings or load_settings()
    app = create_app(database_url, token=token, ingest=settings.ingest)
    uvicorn.run(app, host=host, port=port, server_header=False, log_level="info")
