"""The HTTP POST behind the webhook and Slack channels, against a local receiver: statuses,
Retry-After, redirects, timeouts, refused connections and TLS verification."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from alerting_helpers import Certificate, WebServer, closed_port
from txmon.alerting.notification import DeliveryError
from txmon.alerting.transport import post, retry_after_seconds, tls_context, url_secrets

pytest_plugins = ["alerting_fixtures"]

BODY = b'{"hello":"world"}'


def send(
    url: str, *, timeout: float = 5, verify: bool = True, ca: Certificate | None = None
) -> None:
    post(
        url=url,
        body=BODY,
        headers={"Content-Type": "application/json"},
        timeout=timeout,
        tls=tls_context(verify, ca.cert if ca else None),
        what="receiver",
    )


def failure(
    url: str, *, timeout: float = 5, verify: bool = True, ca: Certificate | None = None
) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(url, timeout=timeout, verify=verify, ca=ca)
    return caught.value


def test_2xx_is_delivered(web: WebServer) -> None:
    web.statuses.extend([200, 204])
    send(f"{web.url}/a")
    send(f"{web.url}/b")
    assert [(r.path, r.body) for r in web.requests] == [("/a", BODY), ("/b", BODY)]


def test_429_carries_the_servers_retry_after(web: WebServer) -> None:
    web.statuses.append(429)
    error = failure(web.url)
    assert (str(error), error.retryable, error.retry_after) == ("HTTP 429 from receiver", True, 7)


def test_a_redirect_is_an_error_and_not_followed(web: WebServer) -> None:
    web.statuses.append(307)
    error = failure(web.url)
    assert (str(error), error.retryable) == ("HTTP 307 from receiver", False)
    assert len(web.requests) == 1


def test_no_answer_within_the_timeout_is_retryable(web: WebServer) -> None:
    # The receiver holds its answer far longer than the timeout: the error proves the
    # configured timeout cut the wait short.
    web.hold = True
    error = failure(web.url, timeout=0.2)
    assert (str(error), error.retryable) == ("no answer from receiver: timed out", True)
    assert len(web.requests) == 1  # the request arrived; only the answer was missing


def test_a_refused_connection_is_retryable() -> None:
    error = failure(f"http://127.0.0.1:{closed_port()}/")
    assert error.retryable is True
    assert str(error).startswith("receiver unreachable: ConnectionRefusedError")


def test_a_url_without_http_is_not_retryable() -> None:
    error = failure("ftp://127.0.0.1/")
    assert (str(error), error.retryable) == ("receiver request failed: invalid URL", False)


def test_tls_is_verified_against_the_ca_file(tls_web: WebServer, certificate: Certificate) -> None:
    send(tls_web.url, ca=certificate)
    send(tls_web.url, verify=False)
    assert len(tls_web.requests) == 2
    untrusted = failure(tls_web.url)
    assert untrusted.retryable is False
    assert "certificate verification failed" in str(untrusted)
    assert len(tls_web.requests) == 2


def test_a_bad_ca_file_cannot_make_a_context(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        tls_context(True, bad)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_as_a_date() -> None:
    now = datetime(2025, 7, 15, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now) == 90
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(earlier, now=now) == 0


def test_url_secrets_cover_path_and_query() -> None:
    assert url_secrets("https://hooks.test/T1/B2/x?token=abc") == [
        "https://hooks.test/T1/B2/x?token=abc",
        "/T1/B2/x",
        "token=abc",
    ]
