"""Delivery from the outbox with its retry state in the database: retries with one key,
failures kept with their error, Retry-After, timeouts, and dispatchers that run at once or
die mid-send (real processes against a local receiver)."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerting_helpers import WebServer
from helpers import TXMON, rows
from txmon.alerting.channels.config import build_channels
from txmon.alerting.delivery import deliver_pending, retry_delay_seconds
from txmon.alerting.notification import Notification
from txmon.alerting.outbox import DispatchSummary, run_dispatch, system_notification
from txmon.core.config import Delivery, Rules, Settings
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect

pytest_plugins = ["alerting_fixtures"]

RULES = Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode")
FAST = Delivery(max_attempts=4, retry_base_seconds=0.05, retry_max_seconds=0.2, max_wait_seconds=5)
# One try now, nothing waited for: what a retry would do is read from the row.
ONE_PASS = Delivery(max_attempts=3, retry_base_seconds=1, retry_max_seconds=300, max_wait_seconds=0)


def dispatch(
    url: str, *channels: dict[str, Any], delivery: Delivery = FAST, **options: Any
) -> DispatchSummary:
    config = Settings(rules=RULES, delivery=delivery, channels=channels)
    return run_dispatch(url, config, build_channels(config.channels), **options)


def log(url: str) -> list[tuple[Any, ...]]:
    return rows(
        url,
        "select status, attempts, last_error, extract(epoch from next_attempt_at - updated_at)"
        f" from {PUBLIC_SCHEMA}.alert_log order by minute_at, notification_id",
    )


def own_alert(number: int = 1) -> Notification:
    """One of txmon's own alerts: queued without any built view."""
    return system_notification(
        f"pipeline@2025-07-12T10:0{number}Z:BUILD_FAILED",
        "pipeline",
        "BUILD_FAILED",
        datetime(2025, 7, 12, 10, number, tzinfo=UTC),
        None,
        "builds fail",
    )


def test_retry_delay_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    delivery = Delivery(retry_base_seconds=2, retry_max_seconds=30)
    assert [retry_delay_seconds(delivery, attempts, None) for attempts in (1, 2, 3, 4, 5)] == [
        2,
        4,
        8,
        16,
        30,
    ]
    assert retry_delay_seconds(delivery, 1, 20) == 20  # the server asked for longer
    assert retry_delay_seconds(delivery, 4, 1) == 16  # backoff is longer
    assert retry_delay_seconds(delivery, 1, 3600) == 30  # never beyond the cap


def test_webhook_retried_until_delivered_with_one_key(alert_url: str, web: WebServer) -> None:
    web.failures_per_key = 2
    summary = dispatch(alert_url, {"type": "webhook", "url": web.url})
    assert summary.delivery is not None
    assert summary.delivery.failed == 0 and summary.delivery.sent == summary.queue.queued
    keys = web.idempotency_keys()
    assert len(keys) == 3 * summary.queue.queued
    assert all(keys.count(key) == 3 for key in keys)
    assert "failed_rate@2025-07-12T10:00Z:ESCALATION:SEVERE" in keys
    assert {row[:3] for row in log(alert_url)} == {("sent", 3, None)}


def test_webhook_400_fails_after_one_try_and_keeps_the_error(
    alert_url: str, web: WebServer
) -> None:
    web.default = 400
    summary = dispatch(alert_url, {"type": "webhook", "url": web.url})
    assert summary.delivery is not None
    assert summary.delivery.failed == summary.queue.queued and summary.delivery.sent == 0
    assert len(web.requests) == summary.queue.queued
    for status, attempts, error, _ in log(alert_url):
        assert (status, attempts, error) == ("failed", 1, "HTTP 400 from webhook")


def test_retries_stop_after_max_attempts(alert_url: str, web: WebServer) -> None:
    web.default = 503
    summary = dispatch(alert_url, {"type": "webhook", "url": web.url})
    assert summary.delivery is not None
    assert summary.delivery.failed == summary.queue.queued
    assert len(web.requests) == FAST.max_attempts * summary.queue.queued
    assert {row[:3] for row in log(alert_url)} == {("failed", 4, "HTTP 503 from webhook")}


def test_a_timeout_is_given_up_on_and_recorded_for_a_retry(
    database_url: str, web: WebServer
) -> None:
    # The receiver holds its answer far longer than the timeout: only timeout_seconds ends it.
    web.hold = True
    hook = {"type": "webhook", "url": web.url, "timeout_seconds": 0.3}
    summary = dispatch(database_url, hook, delivery=ONE_PASS, extra=[own_alert()])
    assert summary.delivery is not None
    assert (summary.delivery.sent, summary.delivery.failed, summary.delivery.waiting) == (0, 0, 1)
    [(status, attempts, error, delay)] = log(database_url)
    assert (status, attempts, error) == ("pending", 1, "no answer from webhook: timed out")
    assert float(delay) == pytest.approx(ONE_PASS.retry_base_seconds, abs=0.01)
    assert len(web.requests) == 1


def test_a_timeout_on_the_last_attempt_fails_the_row(database_url: str, web: WebServer) -> None:
    web.hold = True
    hook = {"type": "webhook", "url": web.url, "timeout_seconds": 0.3}
    last_try = Delivery(max_attempts=1, max_wait_seconds=0)
    summary = dispatch(database_url, hook, delivery=last_try, extra=[own_alert()])
    assert summary.delivery is not None and summary.delivery.failed == 1
    assert [row[:3] for row in log(database_url)] == [
        ("failed", 1, "no answer from webhook: timed out")
    ]


@pytest.mark.parametrize(("retry_after", "delay"), [("120", 120), ("100000", 300)])
def test_retry_after_sets_the_next_attempt(
    database_url: str, web: WebServer, retry_after: str, delay: float
) -> None:
    web.statuses.append(429)
    web.retry_after = retry_after
    dispatch(
        database_url, {"type": "webhook", "url": web.url}, delivery=ONE_PASS, extra=[own_alert()]
    )
    [(status, attempts, error, waited)] = log(database_url)
    assert (status, attempts, error) == ("pending", 1, "HTTP 429 from webhook")
    assert float(waited) == pytest.approx(delay, abs=0.01)


def test_a_channel_no_longer_configured_fails_its_rows(
    database_url: str, web: WebServer, tmp_path: Path
) -> None:
    web.default = 503
    dispatch(
        database_url,
        {"type": "webhook", "name": "old-hook", "url": web.url},
        delivery=ONE_PASS,
        extra=[own_alert()],
    )
    config = Settings(rules=RULES, delivery=ONE_PASS)
    with connect(database_url, autocommit=True) as conn:
        conn.execute(f"update {PUBLIC_SCHEMA}.alert_log set next_attempt_at = now()")
        result = deliver_pending(conn, config, build_channels([{"type": "stdout"}]))
    assert (result.sent, result.failed, result.waiting) == (0, 1, 0)
    [(status, attempts, error, _)] = log(database_url)
    assert (status, attempts, error) == (
        "failed",
        2,
        "channel 'old-hook' is not configured any more",
    )


def write_config(folder: Path, receiver_url: str) -> Path:
    path = folder / "txmon.toml"
    path.write_text(
        "[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n"
        'notify_per = "episode"\n'
        "[delivery]\nretry_base_seconds = 0.05\nmax_wait_seconds = 5\n"
        f'[[channels]]\ntype = "webhook"\nurl = "{receiver_url}"\n'
    )
    return path


def dispatcher(url: str, config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TXMON, "dispatch", "--config", str(config)],
        env={**os.environ, "TXMON_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_dispatchers_at_once_send_each_notification_once(
    alert_url: str, web: WebServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, web.url)
    processes = [dispatcher(alert_url, config) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    keys = web.idempotency_keys()
    assert len(keys) == len(set(keys)) > 5
    sent = rows(
        alert_url, f"select count(*), count(distinct dedup_key) from {PUBLIC_SCHEMA}.alert_log"
    )
    assert sent == [(len(keys), len(keys))]
    assert rows(alert_url, f"select distinct status, attempts from {PUBLIC_SCHEMA}.alert_log") == [
        ("sent", 1)
    ]


def test_crash_between_sending_and_marking_resends_with_the_same_key(
    alert_url: str, web: WebServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, web.url)
    web.hold = True
    process = dispatcher(alert_url, config)
    assert web.arrived.wait(60), "the dispatcher never sent"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    web.hold = False
    web.release.set()
    first_key = web.idempotency_keys()[0]
    assert rows(
        alert_url,
        f"select status from {PUBLIC_SCHEMA}.alert_log where dedup_key = %s",
        (first_key,),
    ) == [("pending",)]
    rerun = dispatcher(alert_url, config)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    keys = web.idempotency_keys()
    assert keys.count(first_key) == 2  # at least once: resent after the crash, same key
    assert rows(
        alert_url, f"select count(*) from {PUBLIC_SCHEMA}.alert_log where status <> 'sent'"
    ) == [(0,)]
