"""The Slack channel: a Block Kit message POSTed to an incoming webhook."""

from __future__ import annotations

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import slack_message


class SlackChannel(HttpChannel):
    what = "Slack webhook"
    url_key = "webhook_url"

    def send(self, notification: Notification) -> None:
        self.post_json(notification, slack_message(notification))
