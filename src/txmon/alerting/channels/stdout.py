"""The stdout channel: one text line per notification."""

from __future__ import annotations

import sys

from txmon.alerting.channels.base import BaseChannel
from txmon.alerting.notification import DeliveryError, Notification
from txmon.alerting.render import render_text


class StdoutChannel(BaseChannel):
    def send(self, notification: Notification) -> None:
        try:
            # sys.stdout is looked up on every send so that redirection (and capsys) applies.
            print(render_text(notification), file=sys.stdout, flush=True)
        except (OSError, ValueError) as error:
            raise DeliveryError(
                f"cannot write to stdout: {type(error).__name__}", retryable=False
            ) from None
        self.delivered(notification)
