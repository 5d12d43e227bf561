"""The Microsoft Teams channel: an Adaptive Card POSTed to a Teams workflow's webhook (the
Power Automate trigger "When a Teams webhook request is received"), which posts it to a
channel or chat."""

from __future__ import annotations

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import canonical_json, teams_message
from txmon.alerting.transport import USER_AGENT


class TeamsChannel(HttpChannel):
    what = "Teams workflow"
    url_key = "webhook_url"

    def send(self, notification: Notification) -> None:
        body = canonical_json(teams_message(notification))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        self.post(notification, body, headers)
