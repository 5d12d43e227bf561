"""The terminal tables: plain text that reads the same in a log as on a terminal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from txmon.alerting.log import LogEntry
from txmon.console.tables import (
    alert_log_table,
    breaking_table,
    episodes_table,
    loads_table,
    render_table,
    status_table,
)
from txmon.ingest.loads import LoadInfo
from txmon.pipeline.views import Episode, MetricStatus

MINUTE = datetime(2025, 7, 14, 23, 59, tzinfo=UTC)


def status(
    metric: str, value: float, minutes: int, severity: str, cut: tuple[str, str] = ("all", "all")
) -> MetricStatus:
    return MetricStatus(
        metric_name=metric,
        dimension=cut[0],
        dimension_value=cut[1],
        short_name=metric.removesuffix("_rate"),
        current_minute_at=MINUTE,
        value=value,
        judged_value=value,
        baseline=value / 2,
        threshold=value * 0.8,
        is_anomalous=minutes > 0,
        consecutive_minutes=minutes,
        episode_minutes=minutes,
        severity=severity,
        episode_id=None,
        baseline_mode="trailing",
    )


def log_entry(**changes: Any) -> LogEntry:
    values: dict[str, Any] = {
        "notification_id": 1,
        "minute_at": MINUTE,
        "metric_name": "failed_rate",
        "event_type": "ESCALATION",
        "severity": "CRITICAL",
        "previous_severity": "WARNING",
        "episode_minutes": 45,
        "message": "failed_rate is CRITICAL",
        "channel": "webhook",
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "suppressed_reason": None,
        "sent_at": None,
        "dedup_key": "failed_rate@2025-07-14T23:14Z:ESCALATION:CRITICAL",
    }
    return LogEntry(**{**values, **changes})


def test_a_table_is_plain_text_with_a_rule_under_the_header() -> None:
    table = render_table(("name", "count"), [("a", "7"), ("longer name", "1,234")], right={1})
    assert table.splitlines() == [
        "name         count",
        "-----------  -----",
        "a                7",
        "longer name  1,234",
    ]
    assert "\x1b" not in table  # no colour codes, also when a terminal is attached


def test_a_long_cell_makes_a_long_line_not_a_wrapped_table() -> None:
    name = "/data/" + "x" * 300 + ".csv"
    table = render_table(("file",), [(name,)], right=set())
    assert table.splitlines()[2] == name
    # A wide character takes two cells: the rule under the heading spans the name's width.
    assert render_table(("file",), [("名前.csv",)], right=set()).splitlines()[1] == "-" * 8


def test_status_table() -> None:
    table = status_table(
        [status("approval_rate", 0.7524, 47, "CRITICAL"), status("volume", 105, 0, "HEALTHY")]
    )
    lines = table.splitlines()
    assert lines[0] == "Status at 2025-07-14 23:59:00 UTC (trailing baseline)"
    assert lines[1].split() == [
        "metric",
        "value",
        "judged",
        "baseline",
        "threshold",
        "minutes",
        "severity",
    ]
    assert lines[3].split() == [
        "approval_rate",
        "75.24%",
        "75.24%",
        "37.62%",
        "60.19%",
        "47",
        "CRITICAL",
    ]
    assert lines[4].split()[:2] == ["volume", "105"]


def test_episodes_table() -> None:
    episode = Episode(
        episode_id="failed_rate[acquirer=stone]@2025-07-14T22:00Z",
        metric_name="failed_rate",
        dimension="acquirer",
        dimension_value="stone",
        started_at=datetime(2025, 7, 14, 22, 0, tzinfo=UTC),
        ended_at=None,
        minutes=120,
        peak_severity="SEVERE",
        peak_value=0.25,
    )
    lines = episodes_table([episode]).splitlines()
    assert lines[2].split() == [
        "failed_rate[acquirer=stone]",
        "2025-07-14",
        "22:00",
        "ongoing",
        "120",
        "SEVERE",
        "25.00%",
    ]
    assert "No episodes" in episodes_table([])


def test_breaking_table() -> None:
    breaking = [status("failed_rate", 0.2, 31, "WARNING", ("acquirer", "cielo"))]
    lines = breaking_table(breaking).splitlines()
    assert lines[0] == "Where it is breaking"
    expected = ["acquirer", "cielo", "failed_rate", "20.00%", "10.00%", "31", "WARNING"]
    assert lines[3].split() == expected
    assert "No dimension value" in breaking_table([])


@pytest.mark.parametrize(
    ("changes", "status_cell", "note"),
    [
        ({}, "pending", ""),
        ({"status": "failed", "attempts": 5, "last_error": "HTTP 500"}, "failed (5)", "HTTP 500"),
        ({"status": "suppressed", "suppressed_reason": "maintenance"}, "suppressed", "maintenance"),
    ],
    ids=["pending", "failed", "suppressed"],
)
def test_alert_log_table(changes: dict[str, Any], status_cell: str, note: str) -> None:
    line = alert_log_table([log_entry(**changes)]).splitlines()[2]
    assert line.startswith("2025-07-14 23:59  failed_rate  ESCALATION  CRITICAL")
    assert f"webhook  {status_cell}" in line
    assert line.endswith(note or status_cell)


def test_an_empty_alert_log_says_what_fills_it() -> None:
    assert "txmon dispatch" in alert_log_table([])


def test_loads_table() -> None:
    first = LoadInfo(
        load_id=1,
        file_name="/data/a.csv",
        input_shape="counts",
        rows_loaded=12_000,
        rows_rejected=0,
        first_minute_at=datetime(2025, 1, 1, 10, 0, tzinfo=UTC),
        last_minute_at=datetime(2025, 1, 1, 10, 9, tzinfo=UTC),
        loaded_at=datetime(2025, 1, 2, 8, 30, 5, tzinfo=UTC),
        is_forced=False,
    )
    empty = LoadInfo(
        load_id=12,
        file_name="/data/b.csv",
        input_shape="events",
        rows_loaded=0,
        rows_rejected=3,
        first_minute_at=None,
        last_minute_at=None,
        loaded_at=datetime(2025, 1, 2, 9, 0, tzinfo=UTC),
        is_forced=True,
    )
    lines = loads_table([first, empty]).splitlines()
    assert lines[0].split()[:4] == ["load", "shape", "loaded", "rejected"]
    assert lines[2].split()[:4] == ["1", "counts", "12,000", "0"]
    assert "2025-01-01 10:00 .. 2025-01-01 10:09" in lines[2]
    assert lines[2].split()[-2:] == ["no", "/data/a.csv"]
    assert lines[3].split()[-2:] == ["yes", "/data/b.csv"]
    assert lines[3].split()[:5] == ["12", "events", "0", "3", "-"]
    assert loads_table([]) == "no loads yet (txmon load FILE)"
