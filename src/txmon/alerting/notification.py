"""What travels from the outbox to a channel: the notification, the error a channel raises when
it cannot deliver one, and the protocol every channel follows.

A channel delivers once. Retrying belongs to the outbox, so a failed delivery raises
`DeliveryError`, whose `retryable` flag says whether trying the same notification again later
can help (a full mailbox or an HTTP 503 can; a 404 or a refused password cannot).

Secrets (webhook URLs, signing secrets, SMTP passwords) stay out of error messages, `repr()`
and logs: a `DeliveryError` is built from fixed words, status codes and `describe_failure`,
redacted once more with `without_secrets`, and raised `from None` so that a traceback does not
print the underlying library exception either.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from txmon.core.formatting import series_id, series_label

# A secret shorter than this is not looked for in messages: it would blank out ordinary words.
_MIN_REDACTED_LENGTH = 4


@dataclass(frozen=True)
class Notification:
    """One row of the outbox: an alert event (or txmon's own warning) to deliver."""

    dedup_key: str
    metric_name: str
    episode_id: str | None
    event_type: str
    severity: str
    previous_severity: str | None
    minute_at: datetime
    # How long the episode had persisted (for a RECOVERY, how long it lasted).
    episode_minutes: int | None
    value: float | None
    threshold: float | None
    baseline: float | None
    message: str
    # The series' cut: `all` for all transactions, or a monitored dimension and its value.
    dimension: str = "all"
    dimension_value: str = "all"

    @property
    def subject(self) -> str:
        """The metric, and the dimension's value when the series is one value's."""
        return series_id(self.metric_name, self.dimension, self.dimension_value)

    @property
    def label(self) -> str:
        """How messages name the series: the metric in capitals (as the models' messages do)."""
        return series_label(self.metric_name, self.dimension, self.dimension_value)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Notification:
        """The notification in a row of the alert log (or of a query with its columns)."""
        return cls(**{name: row[name] for name in NOTIFICATION_FIELDS})


# The alert log's columns that hold a notification, in the order the dataclass lists them.
NOTIFICATION_FIELDS = tuple(field.name for field in fields(Notification))


class DeliveryError(Exception):
    """A channel could not deliver a notification.

    `retryable` tells the outbox whether the same notification may succeed later.
    `retry_after` is the server's hint in seconds (HTTP Retry-After), when it gave one.
    The message never contains a secret.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, retryable={self.retryable})"

    def without_secrets(self, secrets: Sequence[str]) -> DeliveryError:
        """The same error with every secret in its message replaced by ***.

        Messages are built without secrets; this covers a server's reply or an operating
        system's error that echoes one back.
        """
        message = self.message
        for secret in sorted(secrets, key=len, reverse=True):
            if secret and len(secret) >= _MIN_REDACTED_LENGTH:
                message = message.replace(secret, "***")
        return DeliveryError(message, retryable=self.retryable, retry_after=self.retry_after)


def describe_failure(error: BaseException) -> str:
    """A short description of a network or disk failure that cannot carry a URL or a path."""
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS error ({error.reason or type(error).__name__})"
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__


def is_retryable_failure(error: BaseException) -> bool:
    """Whether a network failure may pass on a later try: a certificate that does not verify
    will not verify then either."""
    return not isinstance(error, ssl.SSLCertVerificationError)


class Channel(Protocol):
    """What the outbox needs from a channel."""

    name: str
    min_severity: str

    def accepts(self, notification: Notification) -> bool: ...

    def send(self, notification: Notification) -> None: ...
