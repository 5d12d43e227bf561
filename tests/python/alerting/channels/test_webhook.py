"""The webhook channel against a local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from alerting_helpers import (
    EXPECTED_PAYLOAD,
    NOTIFICATION,
    SIGNING_SECRET,
    Certificate,
    WebServer,
    closed_port,
    one,
    send_error,
)
from txmon import __version__
from txmon.alerting.channels.webhook import WebhookChannel

pytest_plugins = ["alerting_fixtures"]


def test_webhook_posts_signed_deterministic_json(web: WebServer) -> None:
    environ = {"HOOK_URL": f"{web.url}/hooks/txmon", "HOOK_SECRET": SIGNING_SECRET}
    channel = one(
        {"type": "webhook", "name": "hook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
        environ,
    )
    assert isinstance(channel, WebhookChannel)
    channel.send(NOTIFICATION)
    channel.send(NOTIFICATION)  # a retry of the same notification

    first, second = web.requests
    assert first.method == "POST"
    assert first.path == "/hooks/txmon"
    assert json.loads(first.body) == EXPECTED_PAYLOAD
    assert first.body == second.body  # identical bytes on every retry
    headers = first.headers
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == NOTIFICATION.dedup_key
    assert headers["user-agent"] == f"txmon/{__version__}"
    expected = hmac.new(SIGNING_SECRET.encode(), first.body, hashlib.sha256).hexdigest()
    assert headers["x-txmon-signature"] == f"sha256={expected}"
    # The timestamp says when it was sent (informational, outside the signature).
    assert abs(int(headers["x-txmon-timestamp"]) - time.time()) < 60
    assert second.headers["x-txmon-signature"] == headers["x-txmon-signature"]


def test_webhook_without_secret_sends_no_signature(web: WebServer) -> None:
    one({"type": "webhook", "url": web.url}).send(NOTIFICATION)
    (request,) = web.requests
    assert "x-txmon-signature" not in request.headers
    assert "x-txmon-timestamp" not in request.headers


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(200, None), (204, None), (429, True), (500, True), (503, True)],
        *[(400, False), (404, False), (410, False), (302, False)],
    ],
)
def test_webhook_status_classification(web: WebServer, status: int, retryable: bool | None) -> None:
    web.statuses.append(status)
    channel = one({"type": "webhook", "url": f"{web.url}/hook"})
    if retryable is None:
        channel.send(NOTIFICATION)
    else:
        error = send_error(channel)
        assert error.retryable is retryable
        assert str(error) == f"HTTP {status} from webhook"
        assert error.retry_after == (7.0 if status == 429 else None)
    assert len(web.requests) == 1  # a redirect is not followed


def test_webhook_timeout_is_retryable(web: WebServer) -> None:
    # The receiver holds its answer far longer than timeout_seconds: only the configured
    # timeout can end the wait with this error.
    web.hold = True
    channel = one({"type": "webhook", "url": web.url, "timeout_seconds": 0.5})
    error = send_error(channel)
    assert error.retryable is True
    assert str(error) == "no answer from webhook: timed out"
    assert len(web.requests) == 1


def test_webhook_connection_refused_is_retryable() -> None:
    channel = one({"type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/hook"})
    error = send_error(channel)
    assert error.retryable is True
    assert "unreachable" in str(error)


def test_webhook_over_https_trusts_the_ca_file(
    tls_web: WebServer, certificate: Certificate
) -> None:
    one({"type": "webhook", "url": tls_web.url, "ca_file": str(certificate.cert)}).send(
        NOTIFICATION
    )
    one({"type": "webhook", "url": tls_web.url, "verify_tls": False}).send(NOTIFICATION)
    assert len(tls_web.requests) == 2
    error = send_error(one({"type": "webhook", "url": tls_web.url}))
    assert error.retryable is False
    assert "certificate verification failed" in str(error)
