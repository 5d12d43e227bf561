"""The e-mail channel against a local aiosmtpd server: plain, STARTTLS, implicit TLS, login."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pytest

from alerting_helpers import (
    NOTIFICATION,
    SMTP_PASSWORD,
    SMTP_USER,
    Certificate,
    SmtpServer,
    closed_port,
    email_config,
    one,
    send_error,
)
from txmon.alerting.channels.email import EmailChannel
from txmon.alerting.render import email_body

pytest_plugins = ["alerting_fixtures"]

StartSmtp = Callable[..., SmtpServer]


def test_email_arrives_with_subject_and_body(smtp_server: StartSmtp) -> None:
    server = smtp_server()
    channel = one(email_config(server.port, starttls=False))
    assert isinstance(channel, EmailChannel)
    channel.send(NOTIFICATION)
    (received,) = server.mailbox.received
    assert received.mail_from == "txmon@example.com"
    assert received.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    message = received.message
    assert message["Subject"] == "[txmon] WARNING failed_rate ESCALATION"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["X-Txmon-Dedup-Key"] == NOTIFICATION.dedup_key
    assert message.get_content().replace("\r\n", "\n") == email_body(NOTIFICATION)
    assert received.tls is False


def test_a_retry_has_the_same_message_id(smtp_server: StartSmtp) -> None:
    server = smtp_server()
    channel = one(email_config(server.port, starttls=False))
    channel.send(NOTIFICATION)
    channel.send(NOTIFICATION)
    first, second = server.mailbox.received
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_email_starttls_with_login_verifies_the_certificate(
    smtp_server: StartSmtp, certificate: Certificate
) -> None:
    server = smtp_server(tls="starttls", auth=True)
    environ = {"SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}
    config = email_config(
        server.port,
        username_env="SMTP_USER",
        password_env="SMTP_PASSWORD",
        ca_file=str(certificate.cert),
    )
    one(config, environ).send(NOTIFICATION)
    (received,) = server.mailbox.received
    assert received.tls is True
    assert received.authenticated is True


def test_email_starttls_without_verification(smtp_server: StartSmtp) -> None:
    server = smtp_server(tls="starttls")
    one(email_config(server.port, verify_tls=False)).send(NOTIFICATION)
    assert server.mailbox.received[0].tls is True


def test_email_untrusted_certificate_is_not_retryable(smtp_server: StartSmtp) -> None:
    server = smtp_server(tls="starttls")
    error = send_error(one(email_config(server.port)))
    assert error.retryable is False
    assert "certificate verification failed" in str(error)
    assert server.mailbox.received == []


def test_email_implicit_tls(smtp_server: StartSmtp, certificate: Certificate) -> None:
    server = smtp_server(tls="implicit")
    one(email_config(server.port, ssl=True, ca_file=str(certificate.cert))).send(NOTIFICATION)
    assert server.mailbox.received[0].tls is True


def test_email_refuses_to_continue_without_starttls(smtp_server: StartSmtp) -> None:
    server = smtp_server()  # offers no STARTTLS
    error = send_error(one(email_config(server.port)))
    assert error.retryable is False
    assert "STARTTLS" in str(error)
    assert server.mailbox.received == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("wrong-" + SMTP_PASSWORD, "SMTP authentication failed (535)"),
        ("w\u00f6rong-" + SMTP_PASSWORD, "non-ASCII"),  # smtplib cannot encode it
    ],
)
def test_email_bad_password_is_not_retryable(
    smtp_server: StartSmtp, password: str, expected: str
) -> None:
    server = smtp_server(tls="starttls", auth=True)
    config = email_config(server.port, username=SMTP_USER, password_env="PW", verify_tls=False)
    error = send_error(one(config, {"PW": password}))
    assert error.retryable is False
    assert expected in str(error)
    assert SMTP_PASSWORD not in "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "retryable"),
    [
        ("550 5.1.1 No such user", None, False),
        ("450 4.2.1 Mailbox busy, try later", None, True),
        (None, "451 4.3.0 Temporary local problem", True),
        (None, "554 5.7.1 Message rejected", False),
    ],
)
def test_email_smtp_replies_are_classified(
    smtp_server: StartSmtp, rcpt_reply: str | None, data_reply: str | None, retryable: bool
) -> None:
    server = smtp_server()
    if rcpt_reply:
        server.mailbox.rcpt_replies = {
            "ops@example.com": rcpt_reply,
            "oncall@example.com": rcpt_reply,
        }
    server.mailbox.data_reply = data_reply
    error = send_error(one(email_config(server.port, starttls=False)))
    assert error.retryable is retryable
    assert (rcpt_reply or data_reply or "")[:3] in str(error)


def test_email_partly_refused_recipients_count_as_delivered(
    smtp_server: StartSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_replies = {"oncall@example.com": "550 5.1.1 No such user"}
    with caplog.at_level(logging.WARNING, logger="txmon.alerting.channels"):
        one(email_config(server.port, starttls=False)).send(NOTIFICATION)
    assert server.mailbox.received[0].rcpt_tos == ["ops@example.com"]
    assert "oncall@example.com" in caplog.text


def test_email_connection_refused_is_retryable() -> None:
    error = send_error(one(email_config(closed_port())))
    assert error.retryable is True
    assert "unreachable" in str(error)
