"""Notification channels: deliver one outbox notification to stdout, a JSON Lines file, a webhook,
Slack or e-mail.

A channel delivers once. Retrying belongs to the dispatcher, so a failed delivery raises
`DeliveryError` whose `retryable` flag says whether trying the same notification again later
can help (a full mailbox server or an HTTP 503 can; a 404 or a refused password cannot).

Secrets (webhook URLs, signing secrets, SMTP passwords) are kept out of error messages, `repr()`
and logs: the message of a `DeliveryError` is built from fixed words plus status codes, and is
chained `from None` so that tracebacks do not print the underlying library exception either.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import math
import os
import re
import smtplib
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

from txmon import __version__
from txmon.core.errors import TxmonError

log = logging.getLogger(__name__)

SEVERITY_RANK: dict[str, int] = {"HEALTHY": 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3, "SEVERE": 4}
MIN_SEVERITIES = ("INFO", "WARNING", "CRITICAL", "SEVERE")
# A recovery or a stale-data warning is the answer to an earlier message, so no severity filter
# may hide it.
ALWAYS_ACCEPTED_EVENTS = frozenset({"RECOVERY", "STALE"})

SEVERITY_EMOJI: dict[str, str] = {
    "HEALTHY": ":white_check_mark:",
    "INFO": ":information_source:",
    "WARNING": ":warning:",
    "CRITICAL": ":red_circle:",
    "SEVERE": ":rotating_light:",
}

USER_AGENT = f"txmon/{__version__}"
DEFAULT_HTTP_TIMEOUT = 10.0
# SMTP servers may scan a message before they answer DATA; a timeout after the server accepted
# the message would send it twice, so e-mail waits longer than HTTP by default.
DEFAULT_SMTP_TIMEOUT = 30.0

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class Notification:
    """One row of the outbox: an alert event (or a stale-data warning) to deliver."""

    dedup_key: str
    metric_name: str
    episode_id: str | None
    event_type: str
    severity: str
    previous_severity: str | None
    minute_at: datetime
    consecutive_minutes: int | None
    value: float | None
    threshold: float | None
    baseline: float | None
    message: str


class DeliveryError(Exception):
    """A channel could not deliver a notification.

    `retryable` tells the dispatcher whether the same notification may succeed later.
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


class Channel(Protocol):
    """What the dispatcher needs from a channel."""

    name: str
    min_severity: str

    def accepts(self, notification: Notification) -> bool: ...

    def send(self, notification: Notification) -> None: ...


# --------------------------------------------------------------------------------------------
# Rendering


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z suffix; a naive datetime is taken to be UTC already."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _minute_label(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%MZ")


def _finite(number: float | None) -> float | None:
    # psycopg gives Decimal for numeric columns; JSON has no NaN or Infinity.
    if number is None:
        return None
    number = float(number)
    return number if math.isfinite(number) else None


def format_value(metric_name: str, value: float | None) -> str:
    """Rates (stored as fractions) as percentages with 2 decimals; counts as plain numbers."""
    number = _finite(value)
    if number is None:
        return "n/a"
    if metric_name.endswith("_rate"):
        return f"{number * 100:.2f}%"
    if number.is_integer():
        return str(int(number))
    return f"{number:.2f}"


def _comparison(n: Notification) -> str:
    text = f"value {format_value(n.metric_name, n.value)}"
    if _finite(n.threshold) is not None:
        text += f" vs threshold {format_value(n.metric_name, n.threshold)}"
    return text


def _one_line(text: str) -> str:
    # Newlines would break the one-line stdout format and are forbidden in e-mail headers.
    return " ".join(str(text).split())


def render_text(notification: Notification) -> str:
    """One human line, e.g. `[WARNING] failed_rate ESCALATION at 2025-07-15 12:47Z: ...`."""
    n = notification
    details = [_comparison(n)]
    if _finite(n.baseline) is not None:
        details.append(f"baseline {format_value(n.metric_name, n.baseline)}")
    if n.previous_severity:
        details.append(f"was {n.previous_severity}")
    line = (
        f"[{n.severity}] {n.metric_name} {n.event_type} at {_minute_label(n.minute_at)}: "
        f"{n.message} ({', '.join(details)})"
    )
    return _one_line(line)


def notification_payload(notification: Notification) -> dict[str, Any]:
    """Every Notification field as JSON-ready values (minute_at as ISO 8601 UTC with Z)."""
    n = notification
    return {
        "dedup_key": n.dedup_key,
        "metric_name": n.metric_name,
        "episode_id": n.episode_id,
        "event_type": n.event_type,
        "severity": n.severity,
        "previous_severity": n.previous_severity,
        "minute_at": format_utc(n.minute_at),
        "consecutive_minutes": (
            None if n.consecutive_minutes is None else int(n.consecutive_minutes)
        ),
        "value": _finite(n.value),
        "threshold": _finite(n.threshold),
        "baseline": _finite(n.baseline),
        "message": n.message,
    }


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: a retry sends exactly the bytes that were signed the first time."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def _slack_escape(text: str) -> str:
    # Slack treats &, < and > as control characters in every text object.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notification: Notification) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook, with a plain `text` fallback."""
    n = notification
    emoji = SEVERITY_EMOJI.get(n.severity, ":grey_question:")
    headline = _one_line(f"{emoji} {n.severity} {n.metric_name} {n.event_type}")
    severity = n.severity + (f" (was {n.previous_severity})" if n.previous_severity else "")
    summary = _comparison(n)
    if _finite(n.baseline) is not None:
        summary += f" (baseline {format_value(n.metric_name, n.baseline)})"
    fields = [
        ("Severity", severity),
        ("Metric", n.metric_name),
        ("Event", n.event_type),
        ("Minute (UTC)", _minute_label(n.minute_at)),
        ("Minutes", "n/a" if n.consecutive_minutes is None else str(n.consecutive_minutes)),
        ("Value", summary),
    ]
    context = f"txmon · {n.dedup_key}"
    blocks: list[dict[str, Any]] = [
        # Slack rejects a header longer than 150 characters.
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{_slack_escape(n.message)}*\n{_slack_escape(summary)}",
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"}
                for label, value in fields
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(context)}]},
    ]
    return {"text": _slack_escape(render_text(n)), "blocks": blocks}


def email_subject(notification: Notification) -> str:
    n = notification
    return _one_line(f"[txmon] {n.severity} {n.metric_name} {n.event_type}")


def email_body(notification: Notification) -> str:
    n = notification
    rows = [
        ("Severity", n.severity + (f" (was {n.previous_severity})" if n.previous_severity else "")),
        ("Metric", n.metric_name),
        ("Event", n.event_type),
        ("Minute (UTC)", format_utc(n.minute_at)),
        ("Minutes", "n/a" if n.consecutive_minutes is None else str(n.consecutive_minutes)),
        ("Value", format_value(n.metric_name, n.value)),
        ("Threshold", format_value(n.metric_name, n.threshold)),
        ("Baseline", format_value(n.metric_name, n.baseline)),
        ("Episode", n.episode_id or "n/a"),
        ("Message", n.message),
        ("Dedup key", n.dedup_key),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [render_text(n), ""]
    lines += [f"{label + ':':<{width}}{_one_line(value)}" for label, value in rows]
    lines += ["", "-- ", f"Sent by txmon {__version__}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Helpers shared by the channels


def _redact(text: str, secrets: Sequence[str]) -> str:
    # Belt and braces: messages are built without secrets, but a server's reply or an OS error
    # could echo one back.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _describe(exc: BaseException) -> str:
    """A short description of a network error that cannot carry a URL."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def _network_retryable(exc: BaseException) -> bool:
    # A certificate that does not verify will not verify on the next try either.
    return not isinstance(exc, ssl.SSLCertVerificationError)


def _ssl_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn the POST into a GET, or replay the signed body to
    another host. A redirect surfaces as an HTTP 3xx error (not retryable: fix the URL)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(value: str | None) -> float | None:
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
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _post(
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    context: ssl.SSLContext,
    what: str,
) -> None:
    """POST `body`; return on 2xx, raise DeliveryError otherwise (messages name `what`, never
    the URL)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    try:
        # Drain a little of the answer; the 2xx status already says delivered.
        with (
            opener.open(request, timeout=timeout) as response,
            contextlib.suppress(OSError, http.client.HTTPException),
        ):
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status = exc.code
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        retryable = status == 429 or 500 <= status <= 599
        raise DeliveryError(
            f"HTTP {status} from {what}", retryable=retryable, retry_after=retry_after
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, BaseException):
            raise DeliveryError(
                f"{what} unreachable: {_describe(reason)}", retryable=_network_retryable(reason)
            ) from None
        raise DeliveryError(f"{what} request failed: invalid URL", retryable=False) from None
    except http.client.HTTPException as exc:
        # The server closed the connection or answered garbage; the POST may or may not have
        # arrived, which the Idempotency-Key covers.
        raise DeliveryError(
            f"bad HTTP response from {what}: {type(exc).__name__}", retryable=True
        ) from None
    except OSError as exc:
        # Sent, but no answer (a read timeout lands here): the Idempotency-Key covers a retry.
        raise DeliveryError(
            f"no answer from {what}: {_describe(exc)}", retryable=_network_retryable(exc)
        ) from None


# --------------------------------------------------------------------------------------------
# Channels


class _BaseChannel:
    kind = ""

    def __init__(self, name: str, min_severity: str) -> None:
        self.name = name
        self.min_severity = min_severity

    def accepts(self, notification: Notification) -> bool:
        """RECOVERY and STALE always; other events when severity >= min_severity."""
        if notification.event_type.upper() in ALWAYS_ACCEPTED_EVENTS:
            return True
        rank = SEVERITY_RANK.get(notification.severity.upper())
        if rank is None:
            return True  # an unknown severity is delivered rather than silently dropped
        return rank >= SEVERITY_RANK[self.min_severity]

    def _repr_fields(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._repr_fields()
        return (
            f"{type(self).__name__}(name={self.name!r}, min_severity={self.min_severity!r}"
            f"{', ' + extra if extra else ''})"
        )

    def _delivered(self, notification: Notification) -> None:
        log.debug("channel %s delivered %s", self.name, notification.dedup_key)


class StdoutChannel(_BaseChannel):
    kind = "stdout"

    def send(self, notification: Notification) -> None:
        try:
            # sys.stdout is looked up on every send so that redirection (and capsys) applies.
            print(render_text(notification), file=sys.stdout, flush=True)
        except (OSError, ValueError) as exc:
            raise DeliveryError(
                f"cannot write to stdout: {type(exc).__name__}", retryable=False
            ) from None
        self._delivered(notification)


class JsonlChannel(_BaseChannel):
    kind = "jsonl"

    def __init__(self, name: str, min_severity: str, *, path: Path) -> None:
        super().__init__(name, min_severity)
        self.path = path

    def _repr_fields(self) -> str:
        return f"path={str(self.path)!r}"

    def send(self, notification: Notification) -> None:
        line = canonical_json(notification_payload(notification)) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            with open(self.path, "ab") as handle:
                handle.write(line)
                handle.flush()
                # Delivered means on disk: the dispatcher marks the row sent right after.
                os.fsync(handle.fileno())
            if created:
                _fsync_directory(self.path.parent)
        except OSError as exc:
            # A full or failing disk may recover; a path we may not write to will not.
            retryable = not isinstance(
                exc, PermissionError | IsADirectoryError | NotADirectoryError
            )
            raise DeliveryError(
                f"cannot append to JSON Lines file: {_describe(exc)}", retryable=retryable
            ) from None
        self._delivered(notification)


def _fsync_directory(folder: Path) -> None:
    # Makes a newly created file's directory entry durable too; not possible everywhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class WebhookChannel(_BaseChannel):
    kind = "webhook"

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
        super().__init__(name, min_severity)
        self._url = url
        self._secret = secret
        self.timeout_seconds = timeout_seconds
        self.verify_tls = verify_tls
        self._context = _ssl_context(verify_tls, ca_file)

    def _repr_fields(self) -> str:
        return (
            f"url=<redacted>, signed={self._secret is not None}, "
            f"timeout_seconds={self.timeout_seconds}, verify_tls={self.verify_tls}"
        )

    def request_body(self, notification: Notification) -> bytes:
        return canonical_json(notification_payload(notification))

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
        body = self.request_body(notification)
        try:
            _post(
                url=self._url,
                body=body,
                headers=self.request_headers(notification, body),
                timeout=self.timeout_seconds,
                context=self._context,
                what="webhook",
            )
        except DeliveryError as exc:
            raise _redacted(exc, self._secrets()) from None
        self._delivered(notification)

    def _secrets(self) -> list[str]:
        return _url_secrets(self._url) + ([self._secret] if self._secret else [])


class SlackChannel(_BaseChannel):
    kind = "slack"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        webhook_url: str,
        timeout_seconds: float,
        verify_tls: bool,
        ca_file: Path | None,
    ) -> None:
        super().__init__(name, min_severity)
        self._url = webhook_url
        self.timeout_seconds = timeout_seconds
        self.verify_tls = verify_tls
        self._context = _ssl_context(verify_tls, ca_file)

    def _repr_fields(self) -> str:
        return (
            f"webhook_url=<redacted>, timeout_seconds={self.timeout_seconds}, "
            f"verify_tls={self.verify_tls}"
        )

    def send(self, notification: Notification) -> None:
        body = canonical_json(slack_message(notification))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        try:
            _post(
                url=self._url,
                body=body,
                headers=headers,
                timeout=self.timeout_seconds,
                context=self._context,
                what="Slack webhook",
            )
        except DeliveryError as exc:
            raise _redacted(exc, _url_secrets(self._url)) from None
        self._delivered(notification)


def _url_secrets(url: str) -> list[str]:
    # Slack and many webhook services put the credential in the path or the query.
    parts = urllib.parse.urlsplit(url)
    return [url, parts.path, parts.query]


def _redacted(exc: DeliveryError, secrets: Sequence[str]) -> DeliveryError:
    return DeliveryError(
        _redact(exc.message, secrets), retryable=exc.retryable, retry_after=exc.retry_after
    )


class EmailChannel(_BaseChannel):
    kind = "email"

    def __init__(
        self,
        name: str,
        min_severity: str,
        *,
        host: str,
        port: int,
        use_ssl: bool,
        starttls: bool,
        username: str | None,
        password: str | None,
        from_addr: str,
        to_addrs: Sequence[str],
        timeout_seconds: float,
        verify_tls: bool,
        ca_file: Path | None,
    ) -> None:
        super().__init__(name, min_severity)
        self.host = host
        self.port = port
        self.use_ssl = use_ssl
        self.starttls = starttls
        self._username = username
        self._password = password
        self.from_addr = from_addr
        self.to_addrs = list(to_addrs)
        self.timeout_seconds = timeout_seconds
        self.verify_tls = verify_tls
        self._context = _ssl_context(verify_tls, ca_file)

    def _repr_fields(self) -> str:
        return (
            f"host={self.host!r}, port={self.port}, ssl={self.use_ssl}, "
            f"starttls={self.starttls}, login={self._username is not None}, "
            f"from={self.from_addr!r}, to={self.to_addrs!r}"
        )

    def build_message(self, notification: Notification) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = email_subject(notification)
        message["From"] = self.from_addr
        message["To"] = ", ".join(self.to_addrs)
        message["Date"] = format_datetime(datetime.now(UTC))
        # Same Message-ID on every retry, so a retry after a lost reply can be recognised.
        digest = hashlib.sha256(notification.dedup_key.encode("utf-8")).hexdigest()[:32]
        domain = self.from_addr.rpartition("@")[2].strip(" >") or "txmon.invalid"
        message["Message-ID"] = f"<txmon.{digest}@{domain}>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
        message["X-Txmon-Dedup-Key"] = _one_line(notification.dedup_key)
        message.set_content(email_body(notification))
        return message

    def send(self, notification: Notification) -> None:
        message = self.build_message(notification)
        smtp: smtplib.SMTP | None = None
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_seconds, context=self._context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
            smtp.ehlo()
            if self.starttls:
                # Never fall back to plain text: smtplib raises if STARTTLS is not offered.
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            refused = smtp.send_message(message, from_addr=self.from_addr, to_addrs=self.to_addrs)
        except Exception as exc:
            if smtp is not None:
                smtp.close()
            error = _smtp_error(exc)
            if error is None:
                raise
            secrets = [s for s in (self._password, self._username) if s]
            raise _redacted(error, secrets) from None
        # Delivered: a failing QUIT must not turn into a retry that sends the mail twice.
        assert smtp is not None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
        if refused:
            # Some recipients got it; retrying would send it to them again.
            log.warning(
                "channel %s: SMTP server refused recipients %s for %s",
                self.name,
                ", ".join(sorted(refused)),
                notification.dedup_key,
            )
        self._delivered(notification)


def _smtp_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return _one_line(text)[:200]


def _smtp_error(exc: Exception) -> DeliveryError | None:
    """Classify an smtplib failure: 4xx replies and network trouble are worth retrying; 5xx
    replies and a server that lacks a required feature are not. None for a bug of ours."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        retryable = all(400 <= code < 500 for code in codes)
        listed = ", ".join(f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        return DeliveryError(f"SMTP server refused all recipients: {listed}", retryable=retryable)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        code = exc.smtp_code
        return DeliveryError(f"SMTP authentication failed ({code})", retryable=400 <= code < 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return DeliveryError(
            f"SMTP {code} reply: {_smtp_text(exc.smtp_error)}",
            retryable=not 500 <= code < 600,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError("SMTP server disconnected", retryable=True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP server lacks a feature: {exc}", retryable=False)
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"SMTP error: {type(exc).__name__}: {exc}", retryable=False)
    if isinstance(exc, OSError):
        return DeliveryError(
            f"SMTP server unreachable: {_describe(exc)}", retryable=_network_retryable(exc)
        )
    if isinstance(exc, UnicodeError):
        # smtplib sends logins (and, without SMTPUTF8, addresses) as ASCII; its error would
        # quote the offending string, which may be the password.
        return DeliveryError(
            "cannot encode the login or an address for SMTP (non-ASCII)", retryable=False
        )
    return None


# --------------------------------------------------------------------------------------------
# Configuration


_COMMON_KEYS = frozenset({"type", "name", "min_severity"})
_TLS_KEYS = frozenset({"timeout_seconds", "verify_tls", "ca_file"})
_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "stdout": _COMMON_KEYS,
    "jsonl": _COMMON_KEYS | {"path"},
    "webhook": _COMMON_KEYS | _TLS_KEYS | {"url", "url_env", "secret", "secret_env"},
    "slack": _COMMON_KEYS | _TLS_KEYS | {"webhook_url", "webhook_url_env"},
    "email": _COMMON_KEYS
    | _TLS_KEYS
    | {"host", "port", "ssl", "starttls", "username", "username_env", "password_env"}
    | {"from", "to"},
}
CHANNEL_TYPES = tuple(_ALLOWED_KEYS)


class _Config:
    """One [[channels]] table with typed getters whose errors name the channel and the key."""

    def __init__(self, raw: Mapping[str, Any], label: str, environ: Mapping[str, str]) -> None:
        self.raw = raw
        self.label = label
        self.environ = environ

    def fail(self, problem: str) -> TxmonError:
        return TxmonError(f"{self.label}: {problem}")

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing {key}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key} must be a non-empty string")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{key} must be a number")
        if not math.isfinite(value) or value <= 0:
            raise self.fail(f"{key} must be greater than 0")
        return float(value)

    def path(self, key: str, *, required: bool = False) -> Path | None:
        text = self.string(key, required=required)
        return None if text is None else Path(text).expanduser().absolute()

    def secret(self, key: str, *, required: bool = False) -> str | None:
        """`key` given literally or `key_env` naming an environment variable; not both."""
        env_key = f"{key}_env"
        literal = self.string(key)
        variable = self.string(env_key)
        if literal is not None and variable is not None:
            raise self.fail(f"set either {key} or {env_key}, not both")
        if variable is not None:
            value = self.environ.get(variable)
            if not value:
                raise self.fail(
                    f"environment variable {variable} (named by {env_key}) is not set or empty"
                )
            return value
        if literal is None and required:
            raise self.fail(f"missing {key} (set {key} or {env_key})")
        return literal


def build_channels(
    configs: Sequence[Mapping[str, Any]], environ: Mapping[str, str] | None = None
) -> list[Channel]:
    """Channels from the [[channels]] tables of the config file.

    `environ` (default os.environ) resolves the *_env keys, so secrets stay out of the file.
    Raises TxmonError with a one-line message for the first bad table.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if isinstance(configs, Mapping | str) or not isinstance(configs, Sequence):
        raise TxmonError("channels must be a list of tables ([[channels]] in TOML)")
    channels: list[Channel] = []
    seen: set[str] = set()
    for index, raw in enumerate(configs):
        if not isinstance(raw, Mapping):
            raise TxmonError(f"channels[{index}]: must be a table")
        channel = _build_one(raw, index, env)
        if channel.name in seen:
            raise TxmonError(
                f"channel {channel.name!r}: duplicate name (give each channel a distinct name)"
            )
        seen.add(channel.name)
        channels.append(channel)
    return channels


def _build_one(raw: Mapping[str, Any], index: int, environ: Mapping[str, str]) -> Channel:
    kind = raw.get("type")
    if kind is None:
        raise TxmonError(f"channels[{index}]: missing type (one of {', '.join(CHANNEL_TYPES)})")
    if not isinstance(kind, str) or kind not in _ALLOWED_KEYS:
        raise TxmonError(
            f"channels[{index}]: unknown type {kind!r} (one of {', '.join(CHANNEL_TYPES)})"
        )
    name = raw.get("name", kind)
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise TxmonError(
            f"channels[{index}]: name must be 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    config = _Config(raw, f"channel {name!r} ({kind})", environ)
    if kind == "email" and "password" in raw:
        raise config.fail(
            "do not put a password in the config file; set password_env to the name of "
            "an environment variable that holds it"
        )
    unknown = sorted(str(key) for key in raw if key not in _ALLOWED_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED_KEYS[kind]))
        raise config.fail(f"unknown key {unknown[0]!r} (allowed: {allowed})")
    min_severity = raw.get("min_severity", "INFO")
    if not isinstance(min_severity, str) or min_severity.upper() not in MIN_SEVERITIES:
        raise config.fail(f"min_severity must be one of {', '.join(MIN_SEVERITIES)}")
    min_severity = min_severity.upper()

    if kind == "stdout":
        return StdoutChannel(name, min_severity)
    if kind == "jsonl":
        path = config.path("path", required=True)
        assert path is not None
        return JsonlChannel(name, min_severity, path=path)

    timeout = config.number(
        "timeout_seconds", DEFAULT_SMTP_TIMEOUT if kind == "email" else DEFAULT_HTTP_TIMEOUT
    )
    verify_tls = config.boolean("verify_tls", True)
    ca_file = config.path("ca_file")
    if ca_file is not None and not ca_file.is_file():
        raise config.fail(f"ca_file {str(ca_file)!r} does not exist")
    try:
        if kind == "webhook":
            url = config.secret("url", required=True)
            assert url is not None
            _check_url(config, url, "url")
            return WebhookChannel(
                name,
                min_severity,
                url=url,
                secret=config.secret("secret"),
                timeout_seconds=timeout,
                verify_tls=verify_tls,
                ca_file=ca_file,
            )
        if kind == "slack":
            url = config.secret("webhook_url", required=True)
            assert url is not None
            _check_url(config, url, "webhook_url")
            return SlackChannel(
                name,
                min_severity,
                webhook_url=url,
                timeout_seconds=timeout,
                verify_tls=verify_tls,
                ca_file=ca_file,
            )
        return _build_email(config, name, min_severity, timeout, verify_tls, ca_file)
    except ssl.SSLError as exc:
        raise config.fail(f"cannot load ca_file: {exc.reason or exc}") from None


def _check_url(config: _Config, url: str, key: str) -> None:
    # The URL is a secret: the messages describe the problem without echoing it.
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise config.fail(f"{key} must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise config.fail(f"{key} must not contain user:password@")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise config.fail(f"{key} has an invalid port") from None


def _build_email(
    config: _Config,
    name: str,
    min_severity: str,
    timeout: float,
    verify_tls: bool,
    ca_file: Path | None,
) -> EmailChannel:
    host = config.string("host", required=True)
    assert host is not None
    use_ssl = config.boolean("ssl", False)
    if use_ssl and config.raw.get("starttls") is True:
        raise config.fail("set either ssl (implicit TLS) or starttls, not both")
    starttls = config.boolean("starttls", not use_ssl) and not use_ssl
    port = config.raw.get("port", 465 if use_ssl else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise config.fail("port must be an integer between 1 and 65535")
    username = config.secret("username")
    password = config.secret("password")  # only password_env: a literal was rejected above
    if username is not None and password is None:
        raise config.fail("username needs password_env")
    if password is not None and username is None:
        raise config.fail("password_env needs username (or username_env)")
    if username is not None and not (use_ssl or starttls):
        # Refuse to send a password in clear text.
        raise config.fail("login needs starttls = true or ssl = true")
    from_addr = config.string("from", required=True)
    assert from_addr is not None
    to = config.raw.get("to")
    if isinstance(to, str):
        to = [to]
    if (
        not isinstance(to, list)
        or not to
        or not all(isinstance(item, str) and item.strip() for item in to)
    ):
        raise config.fail("missing to (a list of e-mail addresses)")
    return EmailChannel(
        name,
        min_severity,
        host=host,
        port=port,
        use_ssl=use_ssl,
        starttls=starttls,
        username=username,
        password=password,
        from_addr=from_addr,
        to_addrs=to,
        timeout_seconds=timeout,
        verify_tls=verify_tls,
        ca_file=ca_file,
    )
