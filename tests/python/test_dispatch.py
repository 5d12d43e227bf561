"""The alert dispatcher end to end: real PostgreSQL, real sockets on 127.0.0.1, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO_ROOT, drop_database, make_database
from helpers import TXMON, build, load_config, rows
from txmon.alerting.channels import build_channels
from txmon.alerting.log import add_silence, seed_records
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Delivery, Rules, Settings, load_settings
from txmon.db.connection import connect
from txmon.lab import generate

pytestmark = pytest.mark.slow

START = datetime(2025, 7, 12)
BURST_START = START + timedelta(minutes=600)
# Old data: dispatch everything, and do not alert on staleness unless a test asks.
RULES = Rules(stale_after_minutes=0, max_event_age_minutes=10**7)
FAST = Delivery(max_attempts=4, retry_base_seconds=0.05, retry_max_seconds=0.2, max_wait_seconds=5)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers a planned sequence of statuses."""

    def __init__(self, default: int = 200) -> None:
        # Each notification's first `failures_per_key` tries get `failure`, later ones `default`.
        self.failures_per_key = 0
        self.failure = 503
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.hold = threading.Event()
        self.holding = False
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                if receiver.holding:
                    receiver.hold.wait(30)
                key = self.headers["Idempotency-Key"]
                tries = sum(1 for seen in receiver.idempotency_keys() if seen == key)
                failing = tries <= receiver.failures_per_key
                status = receiver.failure if failing else receiver.default
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def idempotency_keys(self) -> list[str]:
        return [request["headers"]["Idempotency-Key"] for request in self.requests]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def built_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One day of traffic with a 70-minute failure burst that ends: SEVERE, then recovery."""
    url = make_database(server_url)
    folder = tmp_path_factory.mktemp("dispatch-data")
    os.environ["TXMON_HOME"] = str(folder / "home")
    os.environ["TXMON_PROJECT_DIR"] = str(REPO_ROOT)
    config = generate.GeneratorConfig(
        days=1.0,
        seed=21,
        start=START,
        incidents=(generate.Incident("failed_burst", BURST_START, 70, 0.2),),
    )
    load_config(url, folder, config)
    build(url)
    yield url
    drop_database(server_url, url)


@pytest.fixture()
def url(built_url: str) -> str:
    """The built database with an empty alert log."""
    with connect(built_url) as conn:
        conn.execute(
            "create schema if not exists monitoring;"
            " drop table if exists monitoring.alert_log, monitoring.alert_silences,"
            " monitoring.dispatch_runs"
        )
        conn.commit()
    return built_url


def settings(
    *channels: dict[str, Any], rules: Rules = RULES, delivery: Delivery = FAST
) -> Settings:
    return Settings(rules=rules, delivery=delivery, channels=channels)


def dispatch(url: str, config: Settings, **options: Any) -> Any:
    return run_dispatch(url, config, build_channels(config.channels), **options)


def log(url: str, where: str = "true") -> list[tuple[Any, ...]]:
    return rows(
        url,
        "select metric_name, event_type, severity, status, attempts, channel, last_error"
        f" from monitoring.alert_log where {where} order by minute_at, notification_id",
    )


def failed_rate_sequence(path: Path) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [
        (line["event_type"], line["severity"])
        for line in lines
        if line["metric_name"] == "failed_rate"
    ]


SEED_SEQUENCE = [
    ("ALERT", "INFO"),
    ("ESCALATION", "WARNING"),
    ("ESCALATION", "CRITICAL"),
    ("ESCALATION", "SEVERE"),
    ("RECOVERY", "HEALTHY"),
]


def test_one_notification_per_escalation_however_often_dispatch_runs(
    url: str, tmp_path: Path
) -> None:
    sink = tmp_path / "alerts.jsonl"
    config = settings({"type": "jsonl", "path": str(sink)})
    first = dispatch(url, config)
    assert first.delivery.failed == 0 and first.delivery.sent == first.queue.queued
    for _ in range(3):
        again = dispatch(url, config)
        assert again.queue.queued == 0 and again.delivery.sent == 0
    build(url)  # a rerun of dbt changes nothing either
    assert dispatch(url, config).queue.queued == 0
    assert failed_rate_sequence(sink) == SEED_SEQUENCE
    duplicates = rows(
        url,
        "select dedup_key, channel, count(*) from monitoring.alert_log"
        " group by 1, 2 having count(*) > 1",
    )
    assert duplicates == []


def test_webhook_retried_until_delivered_with_one_key(url: str, receiver: Receiver) -> None:
    receiver.failures_per_key = 2
    config = settings({"type": "webhook", "url": receiver.url})
    summary = dispatch(url, config)
    assert summary.delivery.failed == 0 and summary.delivery.sent == summary.queue.queued
    keys = receiver.idempotency_keys()
    assert len(keys) == 3 * summary.queue.queued
    assert all(keys.count(key) == 3 for key in keys)
    assert "failed_rate@2025-07-12T10:00Z:ESCALATION:SEVERE" in keys
    assert {row[3:5] for row in log(url)} == {("sent", 3)}


def test_webhook_400_fails_after_one_try_and_keeps_the_error(url: str, receiver: Receiver) -> None:
    receiver.default = 400
    config = settings({"type": "webhook", "url": receiver.url})
    summary = dispatch(url, config)
    assert summary.delivery.failed == summary.queue.queued and summary.delivery.sent == 0
    assert len(receiver.requests) == summary.queue.queued
    for _, _, _, status, attempts, _, error in log(url):
        assert status == "failed" and attempts == 1 and "400" in error
        assert receiver.url not in error


def test_retries_stop_after_max_attempts(url: str, receiver: Receiver) -> None:
    receiver.default = 503
    config = settings({"type": "webhook", "url": receiver.url})
    summary = dispatch(url, config)
    assert summary.delivery.failed == summary.queue.queued
    assert len(receiver.requests) == FAST.max_attempts * summary.queue.queued


def write_config(folder: Path, receiver_url: str) -> Path:
    path = folder / "txmon.toml"
    path.write_text(
        "[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n"
        "[delivery]\nretry_base_seconds = 0.05\nmax_wait_seconds = 5\n"
        f'[[channels]]\ntype = "webhook"\nurl = "{receiver_url}"\n'
    )
    return path


def dispatcher(url: str, config: Path) -> subprocess.Popen:
    env = {**os.environ, "TXMON_DATABASE_URL": url}
    return subprocess.Popen(
        [TXMON, "dispatch", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_dispatchers_at_once_send_each_notification_once(
    url: str, receiver: Receiver, tmp_path: Path
) -> None:
    config = write_config(tmp_path, receiver.url)
    processes = [dispatcher(url, config) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    keys = receiver.idempotency_keys()
    assert len(keys) == len(set(keys)) > 5
    sent = rows(url, "select count(*), count(distinct dedup_key) from monitoring.alert_log")
    assert sent == [(len(keys), len(keys))]
    assert rows(url, "select distinct status, attempts from monitoring.alert_log") == [("sent", 1)]


def test_crash_between_sending_and_marking_resends_with_the_same_key(
    url: str, receiver: Receiver, tmp_path: Path
) -> None:
    config = write_config(tmp_path, receiver.url)
    receiver.holding = True
    process = dispatcher(url, config)
    assert receiver.arrived.wait(60), "the dispatcher never sent"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    receiver.holding = False
    receiver.hold.set()
    first_key = receiver.idempotency_keys()[0]
    assert rows(
        url, "select status from monitoring.alert_log where dedup_key = %s", (first_key,)
    ) == [("pending",)]
    rerun = dispatcher(url, config)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    keys = receiver.idempotency_keys()
    assert keys.count(first_key) == 2  # at least once: resent after the crash, same key
    assert rows(url, "select count(*) from monitoring.alert_log where status <> 'sent'") == [(0,)]


def test_stale_data_alert_once_and_no_recovery(url: str, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    rules = Rules(stale_after_minutes=10, max_event_age_minutes=30)
    config = settings({"type": "jsonl", "path": str(sink)}, rules=rules)
    for _ in range(2):
        summary = dispatch(url, config)
        assert summary.queue.is_stale
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [(line["metric_name"], line["event_type"]) for line in sent] == [("data", "STALE")]


def test_silenced_notifications_are_logged_not_sent(url: str, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    with connect(url) as conn:
        add_silence(
            conn,
            "failed_*",
            BURST_START.replace(tzinfo=UTC),
            START.replace(tzinfo=UTC) + timedelta(days=1),
            "planned acquirer maintenance",
        )
    dispatch(url, settings({"type": "jsonl", "path": str(sink)}))
    assert failed_rate_sequence(sink) == []
    silenced = log(url, "metric_name = 'failed_rate'")
    assert [row[3] for row in silenced] == ["suppressed"] * 5
    reasons = rows(
        url,
        "select distinct suppressed_reason from monitoring.alert_log"
        " where metric_name = 'failed_rate'",
    )
    assert reasons == [("silenced: planned acquirer maintenance",)]


def test_replay_logs_the_history_without_sending(url: str, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    config = settings({"type": "jsonl", "path": str(sink)})
    summary = dispatch(url, config, replay=True)
    assert summary.delivery is None and summary.queue.queued == 0
    assert summary.queue.suppressed == len(log(url)) > 5
    assert not sink.exists()
    assert dispatch(url, config).queue.queued == 0  # a live run after a replay pages nobody
    with connect(url) as conn:
        records = seed_records(conn)
    failed = [record for record in records if record["metric"] == "FAILED_RATE"]
    assert [record["event"] for record in failed] == ["ALERT"] * 4 + ["RECOVERY"]
    assert failed[-1]["severity"] == "SEVERE"
    assert set(failed[0]) >= {
        "timestamp",
        "metric",
        "event",
        "severity",
        "consecutive_minutes",
        "message",
    }
    assert failed[0]["message"] == "FAILED_RATE anomaly persisted for 15 minutes"


def test_reminders_while_critical(url: str, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    rules = Rules(stale_after_minutes=0, max_event_age_minutes=10**7, repeat_interval_minutes=10)
    dispatch(url, settings({"type": "jsonl", "path": str(sink)}, rules=rules))
    reminders = [event for event in failed_rate_sequence(sink) if event[0] == "REMINDER"]
    # CRITICAL from minute 45 to the end of the 70-minute burst (plus the evaluation window).
    assert len(reminders) >= 2
    assert {severity for _, severity in reminders} <= {"CRITICAL", "SEVERE"}


def test_config_file_and_cli_listing(url: str, tmp_path: Path) -> None:
    config = tmp_path / "txmon.toml"
    sink = tmp_path / "out.jsonl"
    config.write_text(
        "[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n"
        f'[[channels]]\ntype = "jsonl"\npath = "{sink}"\nmin_severity = "CRITICAL"\n'
    )
    loaded = load_settings(config)
    assert loaded.rules.max_event_age_minutes == 10000000
    env = {**os.environ, "TXMON_DATABASE_URL": url}
    result = subprocess.run(
        [TXMON, "dispatch", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    events = failed_rate_sequence(sink)
    assert events == [("ESCALATION", "CRITICAL"), ("ESCALATION", "SEVERE"), ("RECOVERY", "HEALTHY")]
    listing = subprocess.run([TXMON, "alerts"], env=env, capture_output=True, text=True)
    assert "failed_rate" in listing.stdout and "sent" in listing.stdout
    exported = tmp_path / "alert_log.json"
    subprocess.run([TXMON, "alerts", "export", "--json", str(exported)], env=env, check=True)
    assert json.loads(exported.read_text())[0]["metric"].endswith("_RATE")


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text("[rules]\nrecovery_minutes = -1\n")
    result = subprocess.run(
        [TXMON, "dispatch", "--config", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith("txmon: error:") and "recovery_minutes" in result.stderr


def test_flapping_is_one_episode_not_a_storm(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    """Anomalous minutes with single normal minutes between them, judged minute by minute."""
    path = tmp_path / "flapping.csv"
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
        from txmon.ingest.loading import load_file

        load_file(conn, path)
    from txmon.pipeline import dbt as pipeline

    per_minute = {"evaluation_window_minutes": 1}
    pipeline.build(
        pipeline.with_vars([], {**per_minute, "recovery_minutes": 0}), url=database_url, quiet=True
    )
    strict = rows(
        database_url,
        "select count(*) from monitoring.metric_status"
        " where metric_name = 'failed_rate' and consecutive_minutes = 1",
    )
    assert strict[0][0] == 40  # the prototype's rule: forty one-minute runs
    pipeline.build(pipeline.with_vars([], per_minute), url=database_url, quiet=True)
    episodes = rows(
        database_url,
        "select episode_id, minutes, peak_severity"
        " from monitoring.anomaly_episodes where metric_name = 'failed_rate'",
    )
    assert episodes == [("failed_rate@2025-07-12T03:20Z", 79, "SEVERE")]
    sink = tmp_path / "alerts.jsonl"
    dispatch(database_url, settings({"type": "jsonl", "path": str(sink)}))
    assert failed_rate_sequence(sink) == SEED_SEQUENCE


def test_recovery_only_for_an_episode_whose_alert_was_sent(url: str, tmp_path: Path) -> None:
    """Alerts silenced during the episode: its recovery, after the silence, is not sent."""
    sink = tmp_path / "alerts.jsonl"
    silence_end = BURST_START + timedelta(minutes=80)
    with connect(url) as conn:
        add_silence(
            conn,
            "approval_*",
            BURST_START.replace(tzinfo=UTC),
            silence_end.replace(tzinfo=UTC),
            "known: failures lower approvals",
        )
    dispatch(url, settings({"type": "jsonl", "path": str(sink)}))
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [line["metric_name"] for line in sent] == ["failed_rate"] * 5
    recovery = rows(
        url,
        "select minute_at, status, suppressed_reason from monitoring.alert_log"
        " where metric_name = 'approval_rate' and event_type = 'RECOVERY'",
    )
    [(minute_at, status, reason)] = recovery
    assert minute_at >= silence_end.replace(tzinfo=UTC)
    assert (status, reason) == ("suppressed", "no alert was sent for this episode")
