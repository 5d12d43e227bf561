"""Incremental builds on a real server: the rows a build publishes are exactly those a full
refresh gives, late rows within the lateness window are re-judged, older ones are reported, and
readers only ever see whole, published results."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import TXMON, listed_metrics
from pipeline_helpers import PUBLIC_VIEWS, Builder, insert_counts, snapshot
from txmon.db.connection import connect
from txmon.lab import generate
from txmon.pipeline.build_state import late_data
from txmon.pipeline.views import monitor_document

pytestmark = pytest.mark.slow
pytest_plugins = ["pipeline_fixtures"]


def test_minute_by_minute_builds_equal_a_full_refresh(database_url: str, builder: Builder) -> None:
    config = generate.GeneratorConfig(days=1.0, seed=5)
    minutes = list(generate.minute_counts(config))
    incident = min(generate.resolved_incidents(config), key=lambda item: item.started_at)
    # History up to shortly before an incident, then minute by minute through it and past its
    # first severities, with late revisions inside the lateness window along the way.
    first_step = max(int((incident.started_at - config.start) / timedelta(minutes=1)) + 6, 120)
    steps = 24
    insert_counts(database_url, minutes[:first_step])
    builder.run(command="build")
    for step in range(steps):
        position = first_step + step
        insert_counts(database_url, minutes[position : position + 1])
        if step % 7 == 6:
            # A revision of a minute already published, within the lateness window.
            late_minute = minutes[position - 6][0]
            insert_counts(database_url, [(late_minute, {"failed": 7, "approved": 3})])
        builder.run()
    # The rest of the day in one go.
    insert_counts(database_url, minutes[first_step + steps :])
    builder.run()
    incremental = snapshot(database_url)
    assert incremental["anomaly_episodes"], "the scenario must contain episodes"
    assert incremental["alert_events"]

    builder.run("--full-refresh")
    refreshed = snapshot(database_url)
    for view in PUBLIC_VIEWS:
        assert incremental[view] == refreshed[view], view


def published_total(conn: Any, minute: datetime) -> tuple[Any, ...] | None:
    """The transactions the public views count in one minute."""
    return conn.execute(
        "select total_transactions from monitoring.metric_minutes"
        " where metric_name = 'volume' and minute_at = %s",
        (minute,),
    ).fetchone()


def test_rows_older_than_the_window_wait_for_a_full_refresh(
    database_url: str, txmon_env: dict[str, str], builder: Builder
) -> None:
    config = generate.GeneratorConfig(days=0.25, seed=9, incidents=())
    minutes = list(generate.minute_counts(config))
    insert_counts(database_url, minutes[:-30])
    builder.run(command="build")
    insert_counts(database_url, minutes[-30:])
    builder.run()
    late_minute = minutes[-90][0]
    with connect(database_url) as conn:
        judged = published_total(conn, late_minute)
        assert judged is not None and late_data(conn) is None

    insert_counts(database_url, [(late_minute, {"failed": 500})])
    builder.run()
    with connect(database_url) as conn:
        kept = published_total(conn, late_minute)
        late = late_data(conn)
        document = monitor_document(conn)
    assert kept == judged, "a row older than the window is not re-judged by an increment"
    assert late is not None and late.rows == 1
    assert late.earliest_minute_at == late_minute.replace(tzinfo=UTC)
    assert document["needs_full_refresh"] == late.message()
    status = subprocess.run(
        [TXMON, "status"], env=txmon_env, capture_output=True, text=True, check=False
    )
    assert "needs a full refresh" in status.stdout, status.stdout + status.stderr

    subprocess.run(
        [TXMON, "build", "--full-refresh"], env=txmon_env, check=True, capture_output=True
    )
    with connect(database_url) as conn:
        refreshed = published_total(conn, late_minute)
        assert late_data(conn) is None
    assert refreshed is not None and refreshed[0] == judged[0] + 500


def test_a_thirty_day_gap_builds(database_url: str, builder: Builder) -> None:
    """A metric that stays at exactly 0 and a month without data: the carried state decays
    towards 0 for 43,000 minutes and must neither underflow nor break the build."""
    start = datetime(2025, 7, 1)
    steady = {"approved": 100, "denied": 3}
    first_day = [(start + timedelta(minutes=i), steady) for i in range(1440)]
    month_later = [(start + timedelta(days=31, minutes=i), steady) for i in range(60)]
    insert_counts(database_url, [*first_day, *month_later])
    builder.run(command="build")
    with connect(database_url) as conn:
        [(minutes, statuses)] = conn.execute(
            "select (select count(*) from monitoring.metric_minutes where metric_name = 'volume'),"
            " (select count(*) from monitoring.current_status)"
        ).fetchall()
    assert minutes == 31 * 1440 + 60 and statuses == len(listed_metrics())
