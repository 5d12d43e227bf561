"""Silences: added, listed and removed, matched by metric pattern and time, and honoured by the
outbox (logged as suppressed, never sent)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerting_helpers import BURST_START, START, notification
from conftest import REPO_ROOT
from helpers import rows
from txmon.alerting.channels.config import build_channels
from txmon.alerting.outbox import run_dispatch
from txmon.alerting.silences import Silence, add_silence, remove_silence, silences
from txmon.core.config import Rules, Settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect

pytest_plugins = ["alerting_fixtures"]

NOON = datetime(2025, 7, 15, 12, tzinfo=UTC)


def test_a_silence_matches_its_pattern_within_its_time() -> None:
    silence = Silence(1, "failed_*", NOON, NOON + timedelta(hours=1), "maintenance")
    assert silence.matches(notification(metric_name="failed_rate", minute_at=NOON))
    assert not silence.matches(notification(metric_name="volume", minute_at=NOON))
    assert not silence.matches(notification(minute_at=NOON + timedelta(hours=1)))  # end excluded
    assert not silence.matches(notification(minute_at=NOON - timedelta(minutes=1)))
    assert not silence.matches(notification(metric_name="FAILED_RATE", minute_at=NOON))


def test_add_list_and_remove(database_url: str) -> None:
    with connect(database_url) as conn:
        assert silences(conn) == []
        later = add_silence(
            conn, " volume ", NOON + timedelta(hours=2), NOON + timedelta(hours=3), "b"
        )
        first = add_silence(conn, "*", NOON, NOON + timedelta(hours=1), " planned ")
        listed = silences(conn)
        assert [(s.silence_id, s.metric_pattern, s.reason) for s in listed] == [
            (first, "*", "planned"),
            (later, "volume", "b"),
        ]
        assert remove_silence(conn, first) is True
        assert remove_silence(conn, first) is False
        assert [s.silence_id for s in silences(conn)] == [later]


@pytest.mark.parametrize(
    ("pattern", "hours", "reason", "problem"),
    [
        ("*", 0, "r", "a silence must end after it starts"),
        ("*", -1, "r", "a silence must end after it starts"),
        (" ", 1, "r", "a silence needs a metric pattern and a reason"),
        ("*", 1, " ", "a silence needs a metric pattern and a reason"),
    ],
)
def test_a_bad_silence_is_refused(
    database_url: str, pattern: str, hours: int, reason: str, problem: str
) -> None:
    with connect(database_url) as conn, pytest.raises(TxmonError) as caught:
        add_silence(conn, pattern, NOON, NOON + timedelta(hours=hours), reason)
    assert str(caught.value) == problem


def test_a_pattern_that_matches_no_metric_is_a_typo(burst_url: str) -> None:
    with connect(burst_url) as conn:
        with pytest.raises(TxmonError) as caught:
            add_silence(conn, "FAILED_*", NOON, NOON + timedelta(hours=1), "typo")
        assert str(caught.value).startswith("the pattern 'FAILED_*' matches no metric; known: ")
        assert "failed_rate" in str(caught.value) and "pipeline" in str(caught.value)
        conn.rollback()


def test_before_any_build_a_pattern_is_checked_against_the_seed(database_url: str) -> None:
    with connect(database_url) as conn:
        with pytest.raises(TxmonError) as caught:
            add_silence(conn, "failed_rte", NOON, NOON + timedelta(hours=1), "typo")
        # Before a build, every metric of the seed: a share or a latency may be silenced too.
        with (REPO_ROOT / "seeds" / "metric_definitions.csv").open(newline="") as handle:
            seed = sorted(row["metric_name"] for row in csv.DictReader(handle))
        assert str(caught.value) == (
            "the pattern 'failed_rte' matches no metric; known: "
            + ", ".join([*seed, "data", "pipeline"])
        )
        conn.rollback()
        assert add_silence(conn, "failed_*", NOON, NOON + timedelta(hours=1), "planned") >= 1


def test_silenced_notifications_are_logged_not_sent(alert_url: str, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    with connect(alert_url) as conn:
        add_silence(
            conn,
            "failed_*",
            BURST_START.replace(tzinfo=UTC),
            START.replace(tzinfo=UTC) + timedelta(days=1),
            "planned acquirer maintenance",
        )
    settings = Settings(
        rules=Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode"),
        channels=({"type": "jsonl", "path": str(sink)},),
    )
    run_dispatch(alert_url, settings, build_channels(settings.channels))
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    assert "failed_rate" not in {line["metric_name"] for line in sent}
    silenced = rows(
        alert_url,
        f"select status, suppressed_reason from {PUBLIC_SCHEMA}.alert_log"
        " where metric_name = 'failed_rate'",
    )
    assert silenced == [("suppressed", "silenced: planned acquirer maintenance")] * 5
