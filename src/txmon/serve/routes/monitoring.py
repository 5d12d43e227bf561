"""GET /monitor, /status, /episodes and /alerts: the public views as they are."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from txmon.alerting import log as alert_log
from txmon.alerting.log import LogEntry
from txmon.core.facts import DeliveryState
from txmon.pipeline import views
from txmon.pipeline.views import Episode, MetricStatus
from txmon.serve.dependencies import ServedDatabase
from txmon.serve.errors import ERROR_RESPONSES
from txmon.serve.field_types import QueryTime
from txmon.serve.models import AlertOut, EpisodeOut, Message, MetricStatusOut, MonitorDocument

MAX_ALERTS = 10_000

router = APIRouter(tags=["monitoring"], responses=ERROR_RESPONSES)


@router.get(
    "/monitor",
    summary="The prototype's /monitor document",
    response_model=MonitorDocument,
    response_model_exclude_unset=True,
)
def get_monitor(database: ServedDatabase) -> dict[str, Any]:
    """Current minute, value, threshold and persistence per metric (the prototype's keys),
    then txmon's: overall severity, judged values, baselines and ongoing episodes."""
    with database.reading() as conn:
        return views.monitor_document(conn)


@router.get("/status", summary="Current status per metric", response_model=list[MetricStatusOut])
def get_status(database: ServedDatabase) -> list[MetricStatus]:
    """The view current_status for all transactions: every metric at its latest minute
    (`/breaking` lists the dimension values in trouble)."""
    with database.reading() as conn:
        return views.current_status(conn)


@router.get(
    "/breaking",
    summary="Where it is breaking",
    response_model=list[MetricStatusOut],
)
def get_breaking(database: ServedDatabase) -> list[MetricStatus]:
    """The dimension values' series (acquirer = stone, ...) whose episode has reached a
    severity at the latest minute, worst first."""
    with database.reading() as conn:
        return views.breaking_series(conn)


@router.get(
    "/episodes",
    summary="Anomaly episodes",
    response_model=list[EpisodeOut],
    responses={404: {"model": Message, "description": "Unknown metric."}},
)
def get_episodes(
    database: ServedDatabase,
    since: Annotated[
        QueryTime, Query(description="Only episodes still open at or after this time.")
    ] = None,
    metric: Annotated[
        str | None, Query(max_length=200, description="Only this metric (failed_rate, ...).")
    ] = None,
) -> list[Episode]:
    """The anomaly episodes, oldest first: every run of anomalous minutes that reached INFO."""
    with database.reading() as conn:
        if metric is not None:
            views.check_metric(conn, metric)
        return views.episodes(conn, since=since, metric=metric)


@router.get("/alerts", summary="The alert log", response_model=list[AlertOut])
def get_alerts(
    database: ServedDatabase,
    since: Annotated[
        QueryTime, Query(description="Only alerts for minutes from this time.")
    ] = None,
    status: Annotated[
        DeliveryState | None,
        Query(description="Only notifications in this delivery state."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS, description="At most this many.")] = 500,
) -> list[LogEntry]:
    """The alert log, latest first; empty until `txmon dispatch` has run."""
    with database.reading() as conn:
        return alert_log.entries(conn, status=status, limit=limit, since=since)
