"""The PagerDuty channel: events for the Events API v2 (`POST /v2/enqueue`).

An episode is one PagerDuty alert: every event of it carries the episode id as `dedup_key`, so
ALERT, ESCALATION and REMINDER trigger (and update) the same alert and its RECOVERY resolves
it. txmon's own alerts (STALE, BUILD_FAILED) have no episode and no recovery: they trigger an
alert of their own, under their notification key, for a person to resolve. PagerDuty answers
202 when it has the event; a retry with the same `dedup_key` changes nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import notification_payload, render_text
from txmon.core.facts import severity_rank
from txmon.core.formatting import format_utc

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_SOURCE = "txmon"
# PagerDuty's severities, lowest first: txmon's tiers map onto them by rank (INFO info,
# WARNING warning, CRITICAL error, SEVERE and above critical).
PAGERDUTY_SEVERITIES = ("info", "warning", "error", "critical")
# PagerDuty truncates a longer summary.
SUMMARY_LIMIT = 1024


def pagerduty_severity(severity: str) -> str:
    """PagerDuty's severity for a txmon severity; an unknown one pages as critical."""
    rank = severity_rank(severity)
    if rank is None:
        return PAGERDUTY_SEVERITIES[-1]
    return PAGERDUTY_SEVERITIES[min(max(rank - 1, 0), len(PAGERDUTY_SEVERITIES) - 1)]


class PagerDutyChannel(HttpChannel):
    what = "PagerDuty"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        url: str,
        routing_key: str,
        source: str,
        group: str | None,
        client_url: str | None,
        timeout_seconds: float,
        verify_tls: bool,
        ca_file: Path | None,
    ) -> None:
        super().__init__(
            name,
            min_severity,
            url=url,
            timeout_seconds=timeout_seconds,
            verify_tls=verify_tls,
            ca_file=ca_file,
        )
        self._routing_key = routing_key
        self.source = source
        self.group = group
        self.client_url = client_url

    def settings_text(self) -> str:
        return (
            f"url=<redacted>, routing_key=<redacted>, source={self.source!r}, "
            f"timeout_seconds={self.timeout_seconds}, verify_tls={self.verify_tls}"
        )

    def secrets(self) -> list[str]:
        return [*super().secrets(), self._routing_key]

    def event(self, notification: Notification) -> dict[str, Any]:
        """The Events API v2 event: `resolve` for a RECOVERY, `trigger` for anything else."""
        n = notification
        dedup_key = n.episode_id or n.dedup_key
        if n.event_type == "RECOVERY":
            return {
                "routing_key": self._routing_key,
                "event_action": "resolve",
                "dedup_key": dedup_key,
            }
        payload: dict[str, Any] = {
            "summary": render_text(n)[:SUMMARY_LIMIT],
            "source": self.source,
            "severity": pagerduty_severity(n.severity),
            "timestamp": format_utc(n.minute_at),
            "component": n.subject,
            "class": n.event_type,
            "custom_details": notification_payload(n),
        }
        if self.group is not None:
            payload["group"] = self.group
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": payload,
            "client": DEFAULT_SOURCE,
        }
        if self.client_url is not None:
            event["client_url"] = self.client_url
        return event

    def send(self, notification: Notification) -> None:
        self.post_json(notification, self.event(notification))
