"""The notification, delivery errors and how failures are described without secrets."""

from __future__ import annotations

import dataclasses
import ssl

from alerting_helpers import NOTIFICATION
from txmon.alerting.notification import (
    NOTIFICATION_FIELDS,
    DeliveryError,
    Notification,
    describe_failure,
    is_retryable_failure,
)


def test_a_notification_comes_back_from_its_row() -> None:
    row = {**dataclasses.asdict(NOTIFICATION), "channel": "hook", "attempts": 2}
    assert Notification.from_row(row) == NOTIFICATION
    assert "episode_minutes" in NOTIFICATION_FIELDS
    assert "consecutive_minutes" not in NOTIFICATION_FIELDS


def test_without_secrets_blanks_every_secret_longest_first() -> None:
    error = DeliveryError(
        "HTTP 404 from https://hooks.test/T1/secret-path?key=abcd", retryable=False, retry_after=3
    )
    clean = error.without_secrets(["https://hooks.test/T1/secret-path?key=abcd", "/T1/secret-path"])
    assert clean.message == "HTTP 404 from ***"
    assert (clean.retryable, clean.retry_after) == (False, 3)
    # Too short to look for: it would blank ordinary words.
    assert DeliveryError("a b c", retryable=True).without_secrets(["b"]).message == "a b c"
    assert repr(clean) == "DeliveryError('HTTP 404 from ***', retryable=False)"


def test_failures_are_described_without_their_text() -> None:
    refused = ConnectionRefusedError(111, "Connection refused", "/secret/path")
    assert describe_failure(refused) == "ConnectionRefusedError: Connection refused"
    assert describe_failure(TimeoutError()) == "timed out"
    assert describe_failure(ValueError("https://secret")) == "ValueError"
    assert is_retryable_failure(refused)
    assert not is_retryable_failure(ssl.SSLCertVerificationError("bad"))
