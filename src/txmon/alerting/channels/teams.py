"""The Microsoft Teams channel: an Adaptive Card POSTed to a Teams workflow's webhook (the
Power Automate trigger "When a Teams webhook request is received"), which posts it to a
channel or chat."""

from __future__ import annotations

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import teams_message


class TeamsChannel(HttpChannel):
    what = "Teams workflow"
    url_key = "webhook_url"

    def send(self, notification: Notification) -> None:
        self.post_json(notification, teams_message(notification))
