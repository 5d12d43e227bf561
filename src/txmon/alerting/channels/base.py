"""What every channel shares: its name, the severity filter and a repr that shows its settings
but never its secrets."""

from __future__ import annotations

import logging

from txmon.alerting.notification import Notification
from txmon.core.facts import severity_rank

log = logging.getLogger(__name__)

# A recovery or a stale-data warning answers an earlier message, so no severity filter may
# hide it.
ALWAYS_ACCEPTED_EVENTS = frozenset({"RECOVERY", "STALE"})


class BaseChannel:
    """A channel named `name` that takes notifications of `min_severity` or above."""

    def __init__(self, name: str, min_severity: str) -> None:
        self.name = name
        self.min_severity = min_severity

    def accepts(self, notification: Notification) -> bool:
        """RECOVERY and STALE always; other events when severity >= min_severity."""
        if notification.event_type.upper() in ALWAYS_ACCEPTED_EVENTS:
            return True
        return self.accepts_severity(notification.severity)

    def accepts_severity(self, severity: str) -> bool:
        """Whether notifications of this severity reach the channel."""
        rank = severity_rank(severity)
        if rank is None:
            return True  # an unknown severity is delivered rather than silently dropped
        minimum = severity_rank(self.min_severity)
        return minimum is None or rank >= minimum

    def settings_text(self) -> str:
        """The channel's own settings for repr(), secrets left out."""
        return ""

    def __repr__(self) -> str:
        extra = self.settings_text()
        return (
            f"{type(self).__name__}(name={self.name!r}, min_severity={self.min_severity!r}"
            f"{', ' + extra if extra else ''})"
        )

    def delivered(self, notification: Notification) -> None:
        log.debug("channel %s delivered %s", self.name, notification.dedup_key)
