"""The Alertmanager channel: alerts POSTed to Alertmanager's API v2 (`/api/v2/alerts`).

Alertmanager knows an alert by its labels: `alertname`, `metric`, `severity` (lower-case),
`episode_id` and the channel's static labels. Each severity an episode reaches is so an alert
of its own; an escalation fires the new one and resolves the one it replaces.

Alertmanager expects a client to re-send a firing alert every few minutes, and ends an alert
that stops coming at its `endsAt` (or, without one, after its `resolve_timeout`). txmon sends
each change once, so it sets `endsAt` `resolve_after_minutes` (a day) after the post: the alert
stays firing until the episode's RECOVERY resolves it with the recovery minute as `endsAt`,
and every reminder (`repeat_interval_minutes`) posts it again with a later `endsAt`. An
Alertmanager that restarts forgets its alerts; the next reminder or escalation brings the
episode back.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import render_text
from txmon.core.facts import HEALTHY
from txmon.core.formatting import finite, format_utc, format_value

ALERTS_PATH = "/api/v2/alerts"
# An alert that nothing resolves stays firing this long after its latest post.
DEFAULT_RESOLVE_AFTER_MINUTES = 24 * 60
# The alertname of an episode's alerts; txmon's own alerts (STALE, BUILD_FAILED) are named
# after their event: TxmonStale, TxmonBuildFailed.
EPISODE_ALERT_NAME = "TxmonMetricAnomaly"
# The labels txmon sets on every alert; static labels may not replace them.
ALERT_LABELS = ("alertname", "metric", "severity", "episode_id")


def alerts_url(base_url: str) -> str:
    """The API v2 alerts endpoint under Alertmanager's address (which may carry a route
    prefix, http://host/alertmanager); an address that already names it is kept."""
    parts = urllib.parse.urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith(ALERTS_PATH):
        path += ALERTS_PATH
    return urllib.parse.urlunsplit(parts._replace(path=path))


def alert_name(notification: Notification) -> str:
    if notification.episode_id is not None:
        return EPISODE_ALERT_NAME
    return "Txmon" + "".join(word.capitalize() for word in notification.event_type.split("_"))


class AlertmanagerChannel(HttpChannel):
    what = "Alertmanager"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        url: str,
        labels: Mapping[str, str],
        generator_url: str | None,
        resolve_after_minutes: int,
        username: str | None,
        password: str | None,
        bearer_token: str | None,
        timeout_seconds: float,
        verify_tls: bool,
        ca_file: Path | None,
    ) -> None:
        super().__init__(
            name,
            min_severity,
            url=alerts_url(url),
            timeout_seconds=timeout_seconds,
            verify_tls=verify_tls,
            ca_file=ca_file,
        )
        self.labels = dict(labels)
        self.generator_url = generator_url
        self.resolve_after = timedelta(minutes=resolve_after_minutes)
        self._authorization: str | None = None
        self._credentials = [secret for secret in (password, bearer_token) if secret]
        if bearer_token is not None:
            self._authorization = f"Bearer {bearer_token}"
        elif username is not None and password is not None:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self._authorization = f"Basic {pair}"
            self._credentials.append(pair)

    def settings_text(self) -> str:
        auth = self._authorization.split(" ")[0].lower() if self._authorization else None
        return (
            f"url=<redacted>, labels={self.labels!r}, auth={auth!r}, "
            f"resolve_after_minutes={int(self.resolve_after.total_seconds() // 60)}, "
            f"timeout_seconds={self.timeout_seconds}, verify_tls={self.verify_tls}"
        )

    def secrets(self) -> list[str]:
        return super().secrets() + self._credentials

    def alerts(self, notification: Notification, now: datetime) -> list[dict[str, Any]]:
        """What one notification posts: a RECOVERY resolves the severity the episode had
        reached; any other event fires its severity until `now` + resolve_after_minutes, and
        an escalation resolves the severity it replaces (when this channel had received it)."""
        n = notification
        minute = format_utc(n.minute_at)
        if n.event_type == "RECOVERY":
            return [self._alert(n, n.previous_severity or n.severity, minute, minute)]
        ends_at = max(now, n.minute_at).replace(microsecond=0) + self.resolve_after
        alerts = [self._alert(n, n.severity, minute, format_utc(ends_at))]
        replaced = n.previous_severity
        if replaced and replaced != n.severity and self._fired(replaced):
            alerts.append(self._alert(n, replaced, minute, minute))
        return alerts

    def _fired(self, severity: str) -> bool:
        """Whether alerts of this severity fire at all: not HEALTHY, not filtered out."""
        return severity.upper() != HEALTHY and self.accepts_severity(severity)

    def _alert(
        self, notification: Notification, severity: str, starts_at: str, ends_at: str
    ) -> dict[str, Any]:
        n = notification
        labels = {
            **self.labels,
            "alertname": alert_name(n),
            "metric": n.metric_name,
            # Routes and inhibition rules can match a dimension's value (dimension="acquirer",
            # dimension_value="stone"); a series of all transactions has neither label.
            **(
                {}
                if n.dimension == "all"
                else {"dimension": n.dimension, "dimension_value": n.dimension_value}
            ),
            "severity": severity.lower(),
            # txmon's own alerts have no episode: their key tells one occurrence from another.
            "episode_id": n.episode_id or n.dedup_key,
        }
        annotations = {
            "summary": n.message,
            "description": render_text(n),
            "event": n.event_type,
            "dedup_key": n.dedup_key,
        }
        for key in ("value", "threshold", "baseline"):
            number = getattr(n, key)
            if finite(number) is not None:
                annotations[key] = format_value(n.metric_name, number)
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts_at,
            "endsAt": ends_at,
        }
        if self.generator_url is not None:
            alert["generatorURL"] = self.generator_url
        return alert

    def send(self, notification: Notification) -> None:
        auth = {} if self._authorization is None else {"Authorization": self._authorization}
        self.post_json(notification, self.alerts(notification, datetime.now(UTC)), auth)
