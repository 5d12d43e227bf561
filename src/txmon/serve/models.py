"""What the API answers, as OpenAPI documents it.

The status, episode, minute, health and alert-log types are the domain dataclasses of
txmon.pipeline.views and txmon.alerting.log served as they are; `Documented` only adds their
descriptions to the schema. The models defined here exist only on the wire: errors, the
prototype's /monitor document, a page of a metric's series and a written batch.
"""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at run time.

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from txmon.alerting.log import LogEntry
from txmon.core.facts import PUBLIC_SCHEMA, severity_order
from txmon.ingest.writer import WRITE_PROBLEM_CODES
from txmon.pipeline.build_state import Health
from txmon.pipeline.views import Episode, MetricStatus, MinutePoint

SEVERITIES = ", ".join(severity_order()[:-1]) + f" or {severity_order()[-1]}."


class Documented:
    """Annotated metadata that adds descriptions (and examples) to a domain dataclass's OpenAPI
    schema: `Annotated[Episode, Documented(episode_id="...")]`. A field given as a dict sets
    those keys; a name the dataclass lacks is an error, so a renamed field is noticed."""

    def __init__(self, description: str | None = None, **fields: str | Mapping[str, Any]) -> None:
        self.description = description
        self.fields = fields

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        definition = handler.resolve_ref_schema(json_schema)
        if self.description:
            definition["description"] = self.description
        properties = definition["properties"]
        for name, extra in self.fields.items():
            if name not in properties:
                raise KeyError(f"{definition.get('title')} has no field {name!r} to document")
            properties[name].update({"description": extra} if isinstance(extra, str) else extra)
        return json_schema


MetricStatusOut = Annotated[
    MetricStatus,
    Documented(
        dimension="`all` for all transactions, else the monitored dimension (acquirer, ...).",
        dimension_value="`all`, or the dimension's value (`other` pools those beyond its cap).",
        consecutive_minutes="Consecutive anomalous minutes up to now.",
        episode_minutes="How long the ongoing episode has persisted.",
        severity=SEVERITIES,
        baseline_mode="trailing or prototype.",
    ),
]
EpisodeOut = Annotated[
    Episode,
    Documented(
        episode_id={
            "description": "The series (metric, and dimension value if any) and the episode's"
            " first minute.",
            "examples": ["failed_rate@2025-07-15T12:47Z", "failed_rate[acquirer=stone]@..."],
        },
        ended_at="Null while the episode is ongoing.",
        peak_severity=SEVERITIES,
    ),
]
AlertOut = Annotated[
    LogEntry,
    Documented(
        f"One notification of the alert log ({PUBLIC_SCHEMA}.alert_log), for one channel.",
        event_type="ALERT, ESCALATION, RECOVERY, STALE, ...",
        episode_minutes="How long the episode had persisted at the change; for a recovery, how"
        " long it lasted.",
        status="pending, sent, failed or suppressed.",
    ),
]
HealthOut = Annotated[
    Health,
    Documented(
        "Whether the database answers and the views exist (200), or why not (503).",
        latest_minute_at="Newest minute in the views.",
        data_lag_seconds="now() minus the end of the newest minute: how old the data are.",
        last_build_at=f"End of the latest successful build in {PUBLIC_SCHEMA}.build_runs, if"
        " recorded.",
        last_build_succeeded="Whether the latest build succeeded.",
        reason="Why the status is error.",
    ),
]


class Message(BaseModel):
    """An error with its reason."""

    detail: str = Field(description="What went wrong and, where it helps, what to do.")


# Why a request was refused. `invalid` breaks a rule that the OpenAPI schema states; the others
# depend on data the schema cannot know (the stored rows, the clock, the other items).
PROBLEM_CODES = {
    "invalid": "a value, parameter or the batch's shape breaks a rule of the schema",
    **WRITE_PROBLEM_CODES,
    "range_reversed": "'from' is after 'to'",
}
# The same codes, for the schema's enum.
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
    severity: str = Field(description=SEVERITIES)


class BreakingSeries(BaseModel):
    """A dimension value's series whose episode has reached a severity."""

    metric: str = Field(examples=["failed_rate"])
    dimension: str = Field(description="The monitored dimension.", examples=["acquirer"])
    dimension_value: str = Field(description="Its value.", examples=["stone"])
    severity: str = Field(description=SEVERITIES)
    value: float | None = Field(description="The value in the latest minute.")
    baseline: float | None
    episode_id: str | None = Field(examples=["failed_rate[acquirer=stone]@2025-07-15T12:47Z"])


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
    overall_severity: str | None = Field(
        None, description="Worst severity of all series, the dimension values' included."
    )
    baseline_mode: str | None = Field(None, description="trailing or prototype.")
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
    breaking: list[BreakingSeries] | None = Field(
        None,
        description="Where it is breaking: the dimension values' series whose episode has"
        " reached a severity, worst first.",
    )


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


class BatchWritten(BaseModel):
    kind: Literal["counts", "events"]
    rows_written: int
