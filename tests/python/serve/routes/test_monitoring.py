"""GET /monitor, /status, /episodes and /alerts serve the views as they are."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from serve_helpers import instant, reason
from txmon.alerting.channels.config import build_channels
from txmon.alerting.log import entries
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Delivery, Rules, Settings
from txmon.db.connection import connect
from txmon.ingest import fields as rules
from txmon.pipeline import views as monitoring

pytest_plugins = ["serve_fixtures"]


@pytest.mark.slow
def test_monitor_and_status_are_the_views(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        document = monitoring.monitor_document(conn)
        statuses = monitoring.current_status(conn)

    monitor = http.get("/monitor")
    assert monitor.status_code == 200
    assert monitor.json() == json.loads(json.dumps(document))
    assert list(monitor.json())[:4] == [
        "current_minute",
        "metrics",
        "thresholds",
        "persistence_analysis",
    ]
    # The planted crisis is at the end of the data: approval collapses for 61 minutes.
    assert monitor.json()["persistence_analysis"]["approval"]["severity"] != "HEALTHY"

    status = http.get("/status")
    assert status.status_code == 200
    served = status.json()
    assert [item["metric_name"] for item in served] == [s.metric_name for s in statuses]
    for item, expected in zip(served, statuses, strict=True):
        item["current_minute_at"] = instant(item["current_minute_at"])
        assert item == asdict(expected)


@pytest.mark.slow
def test_episodes_with_filters(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        every = monitoring.episodes(conn)
        approval = monitoring.episodes(conn, metric="approval_rate")
    assert approval, "the crisis must have produced an approval episode"

    def served(params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        response = http.get("/episodes", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    assert [episode["episode_id"] for episode in served()] == [e.episode_id for e in every]
    only = served({"metric": "approval_rate"})
    assert [episode["episode_id"] for episode in only] == [e.episode_id for e in approval]
    first = only[0]
    assert instant(first["started_at"]) == approval[0].started_at
    assert first["peak_severity"] == approval[0].peak_severity

    # A naive `since` is UTC: the same instant as with an explicit offset.
    start = approval[0].started_at.astimezone(UTC)
    naive = served({"since": start.replace(tzinfo=None).isoformat()})
    shifted = start.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert naive == served({"since": start.isoformat()}) == served({"since": shifted})
    assert served({"since": "2099-12-31T00:00"}) == [
        episode for episode in served() if episode["ended_at"] is None
    ]
    # A typo is refused with the known names, not answered with an empty list.
    unknown = http.get("/episodes", params={"metric": "no_such_metric"})
    assert unknown.status_code == 404
    assert "approval_rate" in unknown.json()["detail"]

    bad = http.get("/episodes", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {
            "index": None,
            "field": "since",
            "reason": reason(rules.parse_timestamp, "yesterday"),
            "code": "invalid",
        }
    ]


@pytest.mark.slow
def test_alerts_empty_until_dispatched_then_the_log(
    built_url: str, http: httpx.Client, tmp_path: Path
) -> None:
    with connect(built_url) as conn:
        conn.execute("drop table if exists monitoring.alert_log cascade")
    assert http.get("/alerts").json() == []

    settings = Settings(
        rules=Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode"),
        delivery=Delivery(),
        channels=({"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")},),
    )
    run_dispatch(built_url, settings, build_channels(settings.channels), backfill=True)
    with connect(built_url) as conn:
        logged = entries(conn, limit=None)
    assert logged, "the backfill must have logged the crisis"

    served = http.get("/alerts")
    assert served.status_code == 200
    assert [alert["dedup_key"] for alert in served.json()] == [e.dedup_key for e in logged]
    first = served.json()[0]
    assert instant(first["minute_at"]) == logged[0].minute_at
    assert first["message"] == logged[0].message

    by_status = http.get("/alerts", params={"status": logged[0].status}).json()
    assert len(by_status) == sum(entry.status == logged[0].status for entry in logged)
    since = logged[0].minute_at.isoformat()
    assert len(http.get("/alerts", params={"since": since}).json()) == sum(
        entry.minute_at >= logged[0].minute_at for entry in logged
    )
    assert len(http.get("/alerts", params={"limit": 1}).json()) == 1
    assert http.get("/alerts", params={"status": "lost"}).status_code == 422
