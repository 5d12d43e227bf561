"""The Slack channel against a local receiver."""

from __future__ import annotations

import json

import pytest

from alerting_helpers import NOTIFICATION, WebServer, one, send_error
from txmon.alerting.channels.slack import SlackChannel
from txmon.alerting.render import slack_message

pytest_plugins = ["alerting_fixtures"]


def test_slack_posts_block_kit(web: WebServer) -> None:
    channel = one({"type": "slack", "webhook_url_env": "SLACK"}, {"SLACK": f"{web.url}/s"})
    assert isinstance(channel, SlackChannel)
    channel.send(NOTIFICATION)
    (request,) = web.requests
    assert request.path == "/s"
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body) == slack_message(NOTIFICATION)


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (403, False)])
def test_slack_errors_are_classified_like_webhooks(
    web: WebServer, status: int, retryable: bool
) -> None:
    web.statuses.append(status)
    error = send_error(one({"type": "slack", "webhook_url": f"{web.url}/s"}))
    assert error.retryable is retryable
    assert str(error) == f"HTTP {status} from Slack webhook"
