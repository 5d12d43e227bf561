"""The Microsoft Teams channel against a local receiver: one Adaptive Card per notification, as a
Teams workflow's webhook takes it."""

from __future__ import annotations

import json

import pytest

from alerting_helpers import NOTIFICATION, WebServer, notification, one, send_error
from txmon.alerting.channels.teams import TeamsChannel
from txmon.alerting.render import render_text

pytest_plugins = ["alerting_fixtures"]

WORKFLOW_PATH = "/workflows/0123abcd/triggers/manual/paths/invoke?api-version=1&sig=S1gS3cret"


def test_teams_posts_one_adaptive_card(web: WebServer) -> None:
    web.default = 202  # what a workflow answers
    channel = one(
        {"type": "teams", "webhook_url_env": "TEAMS_URL"}, {"TEAMS_URL": web.url + WORKFLOW_PATH}
    )
    assert isinstance(channel, TeamsChannel)
    channel.send(NOTIFICATION)
    (request,) = web.requests
    assert request.path == WORKFLOW_PATH
    assert request.headers["content-type"].startswith("application/json")
    message = json.loads(request.body)
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["fallbackText"] == render_text(NOTIFICATION)
    headline, summary, facts, footer = card["body"]
    assert headline == {
        "type": "TextBlock",
        "text": "WARNING failed_rate ESCALATION",
        "size": "Large",
        "weight": "Bolder",
        "color": "warning",
        "wrap": True,
    }
    assert summary["text"] == "FAILED_RATE anomaly persisted for 30 minutes"
    assert facts["type"] == "FactSet"
    assert {fact["title"]: fact["value"] for fact in facts["facts"]} == {
        "Severity": "WARNING (was INFO)",
        "Metric": "failed_rate",
        "Event": "ESCALATION",
        "Minute (UTC)": "2025-07-15 13:16Z",
        "Minutes": "30 min",
        "Value": "value 4.12% vs threshold 2.00% (baseline 1.10%)",
    }
    assert footer["text"] == f"txmon · {NOTIFICATION.dedup_key}"


@pytest.mark.parametrize(
    ("severity", "event", "colour"),
    [
        ("INFO", "ALERT", "accent"),
        ("CRITICAL", "ESCALATION", "attention"),
        ("SEVERE", "ESCALATION", "attention"),
        ("HEALTHY", "RECOVERY", "good"),
        ("LOUD", "ALERT", "default"),
    ],
)
def test_the_headline_colour_follows_the_severity(
    web: WebServer, severity: str, event: str, colour: str
) -> None:
    one({"type": "teams", "webhook_url": web.url}).send(
        notification(severity=severity, event_type=event)
    )
    card = json.loads(web.requests[0].body)["attachments"][0]["content"]
    assert card["body"][0]["color"] == colour
    assert card["body"][0]["text"] == f"{severity} failed_rate {event}"


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (502, True), (400, False)])
def test_teams_errors_are_classified_like_webhooks(
    web: WebServer, status: int, retryable: bool
) -> None:
    web.statuses.append(status)
    error = send_error(one({"type": "teams", "webhook_url": web.url + WORKFLOW_PATH}))
    assert error.retryable is retryable
    assert str(error) == f"HTTP {status} from Teams workflow"
