"""The Slack channel: a Block Kit message POSTed to an incoming webhook."""

from __future__ import annotations

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import canonical_json, slack_message
from txmon.alerting.transport import USER_AGENT


class SlackChannel(HttpChannel):
    what = "Slack webhook"
    url_key = "webhook_url"

    def send(self, notification: Notification) -> None:
        body = canonical_json(slack_message(notification))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        self.post(notification, body, headers)
