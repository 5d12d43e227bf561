"""The webhook channel: the notification as canonical JSON, POSTed with an Idempotency-Key and,
with a secret, an HMAC-SHA256 signature of the body."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

from txmon.alerting.channels.http import HttpChannel
from txmon.alerting.notification import Notification
from txmon.alerting.render import canonical_json, notification_payload
from txmon.alerting.transport import USER_AGENT


class WebhookChannel(HttpChannel):
    what = "webhook"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        url: str,
        secret: str | None,
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
        self._secret = secret

    def settings_text(self) -> str:
        return (
            f"url=<redacted>, signed={self._secret is not None}, "
            f"timeout_seconds={self.timeout_seconds}, verify_tls={self.verify_tls}"
        )

    def secrets(self) -> list[str]:
        return super().secrets() + ([self._secret] if self._secret else [])

    def request_headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notification.dedup_key,
            "User-Agent": USER_AGENT,
        }
        if self._secret is not None:
            digest = hmac.new(self._secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Txmon-Signature"] = f"sha256={digest}"
            # Informational only: the signature covers the body, which must not change on retry.
            headers["X-Txmon-Timestamp"] = str(int(time.time()))
        return headers

    def send(self, notification: Notification) -> None:
        body = canonical_json(notification_payload(notification))
        self.post(notification, body, self.request_headers(notification, body))
