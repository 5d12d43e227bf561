"""Getting a notification to a server: the HTTP POST of the webhook, Slack, Teams,
Alertmanager and PagerDuty channels (httpx: a timeout on every step, redirects never followed,
Retry-After read), and the TLS settings that the e-mail channel shares.

A failure becomes a `DeliveryError` that names what was being reached ("webhook", "Slack
webhook") and never the URL, which often is the credential itself.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from txmon import __version__
from txmon.alerting.notification import DeliveryError, describe_failure, is_retryable_failure

USER_AGENT = f"txmon/{__version__}"
DEFAULT_HTTP_TIMEOUT = 10.0
# How much of a 2xx answer is read before the connection closes: the status already says
# delivered, and a server should not see its answer cut off.
DRAIN_BYTES = 65536


class _QuietWhilePosting(logging.Filter):
    """httpx logs every request with its URL at INFO, and a channel's URL is a secret: its
    records are dropped while this thread is posting a notification."""

    def __init__(self) -> None:
        super().__init__()
        self.posting = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.posting, "active", False)


_quiet = _QuietWhilePosting()
logging.getLogger("httpx").addFilter(_quiet)


def tls_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    """Certificates checked against `ca_file` (else the system's), or not at all.

    Raises ssl.SSLError when `ca_file` holds no usable certificate.
    """
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def url_secrets(url: str) -> list[str]:
    """The parts of a URL to keep out of messages: Slack and many webhook services put the
    credential in the path or the query."""
    parts = urllib.parse.urlsplit(url)
    return [url, parts.path, parts.query]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """An HTTP Retry-After value (seconds, or a date) as seconds from now; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def post(
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    tls: ssl.SSLContext,
    what: str,
) -> None:
    """POST `body`; return on 2xx, raise DeliveryError otherwise.

    A redirect is an error, not followed: following it would replay the signed body to another
    host. 429 and 5xx are worth retrying (after the server's Retry-After, if it gave one); any
    other status is not.
    """
    _quiet.posting.active = True
    client = httpx.Client(verify=tls, timeout=timeout, follow_redirects=False)
    try:
        with client, client.stream("POST", url, content=body, headers=dict(headers)) as answer:
            if answer.is_success:
                _drain(answer)
                return
            status = answer.status_code
            retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise DeliveryError(f"{what} request failed: invalid URL", retryable=False) from None
    except httpx.ConnectTimeout:
        raise DeliveryError(f"{what} unreachable: timed out", retryable=True) from None
    except httpx.TimeoutException:
        # Sent, but no answer in time: the Idempotency-Key covers a retry.
        raise DeliveryError(f"no answer from {what}: timed out", retryable=True) from None
    except httpx.ConnectError as error:
        cause = _root_cause(error)
        raise DeliveryError(
            f"{what} unreachable: {describe_failure(cause)}", retryable=is_retryable_failure(cause)
        ) from None
    except httpx.RemoteProtocolError as error:
        # The server closed the connection or answered garbage; the POST may or may not have
        # arrived, which the Idempotency-Key covers.
        raise DeliveryError(
            f"bad HTTP response from {what}: {type(error).__name__}", retryable=True
        ) from None
    except httpx.TransportError as error:
        cause = _root_cause(error)
        raise DeliveryError(
            f"no answer from {what}: {describe_failure(cause)}",
            retryable=is_retryable_failure(cause),
        ) from None
    finally:
        _quiet.posting.active = False
    raise DeliveryError(
        f"HTTP {status} from {what}",
        retryable=status == 429 or 500 <= status <= 599,
        retry_after=retry_after,
    )


def _drain(answer: httpx.Response) -> None:
    received = 0
    with contextlib.suppress(httpx.HTTPError):
        for chunk in answer.iter_raw():
            received += len(chunk)
            if received >= DRAIN_BYTES:
                break


def _root_cause(error: BaseException) -> BaseException:
    """The operating system's or TLS's own error under httpx's wrappers, if there is one."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error
