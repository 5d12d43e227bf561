"""GET /metrics: the Prometheus exposition of the views, the builds and the alert log, read back
with prometheus_client's own parser."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import listed_metrics, rows
from serve_helpers import TOKEN, serving
from txmon.alerting.channels.config import build_channels
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Delivery, Rules, Settings
from txmon.core.facts import INTERNAL_SCHEMA, PUBLIC_SCHEMA, severity_rank
from txmon.db.connection import connect
from txmon.pipeline import build_state
from txmon.pipeline import views as monitoring
from txmon.serve.app import create_app

pytest_plugins = ["serve_fixtures"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, **headers: str) -> tuple[dict[str, str], Samples]:
    """Every family's type, and every sample's value by name and labels."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def by_metric(samples: Samples, name: str) -> dict[str, float]:
    """One gauge's values by the metric they describe."""
    return {
        dict(labels)["metric"]: value
        for (sample, labels), value in samples.items()
        if sample == name
    }


@pytest.mark.slow
def test_metrics_after_a_build(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        statuses = {status.metric_name: status for status in monitoring.current_status(conn)}
        latest, _ = build_state.data_freshness(conn)
        conn.execute(f"drop table if exists {PUBLIC_SCHEMA}.alert_log cascade")
    assert latest is not None
    [(published, last_published_at)] = rows(
        built_url,
        f"select count(*) filter (where is_published), max(finished_at) filter (where is_published)"
        f" from {INTERNAL_SCHEMA}.build_log",
    )

    types, samples = scrape(http)
    expected: dict[str, Any] = {
        "txmon_metric_value": {name: s.value for name, s in statuses.items()},
        "txmon_metric_judged_value": {name: s.judged_value for name, s in statuses.items()},
        "txmon_metric_baseline": {name: s.baseline for name, s in statuses.items()},
        "txmon_metric_threshold": {name: s.threshold for name, s in statuses.items()},
        "txmon_metric_anomalous": {name: float(s.is_anomalous) for name, s in statuses.items()},
        "txmon_metric_anomalous_duration_seconds": {
            name: s.consecutive_minutes * 60 for name, s in statuses.items()
        },
        "txmon_metric_episode_duration_seconds": {
            name: s.episode_minutes * 60 for name, s in statuses.items()
        },
        "txmon_metric_severity_rank": {
            name: severity_rank(s.severity) for name, s in statuses.items()
        },
    }
    for name, values in expected.items():
        assert types[name] == "gauge"
        # A value not known yet (a baseline before enough history) is left out, never NaN.
        known = {metric: float(value) for metric, value in values.items() if value is not None}
        assert by_metric(samples, name) == pytest.approx(known), name
    assert len(by_metric(samples, "txmon_metric_value")) == len(statuses) == len(listed_metrics())
    # The crisis the fixture ends in: approval collapses, which is anomalous and graded.
    assert by_metric(samples, "txmon_metric_severity_rank")["approval_rate"] > 0
    assert samples[("txmon_latest_minute_timestamp_seconds", ())] == latest.timestamp()
    assert samples[("txmon_data_lag_seconds", ())] > 0
    assert types["txmon_builds"] == "counter"
    assert samples[("txmon_builds_total", (("outcome", "published"),))] == published >= 1
    assert samples[("txmon_builds_total", (("outcome", "failed"),))] == 0
    assert samples[("txmon_last_successful_build_timestamp_seconds", ())] == pytest.approx(
        last_published_at.timestamp()
    )
    # No dispatcher has run: the families are declared, without samples.
    assert not [key for key in samples if key[0].startswith("txmon_notifications")]

    # OpenMetrics for a scraper that asks for it; GET /metrics/{metric} is still the series.
    answer = http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    assert http.get("/metrics/volume").json()["metric"] == "volume"


@pytest.mark.slow
def test_notifications_by_channel_and_status(
    built_url: str, http: httpx.Client, tmp_path: Path
) -> None:
    with connect(built_url) as conn:
        conn.execute(f"drop table if exists {PUBLIC_SCHEMA}.alert_log cascade")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    settings = Settings(
        rules=Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode"),
        delivery=Delivery(max_attempts=1, max_wait_seconds=0),
        channels=(
            {"type": "jsonl", "name": "archive", "path": str(tmp_path / "alerts.jsonl")},
            {"type": "webhook", "name": "hook", "url": nobody},
        ),
    )
    summary = run_dispatch(built_url, settings, build_channels(settings.channels))
    assert summary.delivery is not None and summary.queue.queued > 0
    logged = dict(
        ((channel, status), count)
        for channel, status, count in rows(
            built_url,
            f"select channel, status, count(*) from {PUBLIC_SCHEMA}.alert_log group by 1, 2",
        )
    )

    types, samples = scrape(http)
    assert (types["txmon_notifications"], types["txmon_notifications_pending"]) == (
        "counter",
        "gauge",
    )
    for channel in ("archive", "hook"):
        for status in ("sent", "failed", "suppressed"):
            key = ("txmon_notifications_total", (("channel", channel), ("status", status)))
            assert samples[key] == logged.get((channel, status), 0)
        assert samples[("txmon_notifications_pending", (("channel", channel),))] == 0
    sent = samples[("txmon_notifications_total", (("channel", "archive"), ("status", "sent")))]
    failed = samples[("txmon_notifications_total", (("channel", "hook"), ("status", "failed")))]
    assert sent == failed == summary.delivery.sent == summary.delivery.failed > 0


@pytest.mark.slow
def test_builds_by_outcome(built_url: str) -> None:
    build_log = f"{INTERNAL_SCHEMA}.build_log"
    with connect(built_url) as conn:
        before = build_state.build_record(conn)
        # A failed build, one that published nothing, one killed, and one still running.
        conn.execute(
            f"insert into {build_log} (invocation_id, finished_at, error) values"
            " ('test-failed', now(), 'failed: fct_metric_minutes'), ('test-partial', now(), null),"
            " ('test-killed', null, null), ('test-running', null, null)"
        )
        after = build_state.build_record(conn)
        conn.rollback()
    assert after.outcomes == {
        **before.outcomes,
        "failed": before.outcomes["failed"] + 1,
        "unpublished": before.outcomes["unpublished"] + 1,
        "interrupted": before.outcomes["interrupted"] + 1,
    }
    assert after.last_published_at == before.last_published_at is not None


@pytest.mark.slow
def test_metrics_need_the_token_like_the_other_routes(built_url: str) -> None:
    with serving(create_app(built_url, token=TOKEN)) as server, server.client() as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        _, samples = scrape(client, Authorization=f"Bearer {TOKEN}")
        assert ("txmon_builds_total", (("outcome", "published"),)) in samples


def test_metrics_before_the_first_build(fresh: tuple[str, httpx.Client]) -> None:
    _, client = fresh
    types, samples = scrape(client)
    assert samples == {
        ("txmon_builds_total", (("outcome", outcome),)): 0.0
        for outcome in ("published", "failed", "unpublished", "interrupted")
    }
    assert "txmon_metric_value" not in types


def test_metrics_without_a_database_is_503(down_url: str) -> None:
    with serving(create_app(down_url)) as server, server.client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("cannot connect to PostgreSQL")
