"""Latency end to end: the median and 95th percentile of duration_ms per minute and series,
a slow tail on one acquirer found on that acquirer, and the SLA setting paging on a series too
new to have a baseline."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from helpers import rows, shared_database
from pipeline_helpers import copy_into_raw
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.pipeline import dbt as pipeline

START = datetime(2025, 7, 1, tzinfo=UTC)
HOURS = 8
# For the last 45 minutes one cielo transaction in five takes seconds; the rest stay fast.
SLOW_FROM = START + timedelta(hours=HOURS) - timedelta(minutes=45)
ACQUIRERS = {"stone": 0.6, "cielo": 0.4}
COLUMNS = "transaction_id, created_at, status, amount, acquirer, duration_ms"


def timed_transactions(
    minutes: int, slow: bool
) -> Iterator[tuple[str, datetime, str, int, str, int]]:
    rng = random.Random(95)
    names, weights = list(ACQUIRERS), list(ACQUIRERS.values())
    number = 0
    for minute_number in range(minutes):
        minute = START + timedelta(minutes=minute_number)
        for _ in range(rng.randint(90, 110)):
            number += 1
            acquirer = rng.choices(names, weights)[0]
            duration = rng.randint(150, 450)
            if slow and acquirer == "cielo" and minute >= SLOW_FROM and rng.random() < 0.2:
                duration = rng.randint(3_000, 6_000)
            moment = minute + timedelta(seconds=rng.randrange(60))
            yield f"tx-{number}", moment, "approved", 10, acquirer, duration


@pytest.fixture(scope="module")
def slow_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with shared_database(server_url, tmp_path_factory.mktemp("latency")) as url:
        copy_into_raw(url, "transactions", COLUMNS, timed_transactions(HOURS * 60, True))
        pipeline.build(url=url, quiet=True)
        yield url


def test_percentiles_are_computed_per_minute_and_series(slow_url: str) -> None:
    before = rows(
        slow_url,
        f"select dimension_value, min(value), max(value) from {PUBLIC_SCHEMA}.metric_minutes"
        " where metric_name = 'latency_p50_ms' and minute_at < %s group by 1 order by 1",
        (SLOW_FROM,),
    )
    assert [value for value, _, _ in before] == ["all", "cielo", "stone"]
    # Durations are uniform on 150..450 ms: every minute's median lies well inside.
    assert all(200 < low <= high < 400 for _, low, high in before)


def test_a_slow_tail_on_one_acquirer_is_found_on_that_acquirer(slow_url: str) -> None:
    episodes = rows(
        slow_url,
        f"select dimension, dimension_value, peak_severity from {PUBLIC_SCHEMA}.anomaly_episodes"
        " where metric_name = 'latency_p95_ms' and started_at >= %s",
        (SLOW_FROM - timedelta(minutes=5),),
    )
    cuts = {(dimension, value) for dimension, value, _ in episodes}
    assert ("acquirer", "cielo") in cuts
    assert ("acquirer", "stone") not in cuts
    cielo = [severity for dimension, value, severity in episodes if value == "cielo"]
    assert cielo[-1] in ("WARNING", "CRITICAL", "SEVERE")
    # The median did not move: half of cielo's transactions are still fast.
    medians = rows(
        slow_url,
        f"select count(*) from {PUBLIC_SCHEMA}.anomaly_episodes"
        " where metric_name = 'latency_p50_ms'",
    )
    assert medians == [(0,)]


def test_the_sla_pages_before_any_baseline(database_url: str, txmon_env: dict[str, str]) -> None:
    # Forty minutes of history, less than min_history_minutes: no baseline judges anything.
    copy_into_raw(database_url, "transactions", COLUMNS, timed_transactions(40, False))
    extra = pipeline.with_vars([], {"latency_sla_ms": 300, "latency_sla_minutes": 5})
    pipeline.build(extra, url=database_url, quiet=True)
    episodes = rows(
        database_url,
        f"select dimension_value, peak_severity from {PUBLIC_SCHEMA}.anomaly_episodes"
        " where metric_name = 'latency_p95_ms'",
    )
    # p95 of 150..450 ms is about 435 ms, above the SLA of 300 every minute.
    severities = {severity for value, severity in episodes if value == "all"}
    assert severities & {"INFO", "WARNING"}
    warm = rows(
        database_url,
        f"select count(*) filter (where is_warm) from {PUBLIC_SCHEMA}.metric_minutes"
        " where metric_name = 'latency_p95_ms'",
    )
    assert warm == [(0,)]
