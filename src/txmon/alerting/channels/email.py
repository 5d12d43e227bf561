"""The e-mail channel: one message per notification over SMTP, with STARTTLS or implicit TLS
and an optional login; never a password in clear text."""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from txmon.alerting.channels.base import BaseChannel
from txmon.alerting.notification import (
    DeliveryError,
    Notification,
    describe_failure,
    is_retryable_failure,
)
from txmon.alerting.render import email_body, email_subject, one_line
from txmon.alerting.transport import tls_context

log = logging.getLogger(__name__)

# SMTP servers may scan a message before they answer DATA; a timeout after the server accepted
# the message would send it twice, so e-mail waits longer than HTTP by default.
DEFAULT_SMTP_TIMEOUT = 30.0
# How much of a server's reply an error message quotes.
REPLY_QUOTE_LIMIT = 200


class EmailChannel(BaseChannel):
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
        self._tls = tls_context(verify_tls, ca_file)

    def settings_text(self) -> str:
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
        message["X-Txmon-Dedup-Key"] = one_line(notification.dedup_key)
        message.set_content(email_body(notification))
        return message

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=self._tls
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)

    def send(self, notification: Notification) -> None:
        message = self.build_message(notification)
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            smtp.ehlo()
            if self.starttls:
                # Never fall back to plain text: smtplib raises if STARTTLS is not offered.
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            refused = smtp.send_message(message, from_addr=self.from_addr, to_addrs=self.to_addrs)
        except Exception as failure:
            if smtp is not None:
                smtp.close()
            error = smtp_delivery_error(failure)
            if error is None:
                raise
            secrets = [secret for secret in (self._password, self._username) if secret]
            raise error.without_secrets(secrets) from None
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
        self.delivered(notification)


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return one_line(text)[:REPLY_QUOTE_LIMIT]


def smtp_delivery_error(failure: Exception) -> DeliveryError | None:
    """Classify an smtplib failure: 4xx replies and network trouble are worth retrying; 5xx
    replies and a server that lacks a required feature are not. None for a bug of ours."""
    if isinstance(failure, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in failure.recipients.values()})
        retryable = all(400 <= code < 500 for code in codes)
        listed = ", ".join(f"{addr} ({code})" for addr, (code, _) in failure.recipients.items())
        return DeliveryError(f"SMTP server refused all recipients: {listed}", retryable=retryable)
    if isinstance(failure, smtplib.SMTPAuthenticationError):
        code = failure.smtp_code
        return DeliveryError(f"SMTP authentication failed ({code})", retryable=400 <= code < 500)
    if isinstance(failure, smtplib.SMTPResponseException):
        code = failure.smtp_code
        return DeliveryError(
            f"SMTP {code} reply: {_reply_text(failure.smtp_error)}",
            retryable=not 500 <= code < 600,
        )
    if isinstance(failure, smtplib.SMTPServerDisconnected):
        return DeliveryError("SMTP server disconnected", retryable=True)
    if isinstance(failure, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP server lacks a feature: {failure}", retryable=False)
    if isinstance(failure, smtplib.SMTPException):
        return DeliveryError(f"SMTP error: {type(failure).__name__}: {failure}", retryable=False)
    if isinstance(failure, OSError):
        return DeliveryError(
            f"SMTP server unreachable: {describe_failure(failure)}",
            retryable=is_retryable_failure(failure),
        )
    if isinstance(failure, UnicodeError):
        # smtplib sends logins (and, without SMTPUTF8, addresses) as ASCII; its error would
        # quote the offending string, which may be the password.
        return DeliveryError(
            "cannot encode the login or an address for SMTP (non-ASCII)", retryable=False
        )
    return None
