"""The PagerDuty channel against a local receiver: trigger events with the episode as dedup_key,
severities mapped onto PagerDuty's, resolve on recovery, and the Events API's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting_helpers import (
    EXPECTED_PAYLOAD,
    NOTIFICATION,
    WebServer,
    deliver_after_an_outage,
    notification,
    one,
    send_error,
)
from txmon import __version__
from txmon.alerting.channels.config import build_channels
from txmon.alerting.channels.pagerduty import EVENTS_URL, PagerDutyChannel, pagerduty_severity
from txmon.alerting.outbox import system_notification
from txmon.core.config import Rules
from txmon.core.facts import alerting_severities

pytest_plugins = ["alerting_fixtures"]

ROUTING_KEY = "R0uting-Key-0123456789abcdef-S3cret"
ENVIRON = {"PD_ROUTING_KEY": ROUTING_KEY}
BURST_EPISODE = "failed_rate@2025-07-12T10:00Z"


def pagerduty(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "pagerduty", "url": url, "routing_key_env": "PD_ROUTING_KEY", **extra}


def events(web: WebServer) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in web.requests]


def test_an_alert_triggers_with_the_episode_as_dedup_key(web: WebServer) -> None:
    web.default = 202
    channel = one(
        pagerduty(
            f"{web.url}/v2/enqueue",
            source="payments-prod",
            group="payments",
            client_url="https://txmon.example.com/",
        ),
        ENVIRON,
    )
    assert isinstance(channel, PagerDutyChannel)
    channel.send(NOTIFICATION)
    (request,) = web.requests
    assert request.path == "/v2/enqueue"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == f"txmon/{__version__}"
    assert json.loads(request.body) == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "failed_rate@2025-07-15T12:47Z",
        "payload": {
            "summary": (
                "[WARNING] failed_rate ESCALATION at 2025-07-15 13:16Z: FAILED_RATE anomaly "
                "persisted for 30 minutes (value 4.12% vs threshold 2.00%, baseline 1.10%, "
                "was INFO)"
            ),
            "source": "payments-prod",
            "severity": "warning",
            "timestamp": "2025-07-15T13:16:00Z",
            "component": "failed_rate",
            "class": "ESCALATION",
            "group": "payments",
            "custom_details": EXPECTED_PAYLOAD,
        },
        "client": "txmon",
        "client_url": "https://txmon.example.com/",
    }


def test_severities_map_onto_pagerdutys_in_order() -> None:
    assert [pagerduty_severity(name) for name in alerting_severities()] == [
        "info",
        "warning",
        "error",
        "critical",
    ]
    assert pagerduty_severity("LOUD") == "critical"  # an unknown severity pages rather than not


def test_a_recovery_resolves_the_same_dedup_key(web: WebServer) -> None:
    web.default = 202
    recovery = notification(
        dedup_key="failed_rate@2025-07-15T12:47Z:RECOVERY:HEALTHY",
        event_type="RECOVERY",
        severity="HEALTHY",
        previous_severity="WARNING",
    )
    one(pagerduty(web.url), ENVIRON).send(recovery)
    assert events(web) == [
        {
            "routing_key": ROUTING_KEY,
            "event_action": "resolve",
            "dedup_key": "failed_rate@2025-07-15T12:47Z",
        }
    ]


def test_txmons_own_alerts_trigger_under_their_own_key(web: WebServer) -> None:
    web.default = 202
    stale = system_notification(
        "data@2025-07-15T13:16Z:STALE",
        "data",
        "STALE",
        datetime(2025, 7, 15, 13, 16, tzinfo=UTC),
        25,
        "No new data for 25 minutes",
    )
    one(pagerduty(web.url), ENVIRON).send(stale)
    (event,) = events(web)
    assert event["dedup_key"] == "data@2025-07-15T13:16Z:STALE"
    assert (event["payload"]["severity"], event["payload"]["component"]) == ("error", "data")


def test_the_us_service_unless_told_otherwise() -> None:
    (us,) = build_channels([{"type": "pagerduty", "routing_key_env": "K"}], {"K": ROUTING_KEY})
    eu_url = "https://events.eu.pagerduty.com/v2/enqueue"
    (eu,) = build_channels(
        [{"type": "pagerduty", "url_env": "EU", "routing_key_env": "K"}],
        {"K": ROUTING_KEY, "EU": eu_url},
    )
    assert isinstance(us, PagerDutyChannel) and isinstance(eu, PagerDutyChannel)
    assert (us._url, eu._url) == (EVENTS_URL, eu_url)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(202, None), (200, None), (400, False), (403, False), (429, True), (500, True), (503, True)],
)
def test_events_api_answers_are_classified(
    web: WebServer, status: int, retryable: bool | None
) -> None:
    web.statuses.append(status)
    channel = one(pagerduty(web.url), ENVIRON)
    if retryable is None:
        channel.send(NOTIFICATION)
        return
    error = send_error(channel)
    assert error.retryable is retryable
    assert str(error) == f"HTTP {status} from PagerDuty"
    assert error.retry_after == (7.0 if status == 429 else None)


@pytest.mark.slow
def test_an_episode_is_one_incident_from_trigger_to_resolve(
    alert_url: str, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)
    rules = Rules(stale_after_minutes=0, max_event_age_minutes=10**7, notify_per="episode")
    requests = deliver_after_an_outage(alert_url, pagerduty(web.url), web, 202, rules)

    delivered = [json.loads(request.body) for request in requests]
    burst = [event for event in delivered if event["dedup_key"] == BURST_EPISODE]
    assert [event["event_action"] for event in burst] == ["trigger"] * 4 + ["resolve"]
    assert [event["payload"]["severity"] for event in burst[:4]] == [
        "info",
        "warning",
        "error",
        "critical",
    ]
    # Every episode that triggered is resolved once, last, under the key it triggered with.
    triggered = {event["dedup_key"] for event in delivered if event["event_action"] == "trigger"}
    resolved = [event["dedup_key"] for event in delivered if event["event_action"] == "resolve"]
    assert sorted(resolved) == sorted(triggered)
    for key in resolved:
        actions = [event["event_action"] for event in delivered if event["dedup_key"] == key]
        assert actions[-1] == "resolve" and actions.count("resolve") == 1
