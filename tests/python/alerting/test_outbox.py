"""Queueing in the outbox, end to end: real PostgreSQL with built views, the JSON Lines channel
as the receiver, and the `txmon dispatch` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerting_helpers import BURST_START, START
from helpers import TXMON, build, rows
from txmon.alerting.channels.config import build_channels
from txmon.alerting.history import Replay, replay_history
from txmon.alerting.outbox import (
    BACKFILL_REASON,
    DispatchSummary,
    queue_notifications,
    run_dispatch,
    stale_notification,
    system_notification,
)
from txmon.alerting.silences import add_silence
from txmon.core.config import Delivery, Rules, Settings, load_settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline
from txmon.pipeline.build_state import VIEWS_MISSING

pytest_plugins = ["alerting_fixtures"]

# Old data: dispatch everything, and do not alert on staleness unless a test asks.
RULES = Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode")
FAST = Delivery(max_attempts=4, retry_base_seconds=0.05, retry_max_seconds=0.2, max_wait_seconds=5)

# failed_rate through the burst, as the prototype's tiers grade it.
BURST_SEQUENCE = [
    ("ALERT", "INFO"),
    ("ESCALATION", "WARNING"),
    ("ESCALATION", "CRITICAL"),
    ("ESCALATION", "SEVERE"),
    ("RECOVERY", "HEALTHY"),
]


def settings(*channels: dict[str, Any], rules: Rules = RULES) -> Settings:
    return Settings(rules=rules, delivery=FAST, channels=channels)


def dispatch(url: str, config: Settings, **options: Any) -> DispatchSummary:
    return run_dispatch(url, config, build_channels(config.channels), **options)


def replay(url: str, config: Settings) -> Replay:
    return replay_history(url, config, build_channels(config.channels))


def alert_tables(url: str) -> list[tuple[Any, ...]]:
    """Whether the outbox's tables exist, and their rows when they do."""
    names = ("alert_log", "alert_silences", "dispatch_runs")
    found = rows(
        url,
        "select to_regclass(name) from unnest(%s::text[]) as name",
        ([f"{PUBLIC_SCHEMA}.{name}" for name in names],),
    )
    return [
        (name, rows(url, f"select * from {PUBLIC_SCHEMA}.{name} order by 1") if exists else None)
        for name, (exists,) in zip(names, found, strict=True)
    ]


@pytest.fixture()
def sink(tmp_path: Path) -> Path:
    return tmp_path / "alerts.jsonl"


@pytest.fixture()
def to_sink(sink: Path) -> dict[str, Any]:
    """A [[channels]] table that appends to `sink`."""
    return {"type": "jsonl", "path": str(sink)}


def sent(sink: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


def failed_rate_sequence(sink: Path) -> list[tuple[str, str]]:
    return [
        (line["event_type"], line["severity"])
        for line in sent(sink)
        if line["metric_name"] == "failed_rate"
    ]


def log_statuses(url: str, metric: str) -> list[tuple[str, str | None]]:
    return rows(
        url,
        f"select status, suppressed_reason from {PUBLIC_SCHEMA}.alert_log"
        " where metric_name = %s order by minute_at, notification_id",
        (metric,),
    )


def test_one_notification_per_escalation_however_often_dispatch_runs(
    alert_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    config = settings(to_sink)
    first = dispatch(alert_url, config)
    assert first.delivery is not None
    assert first.delivery.failed == 0 and first.delivery.sent == first.queue.queued
    for _ in range(3):
        again = dispatch(alert_url, config)
        assert again.queue.queued == 0 and again.delivery is not None and again.delivery.sent == 0
    build(alert_url)  # a rerun of dbt changes nothing either
    assert dispatch(alert_url, config).queue.queued == 0
    assert failed_rate_sequence(sink) == BURST_SEQUENCE
    assert sent(sink)[0]["episode_minutes"] == 15
    duplicates = rows(
        alert_url,
        f"select dedup_key, channel, count(*) from {PUBLIC_SCHEMA}.alert_log"
        " group by 1, 2 having count(*) > 1",
    )
    assert duplicates == []


def test_each_channel_gets_its_own_row_and_its_own_filter(alert_url: str, tmp_path: Path) -> None:
    everything, critical = tmp_path / "all.jsonl", tmp_path / "critical.jsonl"
    config = settings(
        {"type": "jsonl", "name": "all", "path": str(everything)},
        {"type": "jsonl", "name": "critical", "path": str(critical), "min_severity": "CRITICAL"},
    )
    dispatch(alert_url, config)
    assert failed_rate_sequence(everything) == BURST_SEQUENCE
    assert failed_rate_sequence(critical) == [BURST_SEQUENCE[i] for i in (2, 3, 4)]
    per_channel = rows(
        alert_url,
        f"select channel, count(*) from {PUBLIC_SCHEMA}.alert_log"
        " where metric_name = 'failed_rate' group by channel order by channel",
    )
    assert per_channel == [("all", 5), ("critical", 3)]


def test_stale_data_alert_once_and_no_recovery(
    alert_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    rules = Rules(stale_after_minutes=10, max_event_age_minutes=30, notify_per="episode")
    config = settings(to_sink, rules=rules)
    for _ in range(2):
        summary = dispatch(alert_url, config)
        assert summary.queue.is_stale
    assert [(line["metric_name"], line["event_type"]) for line in sent(sink)] == [("data", "STALE")]
    # Everything in the history is older than max_event_age_minutes: logged, not sent.
    assert {row for row in log_statuses(alert_url, "failed_rate")} == {
        ("suppressed", "older than max_event_age_minutes when first seen")
    }


def test_stale_notification_needs_a_lag_past_the_setting() -> None:
    latest = datetime(2025, 7, 12, 23, 59, tzinfo=UTC)
    rules = Rules(stale_after_minutes=10, notify_per="episode")
    assert stale_notification(latest, latest + timedelta(minutes=11), rules) is None
    stale = stale_notification(latest, latest + timedelta(minutes=12, seconds=1), rules)
    assert stale is not None
    assert (stale.dedup_key, stale.severity) == ("data@2025-07-12T23:59Z:STALE", "CRITICAL")
    assert stale.episode_minutes == 11
    assert (
        stale_notification(
            latest, latest + timedelta(days=1), Rules(stale_after_minutes=0, notify_per="episode")
        )
        is None
    )
    assert stale_notification(None, latest, rules) is None


def test_replay_shows_the_history_and_changes_nothing(
    alert_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    config = settings(to_sink)
    shown = replay(alert_url, config)
    failed = [
        row.notification for row in shown.to_send if row.notification.metric_name == "failed_rate"
    ]
    assert [(n.event_type, n.severity) for n in failed] == BURST_SEQUENCE
    assert shown.text().startswith("replay (nothing written): would send ")
    # Read-only: not even the outbox's tables were created.
    assert [table for table, content in alert_tables(alert_url) if content is not None] == []
    assert not sink.exists()

    # The live dispatch after it sends everything: the replay swallowed nothing.
    dispatch(alert_url, config)
    assert failed_rate_sequence(sink) == BURST_SEQUENCE
    before = alert_tables(alert_url)
    assert replay(alert_url, config).rows == shown.rows  # the history, whatever the log says
    assert alert_tables(alert_url) == before


def test_replay_honours_silences(alert_url: str, to_sink: dict[str, Any]) -> None:
    with connect(alert_url) as conn:
        add_silence(
            conn,
            "failed_*",
            BURST_START.replace(tzinfo=UTC),
            START.replace(tzinfo=UTC) + timedelta(days=1),
            "planned",
        )
    shown = replay(alert_url, settings(to_sink))
    failed = [row for row in shown.rows if row.notification.metric_name == "failed_rate"]
    assert {(row.status, row.suppressed_reason) for row in failed} == {
        ("suppressed", "silenced: planned")
    }
    assert "silenced: planned: 5" in shown.text()


def test_replay_on_the_command_line(
    alert_url: str, to_sink: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text(f'[[channels]]\ntype = "jsonl"\npath = "{to_sink["path"]}"\n')
    result = txmon(
        "dispatch", "--replay", "--config", str(config), env={"TXMON_DATABASE_URL": alert_url}
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "minute",
        "(UTC)",
        "metric",
        "event",
        "severity",
        "lasted",
        "channel",
        "would",
        "be",
    ]
    # Paged per incident (the default): whichever member raised it, an escalation is sent.
    assert any("ESCALATION" in line and line.endswith("sent") for line in lines)
    assert lines[-1].startswith("replay (nothing written): would send ")
    assert [table for table, content in alert_tables(alert_url) if content is not None] == []


def test_backfill_logs_the_history_as_handled_and_sends_none(
    alert_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    config = settings(to_sink)
    summary = dispatch(alert_url, config, backfill=True)
    assert summary.delivery is None and summary.queue.queued == 0
    assert summary.queue.suppressed > 5 and summary.queue.open_episodes == 0
    assert summary.text().startswith(f"backfill: logged {summary.queue.suppressed} notifications")
    assert set(log_statuses(alert_url, "failed_rate")) == {("suppressed", BACKFILL_REASON)}
    assert not sink.exists()
    assert dispatch(alert_url, config).queue.queued == 0  # history stays handled
    runs = rows(alert_url, f"select mode from {PUBLIC_SCHEMA}.dispatch_runs order by run_id")
    assert runs == [("backfill",), ("live",)]


@pytest.mark.slow
def test_after_a_backfill_an_open_episode_still_escalates_and_recovers(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path, sink: Path
) -> None:
    """The history is backfilled while a failure burst is at WARNING; the data that follow
    take it to CRITICAL, SEVERE and back: those three are sent, nothing before them is."""
    burst_minute = 400
    config = generate.GeneratorConfig(
        days=0.5,
        seed=21,
        start=START,
        incidents=(
            generate.Incident("failed_burst", START + timedelta(minutes=burst_minute), 70, 0.2),
        ),
    )
    whole = (
        generated_files.write_counts_csv(tmp_path / "day.csv", config).path.read_text().splitlines()
    )
    header, body = whole[0], whole[1:]
    cut = (burst_minute + 38) * len(generate.STATUSES)  # past WARNING (30), before CRITICAL (45)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("\n".join([header, *body[:cut]]) + "\n")
    second.write_text("\n".join([header, *body[cut:]]) + "\n")
    settings_file = tmp_path / "txmon.toml"
    settings_file.write_text(
        "[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n"
        'notify_per = "episode"\n'
        f'[[channels]]\ntype = "jsonl"\npath = "{sink}"\n'
    )
    backfill = ("dispatch", "--backfill", "--config", str(settings_file))

    with connect(database_url) as conn:
        load_file(conn, first)
    build(database_url)
    assert failed_rate_statuses(database_url)[-1] == "WARNING"

    declined = txmon(*backfill, stdin="n\n")
    assert declined.returncode == 1
    still_open = re.search(r"(\d+) episodes are still open", declined.stdout)
    assert still_open and int(still_open.group(1)) >= 1, declined.stdout
    assert declined.stderr == (
        "txmon: error: backfill not confirmed: nothing was written (--yes skips the question)\n"
    )
    assert rows(database_url, "select to_regclass('monitoring.alert_log')") == [(None,)]
    accepted = txmon(*backfill, stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "episodes still open will have their next escalation or recovery sent" in accepted.stdout
    assert set(log_statuses(database_url, "failed_rate")) == {("suppressed", BACKFILL_REASON)}
    assert not sink.exists()

    with connect(database_url) as conn:
        load_file(conn, second)
    build(database_url)
    live = txmon("dispatch", "--config", str(settings_file))
    assert live.returncode == 0, live.stderr
    assert failed_rate_sequence(sink) == BURST_SEQUENCE[2:]


def failed_rate_statuses(url: str) -> list[str]:
    """failed_rate's severity minute by minute, oldest first."""
    found = rows(
        url,
        f"select severity from {PUBLIC_SCHEMA}.metric_status"
        " where metric_name = 'failed_rate' order by minute_at",
    )
    return [severity for (severity,) in found]


def test_reminders_while_urgent(alert_url: str, sink: Path, to_sink: dict[str, Any]) -> None:
    rules = Rules(
        stale_after_minutes=0,
        max_event_age_minutes=10**7,
        repeat_interval_minutes=10,
        notify_per="episode",
    )
    dispatch(alert_url, settings(to_sink, rules=rules))
    reminders = [line for line in sent(sink) if line["event_type"] == "REMINDER"]
    # CRITICAL from minute 45 to the end of the 70-minute burst (plus the evaluation window).
    assert len(reminders) >= 2
    assert {line["severity"] for line in reminders} <= {"CRITICAL", "SEVERE"}
    assert all(line["dedup_key"].startswith(line["episode_id"]) for line in reminders)
    assert all(line["episode_minutes"] >= 55 for line in reminders)


def test_recovery_only_for_an_episode_whose_alert_was_sent(
    alert_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    """Alerts silenced during the episode: its recovery, after the silence, is not sent."""
    silence_end = BURST_START + timedelta(minutes=80)
    with connect(alert_url) as conn:
        add_silence(
            conn,
            "approval_*",
            BURST_START.replace(tzinfo=UTC),
            silence_end.replace(tzinfo=UTC),
            "known: failures lower approvals",
        )
    dispatch(alert_url, settings(to_sink))
    assert [line["metric_name"] for line in sent(sink)] == ["failed_rate"] * 5
    recovery = rows(
        alert_url,
        f"select minute_at, status, suppressed_reason from {PUBLIC_SCHEMA}.alert_log"
        " where metric_name = 'approval_rate' and event_type = 'RECOVERY'",
    )
    [(minute_at, status, reason)] = recovery
    assert minute_at >= silence_end.replace(tzinfo=UTC)
    assert (status, reason) == ("suppressed", "no alert was sent for this episode")


def test_without_views_only_the_callers_own_alerts_go_out(
    database_url: str, sink: Path, to_sink: dict[str, Any]
) -> None:
    config = settings(to_sink)
    with pytest.raises(TxmonError, match="the monitoring views do not exist yet"):
        dispatch(database_url, config)
    failed_build = system_notification(
        "pipeline@2025-07-12T10:00Z:BUILD_FAILED",
        "pipeline",
        "BUILD_FAILED",
        datetime(2025, 7, 12, 10, tzinfo=UTC),
        None,
        "3 builds in a row failed",
    )
    summary = dispatch(database_url, config, extra=[failed_build])
    assert (summary.queue.queued, summary.queue.latest_minute_at) == (1, None)
    [line] = sent(sink)
    assert (line["metric_name"], line["event_type"], line["severity"]) == (
        "pipeline",
        "BUILD_FAILED",
        "CRITICAL",
    )


def test_a_view_dropped_under_the_queue_is_the_views_missing_error(alert_url: str) -> None:
    channels = build_channels([{"type": "stdout"}])
    with connect(alert_url, autocommit=True) as conn:
        conn.execute(f"alter view {PUBLIC_SCHEMA}.current_status rename to current_status_away")
        try:
            with pytest.raises(TxmonError) as caught:
                queue_notifications(conn, settings({"type": "stdout"}), channels)
        finally:
            conn.execute(f"alter view {PUBLIC_SCHEMA}.current_status_away rename to current_status")
    assert str(caught.value) == VIEWS_MISSING


def test_flapping_is_one_episode_not_a_storm(
    database_url: str, txmon_env: dict[str, str], sink: Path, to_sink: dict[str, Any]
) -> None:
    """Anomalous minutes with single normal minutes between them, judged minute by minute."""
    path = sink.parent / "flapping.csv"
    lines = ["timestamp,status,count"]
    for minute in range(300):
        stamp = (START + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%S")
        flapping = 200 <= minute < 280 and minute % 2 == 0
        lines += [
            f"{stamp},approved,{60 if flapping else 100}",
            f"{stamp},failed,{40 if flapping else 0}",
        ]
    path.write_text("\n".join(lines) + "\n")
    with connect(database_url) as conn:
        load_file(conn, path)
    per_minute = {"evaluation_window_minutes": 1}
    pipeline.build(
        pipeline.with_vars([], {**per_minute, "recovery_minutes": 0}), url=database_url, quiet=True
    )
    strict = rows(
        database_url,
        f"select count(*) from {PUBLIC_SCHEMA}.metric_status"
        " where metric_name = 'failed_rate' and consecutive_minutes = 1",
    )
    assert strict[0][0] == 40  # the prototype's rule: forty one-minute runs
    pipeline.build(pipeline.with_vars([], per_minute), url=database_url, quiet=True)
    episodes = rows(
        database_url,
        "select episode_id, minutes, peak_severity"
        f" from {PUBLIC_SCHEMA}.anomaly_episodes where metric_name = 'failed_rate'",
    )
    assert episodes == [("failed_rate@2025-07-12T03:20Z", 79, "SEVERE")]
    dispatch(database_url, settings(to_sink))
    assert failed_rate_sequence(sink) == BURST_SEQUENCE


def test_config_file_and_cli_listing(alert_url: str, tmp_path: Path, sink: Path) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text(
        "[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n"
        'notify_per = "episode"\n'
        f'[[channels]]\ntype = "jsonl"\npath = "{sink}"\nmin_severity = "CRITICAL"\n'
    )
    loaded = load_settings(config)
    assert loaded.rules.max_event_age_minutes == 10000000
    env = {"TXMON_DATABASE_URL": alert_url}
    result = txmon("dispatch", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dispatch: queued ")
    assert failed_rate_sequence(sink) == BURST_SEQUENCE[2:]
    listing = txmon("alerts", env=env)
    assert "failed_rate" in listing.stdout and "sent" in listing.stdout
    exported = tmp_path / "alert_log.json"
    txmon("alerts", "export", "--json", str(exported), env=env).check_returncode()
    assert json.loads(exported.read_text())[0]["metric"].endswith("_RATE")
    to_stdout = txmon("alerts", "export", "--json", "-", env=env, cwd=tmp_path)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == exported.read_text()
    assert to_stdout.stderr.startswith("wrote ") and to_stdout.stderr.endswith(" to stdout\n")
    assert not (tmp_path / "-").exists()


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text("[rules]\nrecovery_minutes = -1\n")
    result = txmon("dispatch", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith("txmon: error:") and "recovery_minutes" in result.stderr
    config.write_text('[[channels]]\ntype = "webhook"\nurl = "ftp://x.test/"\n')
    result = txmon("dispatch", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr == (
        "txmon: error: channel 'webhook' (webhook): url must be an http:// or https:// URL\n"
    )


def txmon(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TXMON, *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
