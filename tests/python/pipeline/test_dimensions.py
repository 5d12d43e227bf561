"""Series by dimension end to end: every metric for each value of a monitored dimension, an
incident planted on one acquirer found on that acquirer, values beyond the cap pooled into
`other`, and a value with too little traffic never judged."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import TXMON, build, rows, shared_database
from pipeline_helpers import insert_transactions
from txmon.console.tables import breaking_table
from txmon.core.facts import PUBLIC_SCHEMA, severity_order
from txmon.db.connection import connect
from txmon.pipeline import views

START = datetime(2025, 7, 1, tzinfo=UTC)
HOURS = 10
# cielo fails 30 % of its transactions for the last hour; the others stay at 1 %.
INCIDENT_FROM = START + timedelta(hours=HOURS - 1)
# Shares of the traffic: 'zeta' is so small it never fills a window's minimum.
ACQUIRERS = {"stone": 0.55, "cielo": 0.2, "rede": 0.2, "getnet": 0.049, "zeta": 0.001}
CARD_TYPES = [f"card{number:02d}" for number in range(14)]  # 4 beyond card_type's cap of 10


def planted_transactions() -> Iterator[tuple[str, datetime, str, str | None, str | None]]:
    rng = random.Random(14)
    names, weights = list(ACQUIRERS), list(ACQUIRERS.values())
    number = 0
    for minute_number in range(HOURS * 60):
        minute = START + timedelta(minutes=minute_number)
        for _ in range(rng.randint(90, 110)):
            number += 1
            acquirer = rng.choices(names, weights)[0]
            failing = acquirer == "cielo" and minute >= INCIDENT_FROM
            status = "failed" if rng.random() < (0.3 if failing else 0.01) else "approved"
            # The first card types are seen first; the last four only from the second hour.
            cards = CARD_TYPES if minute_number >= 60 else CARD_TYPES[:10]
            moment = minute + timedelta(seconds=rng.randrange(60))
            yield f"tx-{number}", moment, status, acquirer, rng.choice(cards)


@pytest.fixture(scope="module")
def built_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with shared_database(server_url, tmp_path_factory.mktemp("dimensions")) as url:
        insert_transactions(url, planted_transactions())
        build(url)
        yield url


def test_an_incident_on_one_acquirer_is_found_on_that_acquirer(built_url: str) -> None:
    found = rows(
        built_url,
        f"select dimension, dimension_value, peak_severity from {PUBLIC_SCHEMA}.anomaly_episodes"
        " where metric_name = 'failed_rate' and started_at >= %s",
        (INCIDENT_FROM - timedelta(minutes=5),),
    )
    cuts = {(dimension, value) for dimension, value, _ in found}
    assert ("acquirer", "cielo") in cuts
    assert not {("acquirer", name) for name in ("stone", "rede", "getnet")} & cuts
    events = rows(
        built_url,
        f"select episode_id, message from {PUBLIC_SCHEMA}.alert_events"
        " where metric_name = 'failed_rate' and dimension = 'acquirer'"
        " and dimension_value = 'cielo' and event_type = 'ALERT'",
    )
    assert events, "the acquirer's episode paged"
    episode_id, message = events[0]
    assert episode_id.startswith("failed_rate[acquirer=cielo]@")
    assert message.startswith("FAILED_RATE [acquirer=cielo] anomaly persisted")


def test_every_metric_has_a_series_per_value_and_all_transactions_keep_theirs(
    built_url: str,
) -> None:
    cuts = rows(
        built_url,
        f"select dimension, dimension_value, count(*) from {PUBLIC_SCHEMA}.current_status"
        " group by 1, 2 order by 1, 2",
    )
    per_cut = {(dimension, value): count for dimension, value, count in cuts}
    # Each value has the metrics of the kinds its dimension asks for (acquirers their share
    # too); no durations were loaded, so no latency.
    metrics = per_cut[("all", "all")]
    assert {count for (dimension, _), count in per_cut.items() if dimension == "acquirer"} == {
        metrics + 1
    }
    assert {count for (dimension, _), count in per_cut.items() if dimension == "card_type"} == {
        metrics
    }
    assert {value for dimension, value in per_cut if dimension == "acquirer"} == set(ACQUIRERS)
    # The overall series still answer a query that knows nothing of dimensions.
    overall = rows(
        built_url,
        f"select count(*) from {PUBLIC_SCHEMA}.metric_minutes where dimension = 'all'"
        " and metric_name = 'failed_rate'",
    )
    assert overall == [(HOURS * 60,)]


def test_values_beyond_the_cap_are_pooled_into_other(built_url: str) -> None:
    values = rows(
        built_url,
        f"select distinct dimension_value from {PUBLIC_SCHEMA}.current_status"
        " where dimension = 'card_type' order by 1",
    )
    assert [value for (value,) in values] == sorted([*CARD_TYPES[:10], "other"])
    # Every transaction counts once per dimension: the pooled values add up to all of them.
    totals = rows(
        built_url,
        f"select dimension, sum(numerator) from {PUBLIC_SCHEMA}.metric_minutes"
        " where metric_name = 'volume' group by 1 order by 1",
    )
    by_dimension = dict(totals)
    assert by_dimension["card_type"] == by_dimension["all"] == by_dimension["acquirer"]


def test_a_value_with_too_little_traffic_is_never_judged(built_url: str) -> None:
    judged = rows(
        built_url,
        f"select count(*) filter (where is_warm), count(*) from {PUBLIC_SCHEMA}.metric_minutes"
        " where dimension = 'acquirer' and dimension_value = 'zeta'",
    )
    assert judged[0][0] == 0 and judged[0][1] > 0


def test_the_values_in_trouble_are_listed_and_set_the_verdict(built_url: str) -> None:
    with connect(built_url) as conn:
        breaking = views.breaking_series(conn)
        document = views.monitor_document(conn)
        overall = views.current_status(conn)
    # Card types are drawn independently of acquirers: each holds some of cielo's failures.
    acquirers = {status.dimension_value for status in breaking if status.dimension == "acquirer"}
    assert acquirers == {"cielo"}
    assert {status.dimension for status in overall} == {"all"}
    assert [entry["dimension_value"] for entry in document["breaking"]] == [
        status.dimension_value for status in breaking
    ]
    order = severity_order()
    worst = max(order.index(status.severity) for status in breaking)
    assert order.index(document["overall_severity"]) >= worst > 0
    table = breaking_table(breaking)
    assert table.startswith("Where it is breaking\n")
    assert "cielo" in table and "failed_rate" in table


def test_the_status_command_shows_where_it_breaks(built_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": built_url,
        "TXMON_HOME": str(tmp_path / "home"),
        "TXMON_PROJECT_DIR": str(Path(__file__).resolve().parents[3]),
    }
    env.pop("TXMON_DATABASE", None)
    done = subprocess.run([TXMON, "status"], env=env, capture_output=True, text=True)
    assert "Where it is breaking" in done.stdout
    assert done.returncode in (1, 2), done.stderr


def test_an_incident_names_the_series_of_its_members(built_url: str) -> None:
    members = rows(
        built_url,
        f"select members from {PUBLIC_SCHEMA}.incidents where opened_at >= %s",
        (INCIDENT_FROM,),
    )
    assert members and "failed_rate[acquirer=cielo]" in members[0][0]
