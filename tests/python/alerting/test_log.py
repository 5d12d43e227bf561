"""Reading the alert log, and its export in the prototype's alert_log.json format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import rows
from txmon.alerting.channels.config import build_channels
from txmon.alerting.log import entries, export_prototype_json, prototype_records
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Rules, Settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect

pytest_plugins = ["alerting_fixtures"]


@pytest.fixture()
def backfilled_url(alert_url: str, tmp_path: Path) -> str:
    """The built history backfilled into the log (nothing sent), to two channels."""
    settings = Settings(
        rules=Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode"),
        channels=({"type": "stdout"}, {"type": "jsonl", "path": str(tmp_path / "a.jsonl")}),
    )
    run_dispatch(alert_url, settings, build_channels(settings.channels), backfill=True)
    return alert_url


def test_the_log_is_empty_before_any_dispatch(database_url: str) -> None:
    with connect(database_url) as conn:
        assert entries(conn) == []
        with pytest.raises(TxmonError, match="the limit must be at least 1, got 0"):
            entries(conn, limit=0)


def test_entries_latest_first_with_filters(backfilled_url: str) -> None:
    total = rows(backfilled_url, f"select count(*) from {PUBLIC_SCHEMA}.alert_log")[0][0]
    with connect(backfilled_url) as conn:
        everything = entries(conn, limit=None)
        assert len(everything) == total
        assert [e.minute_at for e in everything] == sorted(
            (e.minute_at for e in everything), reverse=True
        )
        assert len(entries(conn, limit=3)) == 3
        assert entries(conn, status="sent", limit=None) == []
        assert {e.status for e in entries(conn, status="suppressed", limit=None)} == {"suppressed"}
        since = datetime(2025, 7, 12, 10, 30, tzinfo=UTC)
        assert all(e.minute_at >= since for e in entries(conn, since=since, limit=None))
        first_alert = next(e for e in reversed(everything) if e.metric_name == "failed_rate")
    assert (first_alert.event_type, first_alert.episode_minutes) == ("ALERT", 15)


def test_prototype_records_one_per_notification(backfilled_url: str, tmp_path: Path) -> None:
    with connect(backfilled_url) as conn:
        records = prototype_records(conn)
        path = tmp_path / "alert_log.json"
        assert export_prototype_json(conn, path) == len(records)
    assert json.loads(path.read_text()) == records
    # Two channels, one record each notification.
    assert len({record["dedup_key"] for record in records}) == len(records)
    failed = [record for record in records if record["metric"] == "FAILED_RATE"]
    assert [record["event"] for record in failed] == ["ALERT"] * 4 + ["RECOVERY"]
    assert [record["txmon_event"] for record in failed][:2] == ["ALERT", "ESCALATION"]
    assert failed[-1]["severity"] == "SEVERE"  # what the recovery recovered from
    assert set(failed[0]) >= {
        "timestamp",
        "metric",
        "event",
        "severity",
        "consecutive_minutes",
        "message",
    }
    assert failed[0]["consecutive_minutes"] == 15
    assert failed[0]["timestamp"].endswith(":00") and len(failed[0]["timestamp"]) == 19
    assert failed[0]["message"] == "FAILED_RATE anomaly persisted for 15 minutes"


def test_a_failed_export_leaves_the_earlier_file(backfilled_url: str, tmp_path: Path) -> None:
    # A name the file system takes, but not with the temporary file's prefix and suffix.
    path = tmp_path / ("x" * 250)
    path.write_text("earlier")
    with connect(backfilled_url) as conn, pytest.raises(TxmonError, match="cannot write"):
        export_prototype_json(conn, path)
    assert path.read_text() == "earlier"
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]


def test_an_export_creates_no_folder(backfilled_url: str, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "alert_log.json"
    with (
        connect(backfilled_url) as conn,
        pytest.raises(TxmonError, match=r"cannot write .*missing"),
    ):
        export_prototype_json(conn, path)
    assert not (tmp_path / "missing").exists()
