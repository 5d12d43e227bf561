"""GET /metrics: txmon's state for Prometheus to scrape, in the text exposition format (or
OpenMetrics when the scraper asks for it), built with prometheus_client.

Every scrape reads the public views, txmon's build log and the alert log afresh; nothing is
kept between scrapes, so any number of API processes give the same answer. Per metric: its
latest value, judged value, baseline, threshold, verdict, how long it has been anomalous and
its episode has lasted (in seconds, Prometheus' base unit) and its severity rank; then how
fresh the data are, the builds by outcome and the notifications by channel and status. Before
the first build only the counters are there.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from txmon.alerting import log
from txmon.core.errors import TxmonError
from txmon.core.facts import DELIVERY_STATES, severity_levels, severity_rank
from txmon.core.formatting import SECONDS_PER_MINUTE, finite
from txmon.pipeline import build_state, views
from txmon.pipeline.build_state import BuildRecord
from txmon.pipeline.views import MetricStatus
from txmon.serve.dependencies import ServedDatabase
from txmon.serve.errors import ERROR_RESPONSES

PENDING = "pending"
# The statuses a notification ends in: their counts only grow, so they are counters.
FINAL_STATES = tuple(state for state in DELIVERY_STATES if state != PENDING)


def _severity_help() -> str:
    ranks = ", ".join(f"{level.rank} {level.name}" for level in severity_levels())
    return f"Severity of the metric's latest minute: {ranks}."


# One gauge per metric series: name, help (None: the severities, read from the seed when
# scraped) and how to read it from the metric's status.
SERIES: tuple[tuple[str, str | None, Callable[[MetricStatus], float | None]], ...] = (
    (
        "txmon_metric_value",
        "The metric in its latest minute (rates as fractions, volume in transactions).",
        lambda status: status.value,
    ),
    (
        "txmon_metric_judged_value",
        "The value judged against the threshold: the metric over the evaluation window.",
        lambda status: status.judged_value,
    ),
    (
        "txmon_metric_baseline",
        "The baseline learnt from the minutes before the latest one.",
        lambda status: status.baseline,
    ),
    (
        "txmon_metric_threshold",
        "The threshold the judged value crosses to be anomalous.",
        lambda status: status.threshold,
    ),
    (
        "txmon_metric_anomalous",
        "1 when the metric's latest minute is anomalous, else 0.",
        lambda status: float(status.is_anomalous),
    ),
    (
        "txmon_metric_anomalous_duration_seconds",
        "How long the metric has been anomalous without a break, up to its latest minute "
        "(its consecutive anomalous minutes times 60).",
        lambda status: status.consecutive_minutes * SECONDS_PER_MINUTE,
    ),
    (
        "txmon_metric_episode_duration_seconds",
        "How long the metric's anomaly episode has lasted (its episode minutes times 60; "
        "0 outside one). The severities are tiers of it.",
        lambda status: status.episode_minutes * SECONDS_PER_MINUTE,
    ),
    (
        "txmon_metric_severity_rank",
        None,
        lambda status: severity_rank(status.severity),
    ),
)

router = APIRouter(tags=["monitoring"])


@dataclass(frozen=True)
class Scrape:
    """What one scrape reports, read in one transaction."""

    statuses: list[MetricStatus]
    latest_minute_at: datetime | None
    data_lag_seconds: float | None
    builds: BuildRecord
    notifications: dict[tuple[str, str], int]


def read_scrape(conn: psycopg.Connection) -> Scrape:
    try:
        statuses = views.current_status(conn)
    except TxmonError:
        statuses = []  # no views or no data yet: the counters alone
    latest, lag = build_state.data_freshness(conn) if statuses else (None, None)
    return Scrape(
        statuses, latest, lag, build_state.build_record(conn), log.notification_counts(conn)
    )


def _gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    """A gauge without labels; none at all when the value is unknown."""
    number = finite(value)
    if number is not None:
        yield GaugeMetricFamily(name, documentation, value=number)


def _unix_time(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class ScrapeCollector(Collector):
    """The metric families of one scrape."""

    def __init__(self, scrape: Scrape) -> None:
        self.scrape = scrape

    def collect(self) -> Iterator[Metric]:
        yield from self._series()
        scrape = self.scrape
        yield from _gauge(
            "txmon_latest_minute_timestamp_seconds",
            "Start of the newest minute in the monitoring views, as a Unix time.",
            _unix_time(scrape.latest_minute_at),
        )
        yield from _gauge(
            "txmon_data_lag_seconds",
            "Seconds since the newest minute in the monitoring views ended.",
            scrape.data_lag_seconds,
        )
        yield from self._builds()
        yield from self._notifications()

    def _series(self) -> Iterator[Metric]:
        for name, documentation, read in SERIES:
            family = GaugeMetricFamily(name, documentation or _severity_help(), labels=["metric"])
            for status in self.scrape.statuses:
                value = finite(read(status))
                if value is not None:
                    family.add_metric([status.metric_name], value)
            if family.samples:
                yield family

    def _builds(self) -> Iterator[Metric]:
        builds = self.scrape.builds
        family = CounterMetricFamily(
            "txmon_builds",
            "Builds in txmon's build log by outcome: published, failed (a model or test "
            "failed), unpublished (finished without the models) or interrupted (never finished).",
            labels=["outcome"],
        )
        for outcome, count in builds.outcomes.items():
            family.add_metric([outcome], count)
        yield family
        yield from _gauge(
            "txmon_last_successful_build_timestamp_seconds",
            "When the latest build that published its results finished, as a Unix time.",
            _unix_time(builds.last_published_at),
        )

    def _notifications(self) -> Iterator[Metric]:
        counts = self.scrape.notifications
        channels = sorted({channel for channel, _ in counts})
        done = CounterMetricFamily(
            "txmon_notifications",
            "Notifications in the alert log by channel and final status: sent, failed "
            "(given up on) or suppressed (silenced, replayed or too old).",
            labels=["channel", "status"],
        )
        pending = GaugeMetricFamily(
            "txmon_notifications_pending",
            "Notifications in the alert log waiting to be sent (or retried), by channel.",
            labels=["channel"],
        )
        for channel in channels:
            for state in FINAL_STATES:
                done.add_metric([channel, state], counts.get((channel, state), 0))
            pending.add_metric([channel], counts.get((channel, PENDING), 0))
        yield done
        yield pending


@router.get(
    "/metrics",
    summary="Metrics for Prometheus",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {}},
            "description": "The Prometheus text exposition format (OpenMetrics on request).",
        },
        503: ERROR_RESPONSES[503],
    },
)
def get_prometheus_metrics(database: ServedDatabase, request: Request) -> Response:
    """Every metric's latest value, judged value, baseline, threshold, verdict, anomalous
    and episode durations and severity rank (label `metric`); the newest minute and the data
    lag; builds by outcome; notifications by channel and status. For Prometheus to scrape;
    it needs the bearer token like the other routes when the server has one."""
    with database.reading() as conn:
        scrape = read_scrape(conn)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector(scrape))
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), media_type=content_type)
