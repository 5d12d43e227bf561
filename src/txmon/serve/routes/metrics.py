"""GET /metrics/{metric}: one metric's minute series, a page at a time, for charts."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from txmon.pipeline import views
from txmon.serve.dependencies import ServedDatabase
from txmon.serve.errors import ERROR_RESPONSES, Refused, message
from txmon.serve.field_types import QueryTime
from txmon.serve.models import Message, MetricSeries, Problem

MAX_SERIES_ROWS = 10_080  # one week of minutes: plenty for a chart, bounded for the server
DEFAULT_SERIES_SPAN = timedelta(hours=6)

router = APIRouter(tags=["monitoring"], responses=ERROR_RESPONSES)


@router.get(
    "/metrics/{metric}",
    summary="The minute series of one metric",
    response_model=MetricSeries,
    responses={404: {"model": Message, "description": "Unknown metric."}},
)
def get_metric(
    database: ServedDatabase,
    metric: Annotated[str, Path(description="failed_rate, denied_rate, ..., volume.")],
    from_: Annotated[
        QueryTime, Query(alias="from", description="First minute (default: `to` - 6 h).")
    ] = None,
    to: Annotated[
        QueryTime, Query(description="Last minute (default: the metric's latest).")
    ] = None,
) -> MetricSeries | JSONResponse:
    """Value, judged value, baseline, threshold, verdict and severity per minute, for
    charts. Both ends are inclusive; at most row_limit minutes come back per request,
    oldest first, with next_from to page on."""
    with database.reading() as conn:
        views.check_metric(conn, metric)
        latest = views.latest_minute(conn, metric)
        if latest is None:
            return message(404, f"no minutes of {metric!r} yet: run `txmon build`")
        end = to or (latest if from_ is None else max(latest, from_))
        start = from_ or end - DEFAULT_SERIES_SPAN
        if start > end:
            problem = Problem(field="from", reason="'from' is after 'to'", code="range_reversed")
            raise Refused([problem])
        minutes = views.metric_series(conn, metric, start, end, MAX_SERIES_ROWS + 1)
    truncated = len(minutes) > MAX_SERIES_ROWS
    return MetricSeries(
        metric=metric,
        from_=start,
        to=end,
        row_limit=MAX_SERIES_ROWS,
        truncated=truncated,
        next_from=minutes[-1].minute_at if truncated else None,
        minutes=minutes[:MAX_SERIES_ROWS],
    )
