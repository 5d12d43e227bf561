"""GET /metrics/{metric}: a metric's minute series, its range and its refusals."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from serve_helpers import instant
from txmon.db.connection import connect
from txmon.pipeline import views as monitoring
from txmon.serve.routes.metrics import MAX_SERIES_ROWS

pytest_plugins = ["serve_fixtures"]


@pytest.mark.slow
def test_metric_series(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        current = {status.metric_name: status for status in monitoring.current_status(conn)}
    latest = current["approval_rate"].current_minute_at

    series = http.get("/metrics/approval_rate")
    assert series.status_code == 200
    body = series.json()
    assert (body["metric"], body["row_limit"], body["truncated"]) == (
        "approval_rate",
        MAX_SERIES_ROWS,
        False,
    )
    assert instant(body["to"]) == latest and instant(body["from"]) == latest - timedelta(hours=6)
    minutes = body["minutes"]
    assert len(minutes) == 361  # both ends inclusive
    assert [instant(minute["minute_at"]) for minute in minutes[:2]] == [
        latest - timedelta(hours=6),
        latest - timedelta(hours=6, minutes=-1),
    ]
    last = minutes[-1]
    expected = current["approval_rate"]
    assert instant(last["minute_at"]) == latest
    assert (last["value"], last["judged_value"], last["baseline"], last["threshold"]) == (
        expected.value,
        expected.judged_value,
        expected.baseline,
        expected.threshold,
    )
    assert (last["is_anomalous"], last["severity"]) == (expected.is_anomalous, expected.severity)

    window = http.get(
        "/metrics/volume",
        params={"from": "2020-01-01T00:00", "to": (latest - timedelta(minutes=9)).isoformat()},
    ).json()
    assert len(window["minutes"]) == 12 * 60 - 9  # half a day of minutes, less the last nine
    assert window["next_from"] is None

    unknown = http.get("/metrics/no_such_metric")
    assert unknown.status_code == 404
    assert "approval_rate" in unknown.json()["detail"]
    for hostile in ("%00", "'%3B drop table x%3B--", "%F0%9F%9A%80", "x" * 5000, "%ED%A0%80"):
        assert http.get(f"/metrics/{hostile}").status_code == 404, hostile
    assert http.get("/episodes", params={"metric": "\x00"}).status_code == 404
    backwards = http.get(
        "/metrics/volume", params={"from": "2025-01-02T00:00", "to": "2025-01-01T00:00"}
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "from"
    assert backwards.json()["errors"][0]["code"] == "range_reversed"
