"""The Alertmanager channel against a local receiver: the alerts' labels, annotations and times,
escalations that resolve the severity they replace, recoveries, credentials, and a whole episode
through the outbox folded the way Alertmanager folds alerts (by their label sets)."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting_helpers import (
    NOTIFICATION,
    Certificate,
    WebServer,
    closed_port,
    deliver_after_an_outage,
    notification,
    one,
    send_error,
)
from txmon import __version__
from txmon.alerting.channels.alertmanager import AlertmanagerChannel, alerts_url
from txmon.alerting.channels.config import build_channels
from txmon.alerting.outbox import run_dispatch, system_notification
from txmon.core.config import Delivery, Rules, Settings

pytest_plugins = ["alerting_fixtures"]

RULES = Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode")
# The failure burst of the outbox tests' history (alerting_helpers.BURST_START).
BURST_EPISODE = "failed_rate@2025-07-12T10:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def posted(web: WebServer) -> list[list[dict[str, Any]]]:
    """The alerts of every POST, in order."""
    return [json.loads(request.body) for request in web.requests]


def test_an_escalation_fires_its_severity_and_resolves_the_one_it_replaces(
    web: WebServer,
) -> None:
    channel = one(
        {
            "type": "alertmanager",
            "url_env": "AM_URL",
            "labels": {"team": "payments", "env": "prod"},
            "generator_url": "https://txmon.example.com/metrics/failed_rate",
        },
        {"AM_URL": f"{web.url}/"},
    )
    assert isinstance(channel, AlertmanagerChannel)
    before = datetime.now(UTC).replace(microsecond=0)
    channel.send(NOTIFICATION)  # ESCALATION to WARNING, from INFO
    after = datetime.now(UTC)

    (request,) = web.requests
    assert request.path == "/api/v2/alerts"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == f"txmon/{__version__}"
    assert "authorization" not in request.headers
    firing, resolved = json.loads(request.body)
    assert firing["labels"] == {
        "alertname": "TxmonMetricAnomaly",
        "metric": "failed_rate",
        "severity": "warning",
        "episode_id": "failed_rate@2025-07-15T12:47Z",
        "team": "payments",
        "env": "prod",
    }
    assert firing["annotations"] == {
        "summary": "FAILED_RATE anomaly persisted for 30 minutes",
        "description": (
            "[WARNING] failed_rate ESCALATION at 2025-07-15 13:16Z: FAILED_RATE anomaly "
            "persisted for 30 minutes (value 4.12% vs threshold 2.00%, baseline 1.10%, was INFO)"
        ),
        "event": "ESCALATION",
        "dedup_key": NOTIFICATION.dedup_key,
        "value": "4.12%",
        "threshold": "2.00%",
        "baseline": "1.10%",
    }
    assert firing["startsAt"] == "2025-07-15T13:16:00Z"
    # Firing for a day after the post, unless txmon resolves it sooner.
    ends_at = at(firing["endsAt"])
    assert before + timedelta(days=1) <= ends_at <= after + timedelta(days=1)
    assert firing["generatorURL"] == "https://txmon.example.com/metrics/failed_rate"
    # The INFO alert of the same episode ends where WARNING begins.
    assert resolved["labels"] == {**firing["labels"], "severity": "info"}
    assert resolved["startsAt"] == resolved["endsAt"] == "2025-07-15T13:16:00Z"


def test_a_recovery_resolves_the_severity_the_episode_reached(web: WebServer) -> None:
    recovery = notification(
        dedup_key="failed_rate@2025-07-15T12:47Z:RECOVERY:HEALTHY",
        event_type="RECOVERY",
        severity="HEALTHY",
        previous_severity="SEVERE",
        minute_at=datetime(2025, 7, 15, 14, 5, tzinfo=UTC),
        episode_minutes=74,
        message="FAILED_RATE recovered after 74 minutes (was SEVERE)",
    )
    one({"type": "alertmanager", "url": web.url, "resolve_after_minutes": 30}).send(recovery)
    ((alert,),) = posted(web)
    assert alert["labels"]["severity"] == "severe"
    assert alert["labels"]["episode_id"] == "failed_rate@2025-07-15T12:47Z"
    assert alert["startsAt"] == alert["endsAt"] == "2025-07-15T14:05:00Z"
    assert alert["annotations"]["summary"] == recovery.message
    assert "generatorURL" not in alert


def test_a_reminder_posts_the_same_alert_again_with_a_later_end(web: WebServer) -> None:
    reminder = notification(
        dedup_key="failed_rate@2025-07-15T12:47Z:REMINDER:1",
        event_type="REMINDER",
        severity="SEVERE",
        previous_severity="SEVERE",
    )
    channel = one({"type": "alertmanager", "url": web.url, "resolve_after_minutes": 90})
    before = datetime.now(UTC).replace(microsecond=0)
    channel.send(reminder)
    ((alert,),) = posted(web)  # nothing to resolve: the severity did not change
    assert alert["labels"]["severity"] == "severe"
    assert before + timedelta(minutes=90) <= at(alert["endsAt"])


def test_a_severity_below_min_severity_was_never_fired_so_is_not_resolved(
    web: WebServer,
) -> None:
    channel = one({"type": "alertmanager", "url": web.url, "min_severity": "WARNING"})
    channel.send(NOTIFICATION)  # WARNING from INFO: INFO never reached this channel
    channel.send(notification(severity="CRITICAL", previous_severity="WARNING"))
    first, second = posted(web)
    assert [alert["labels"]["severity"] for alert in first] == ["warning"]
    assert [alert["labels"]["severity"] for alert in second] == ["critical", "warning"]


def test_txmons_own_alerts_are_named_after_their_event(web: WebServer) -> None:
    stale = system_notification(
        "data@2025-07-15T13:16Z:STALE",
        "data",
        "STALE",
        datetime(2025, 7, 15, 13, 16, tzinfo=UTC),
        25,
        "No new data for 25 minutes",
    )
    channel = one({"type": "alertmanager", "url": web.url})
    channel.send(stale)
    channel.send(
        system_notification(
            "pipeline@2025-07-15T13:16Z:BUILD_FAILED",
            "pipeline",
            "BUILD_FAILED",
            stale.minute_at,
            None,
            "builds fail",
        )
    )
    ((stale_alert,), (build_alert,)) = posted(web)
    assert stale_alert["labels"] == {
        "alertname": "TxmonStale",
        "metric": "data",
        "severity": "critical",
        "episode_id": "data@2025-07-15T13:16Z:STALE",
    }
    assert build_alert["labels"]["alertname"] == "TxmonBuildFailed"
    assert "value" not in stale_alert["annotations"]


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://am:9093", "http://am:9093/api/v2/alerts"),
        ("http://am:9093/", "http://am:9093/api/v2/alerts"),
        (
            "https://ops.example.com/alertmanager/",
            "https://ops.example.com/alertmanager/api/v2/alerts",
        ),
        ("http://am:9093/api/v2/alerts", "http://am:9093/api/v2/alerts"),
    ],
)
def test_the_alerts_endpoint_under_a_route_prefix(base: str, expected: str) -> None:
    assert alerts_url(base) == expected


def test_basic_auth_and_bearer_token_over_https(
    tls_web: WebServer, certificate: Certificate
) -> None:
    environ = {"AM_PASSWORD": "am-pa55word-S3cret", "AM_TOKEN": "am-bearer-T0ken-S3cret"}
    tls = {"type": "alertmanager", "url": tls_web.url, "ca_file": str(certificate.cert)}
    one({**tls, "username": "txmon", "password_env": "AM_PASSWORD"}, environ).send(NOTIFICATION)
    one({**tls, "bearer_token_env": "AM_TOKEN"}, environ).send(NOTIFICATION)
    basic, bearer = (request.headers["authorization"] for request in tls_web.requests)
    assert basic == "Basic " + base64.b64encode(b"txmon:am-pa55word-S3cret").decode()
    assert bearer == "Bearer am-bearer-T0ken-S3cret"


@pytest.mark.parametrize(
    ("status", "retryable"), [(200, None), (400, False), (429, True), (500, True), (503, True)]
)
def test_alertmanager_answers_are_classified(
    web: WebServer, status: int, retryable: bool | None
) -> None:
    web.statuses.append(status)
    channel = one({"type": "alertmanager", "url": web.url})
    if retryable is None:
        channel.send(NOTIFICATION)
        return
    error = send_error(channel)
    assert error.retryable is retryable
    assert str(error) == f"HTTP {status} from Alertmanager"


@pytest.mark.slow
def test_an_episode_fires_escalates_and_resolves_through_the_outbox(
    alert_url: str, web: WebServer
) -> None:
    requests = deliver_after_an_outage(
        alert_url, {"type": "alertmanager", "url": web.url}, web, 200, RULES
    )

    # Alertmanager merges the alerts of one label set: the latest post's end and annotations,
    # the earliest start. Fold the posts the same way and check that no episode ever has more
    # than one severity firing.
    now = datetime.now(UTC)
    alerts: dict[frozenset[tuple[str, str]], dict[str, Any]] = {}
    for request in requests:
        assert request.path == "/api/v2/alerts"
        for alert in json.loads(request.body):
            key = frozenset(alert["labels"].items())
            earlier = alerts.get(key, alert)
            alerts[key] = {**alert, "startsAt": min(earlier["startsAt"], alert["startsAt"], key=at)}
        firing_episodes = [
            alert["labels"]["episode_id"] for alert in alerts.values() if at(alert["endsAt"]) > now
        ]
        assert len(firing_episodes) == len(set(firing_episodes))

    burst = {
        alert["labels"]["severity"]: alert
        for alert in alerts.values()
        if alert["labels"]["episode_id"] == BURST_EPISODE
    }
    assert sorted(burst) == ["critical", "info", "severe", "warning"]
    starts = [at(burst[severity]["startsAt"]) for severity in ("info", "warning", "critical")]
    assert starts == sorted(starts) and len(set(starts)) == 3  # INFO first, then every 15 min
    # Each tier ended where the next began, and the last one with the recovery.
    assert [burst[severity]["endsAt"] for severity in ("info", "warning", "critical")] == [
        burst[severity]["startsAt"] for severity in ("warning", "critical", "severe")
    ]
    assert burst["severe"]["annotations"]["event"] == "RECOVERY"
    assert at(burst["severe"]["endsAt"]) > at(burst["severe"]["startsAt"])
    # At the end every episode has recovered: nothing is left firing.
    assert all(at(alert["endsAt"]) <= now for alert in alerts.values())


@pytest.mark.slow
def test_reminders_keep_an_urgent_episode_firing(alert_url: str, web: WebServer) -> None:
    rules = RULES.model_copy(update={"repeat_interval_minutes": 10})
    settings = Settings(rules=rules, delivery=Delivery(max_wait_seconds=0))
    run_dispatch(alert_url, settings, build_channels([{"type": "alertmanager", "url": web.url}]))
    reminders = [
        alert
        for request in web.requests
        for alert in json.loads(request.body)
        if alert["annotations"]["event"] == "REMINDER"
        and alert["labels"]["episode_id"] == BURST_EPISODE
    ]
    assert reminders, "the burst stays CRITICAL or above for more than 10 minutes"
    assert {alert["labels"]["severity"] for alert in reminders} <= {"critical", "severe"}
    assert all(at(alert["endsAt"]) > datetime.now(UTC) for alert in reminders)


# Debian and Ubuntu install Alertmanager as prometheus-alertmanager.
ALERTMANAGER = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


@pytest.fixture()
def alertmanager(tmp_path: Path, without_proxies: None) -> Iterator[str]:
    """A real Alertmanager on a free port of 127.0.0.1, with a receiver that sends nothing."""
    assert ALERTMANAGER is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    address = f"127.0.0.1:{closed_port()}"
    server = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",  # no gossip: a single instance
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{address}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "Alertmanager exited"
            assert time.monotonic() < deadline, "Alertmanager did not become ready"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def active_alerts(url: str) -> list[tuple[str, str]]:
    """(severity, state) of every alert Alertmanager holds that has not ended."""
    answer = httpx.get(f"{url}/api/v2/alerts", timeout=5)
    answer.raise_for_status()
    alerts = answer.json()
    return sorted((alert["labels"]["severity"], alert["status"]["state"]) for alert in alerts)


@pytest.mark.skipif(ALERTMANAGER is None, reason="needs Alertmanager (prometheus-alertmanager)")
def test_a_real_alertmanager_takes_the_alerts_and_resolves_them(alertmanager: str) -> None:
    channel = one({"type": "alertmanager", "url": alertmanager, "labels": {"team": "payments"}})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    alert = notification(
        dedup_key="failed_rate@2025-07-15T12:47Z:ALERT:INFO",
        event_type="ALERT",
        severity="INFO",
        previous_severity="HEALTHY",
        minute_at=now - timedelta(minutes=30),
    )
    channel.send(alert)
    assert active_alerts(alertmanager) == [("info", "active")]
    channel.send(notification(minute_at=now - timedelta(minutes=15)))  # WARNING from INFO
    assert active_alerts(alertmanager) == [("warning", "active")]
    channel.send(
        notification(
            event_type="RECOVERY",
            severity="HEALTHY",
            previous_severity="WARNING",
            minute_at=now - timedelta(minutes=1),
        )
    )
    assert active_alerts(alertmanager) == []
