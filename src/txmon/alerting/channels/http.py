"""What the channels that POST over HTTP share: a URL that is a secret, a timeout, TLS settings,
and one POST whose errors never show the URL."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from txmon.alerting.channels.base import BaseChannel
from txmon.alerting.notification import DeliveryError, Notification
from txmon.alerting.render import canonical_json
from txmon.alerting.transport import USER_AGENT, post, tls_context, url_secrets


class HttpChannel(BaseChannel):
    """A channel that POSTs to `url`; `what` names the receiver in error messages."""

    what = "HTTP endpoint"
    # The settings key that holds the URL, for repr().
    url_key = "url"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        url: str,
        timeout_seconds: float,
        verify_tls: bool,
        ca_file: Path | None,
    ) -> None:
        super().__init__(name, min_severity)
        self._url = url
        self.timeout_seconds = timeout_seconds
        self.verify_tls = verify_tls
        self._tls = tls_context(verify_tls, ca_file)

    def settings_text(self) -> str:
        return (
            f"{self.url_key}=<redacted>, timeout_seconds={self.timeout_seconds}, "
            f"verify_tls={self.verify_tls}"
        )

    def secrets(self) -> list[str]:
        """What must never appear in an error: the URL and its parts."""
        return url_secrets(self._url)

    def post(self, notification: Notification, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            post(
                url=self._url,
                body=body,
                headers=headers,
                timeout=self.timeout_seconds,
                tls=self._tls,
                what=self.what,
            )
        except DeliveryError as error:
            raise error.without_secrets(self.secrets()) from None
        self.delivered(notification)

    def post_json(
        self, notification: Notification, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        """POST `payload` as JSON (UTF-8), with `headers` besides the usual ones."""
        body = canonical_json(payload)
        usual = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        self.post(notification, body, {**usual, **(headers or {})})
