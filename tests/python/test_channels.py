"""Notification channels against real local servers: an HTTP server and an aiosmtpd SMTP server
on 127.0.0.1, with TLS from a self-signed certificate made for the test session."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import hmac
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from txmon import __version__
from txmon.alerting.channels import (
    Channel,
    DeliveryError,
    EmailChannel,
    JsonlChannel,
    Notification,
    SlackChannel,
    WebhookChannel,
    build_channels,
    render_text,
    slack_message,
)
from txmon.core.errors import TxmonError

NOTIFICATION = Notification(
    dedup_key="failed_rate@2025-07-15T12:47Z:ESCALATION:WARNING",
    metric_name="failed_rate",
    episode_id="failed_rate@2025-07-15T12:47Z",
    event_type="ESCALATION",
    severity="WARNING",
    previous_severity="INFO",
    minute_at=datetime(2025, 7, 15, 13, 16, tzinfo=UTC),
    consecutive_minutes=30,
    value=0.0412,
    threshold=0.02,
    baseline=0.011,
    message="FAILED_RATE anomaly persisted for 30 minutes",
)

EXPECTED_PAYLOAD = {
    "dedup_key": "failed_rate@2025-07-15T12:47Z:ESCALATION:WARNING",
    "metric_name": "failed_rate",
    "episode_id": "failed_rate@2025-07-15T12:47Z",
    "event_type": "ESCALATION",
    "severity": "WARNING",
    "previous_severity": "INFO",
    "minute_at": "2025-07-15T13:16:00Z",
    "consecutive_minutes": 30,
    "value": 0.0412,
    "threshold": 0.02,
    "baseline": 0.011,
    "message": "FAILED_RATE anomaly persisted for 30 minutes",
}

PATH_TOKEN = "T0001/B0002/pathTokenS3cret"
SIGNING_SECRET = "signing-S3cret-value"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pa55word-S3cret"


def notification(**changes: Any) -> Notification:
    return dataclasses.replace(NOTIFICATION, **changes)


def one(config: dict[str, Any], environ: dict[str, str] | None = None) -> Channel:
    channels = build_channels([config], environ or {})
    assert len(channels) == 1
    return channels[0]


def send_error(channel: Channel, n: Notification = NOTIFICATION) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(n)
    return caught.value


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; the tests talk to 127.0.0.1 directly.
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------
# A recording HTTP server


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class WebServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler held for the timeout test must not block teardown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.requests: list[Recorded] = []
        self.statuses: deque[int] = deque()  # answers in order; 200 once exhausted
        self.hold = False  # keep the client waiting until teardown
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the timeout test leaves a client that has gone away


class RecordingHandler(BaseHTTPRequestHandler):
    server: WebServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append(
            Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        if self.server.hold:
            self.server.release.wait(10)
        status = self.server.statuses.popleft() if self.server.statuses else 200
        answer = b"ok"
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "7")
        if 300 <= status < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def web() -> Iterator[WebServer]:
    server = WebServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# --------------------------------------------------------------------------------------------
# A local SMTP server (aiosmtpd) with optional STARTTLS, implicit TLS and AUTH


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


class Mailbox:
    """aiosmtpd handler that keeps messages and can be told to refuse recipients or data."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,
                # Set after STARTTLS and for implicit TLS alike.
                tls=server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


class PortZeroController(Controller):
    """aiosmtpd's Controller on port 0: learn the port the OS picked before the controller
    connects to itself to check the server is up."""

    def _create_server(self) -> Any:
        creating = super()._create_server()

        async def create() -> Any:
            server: Any = await creating  # an asyncio.Server, which has .sockets
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


@dataclasses.dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int


@dataclasses.dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("needs the cryptography package or the openssl command")
        command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        command += " -days 2 -subj /CN=127.0.0.1"
        command += " -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
        subprocess.run(
            [*command.split(), "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
    return Certificate(cert, key)


def _certificate_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture()
def smtp_server(certificate: Certificate) -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers: plain (`tls=None`), STARTTLS (`"starttls"`) or implicit TLS
    (`"implicit"`), optionally requiring AUTH."""
    controllers: list[Controller] = []

    def start(tls: str | None = None, auth: bool = False) -> SmtpServer:
        mailbox = Mailbox()
        kwargs: dict[str, Any] = {}
        if tls == "starttls":
            kwargs["tls_context"] = certificate.server_context()
        elif tls == "implicit":
            kwargs["ssl_context"] = certificate.server_context()
        if auth:
            kwargs["authenticator"] = authenticator
        controller = PortZeroController(mailbox, hostname="127.0.0.1", port=0, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(mailbox, controller.port)

    yield start
    for controller in controllers:
        controller.stop()


def email_config(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "name": "mail",
        "host": "127.0.0.1",
        "port": port,
        "from": "txmon <txmon@example.com>",
        "to": ["ops@example.com", "oncall@example.com"],
        "timeout_seconds": 5,
        **extra,
    }


# --------------------------------------------------------------------------------------------
# Rendering and filtering


def test_render_text_is_one_line_with_the_details() -> None:
    text = render_text(NOTIFICATION)
    assert text == (
        "[WARNING] failed_rate ESCALATION at 2025-07-15 13:16Z: FAILED_RATE anomaly persisted "
        "for 30 minutes (value 4.12% vs threshold 2.00%, baseline 1.10%, was INFO)"
    )
    volume = render_text(
        notification(metric_name="volume", value=1234.0, threshold=2000.5, baseline=None)
    )
    assert "value 1234 vs threshold 2000.50" in volume
    assert "\n" not in render_text(notification(message="two\nlines"))


@pytest.mark.parametrize(
    ("event_type", "severity", "accepted"),
    [
        ("ALERT", "INFO", False),
        ("ESCALATION", "WARNING", False),
        ("ESCALATION", "CRITICAL", True),
        ("REMINDER", "SEVERE", True),
        ("REMINDER", "WARNING", False),
        ("RECOVERY", "HEALTHY", True),
        ("STALE", "WARNING", True),
    ],
)
def test_min_severity_filters_alerts_but_never_recoveries(
    event_type: str, severity: str, accepted: bool
) -> None:
    channel = one({"type": "stdout", "min_severity": "critical"})
    assert channel.min_severity == "CRITICAL"
    n = notification(event_type=event_type, severity=severity)
    assert channel.accepts(n) is accepted
    assert one({"type": "stdout"}).accepts(notification(event_type="ALERT", severity="INFO"))


# --------------------------------------------------------------------------------------------
# stdout and jsonl


def test_stdout_prints_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    channel = one({"type": "stdout"})
    assert channel.name == "stdout"
    channel.send(NOTIFICATION)
    assert capsys.readouterr().out == render_text(NOTIFICATION) + "\n"


def test_jsonl_appends_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "notifications.jsonl"
    channel = one({"type": "jsonl", "name": "file", "path": str(path)})
    assert isinstance(channel, JsonlChannel)
    channel.send(NOTIFICATION)
    second = notification(dedup_key="k2", event_type="RECOVERY", severity="HEALTHY", value=None)
    channel.send(second)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == EXPECTED_PAYLOAD
    assert json.loads(lines[1])["dedup_key"] == "k2"
    assert json.loads(lines[1])["value"] is None

    # A new channel object (a restarted dispatcher) appends, never truncates.
    one({"type": "jsonl", "path": str(path)}).send(NOTIFICATION)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_jsonl_failure_is_a_delivery_error(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder"
    folder.mkdir()
    error = send_error(one({"type": "jsonl", "path": str(folder)}))
    assert error.retryable is False
    assert "JSON Lines" in str(error)


# --------------------------------------------------------------------------------------------
# Webhook


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
    web.hold = True
    channel = one({"type": "webhook", "url": web.url, "timeout_seconds": 0.5})
    started = time.monotonic()
    error = send_error(channel)
    assert time.monotonic() - started < 3
    assert error.retryable is True
    assert str(error) == "no answer from webhook: timed out"


def test_webhook_connection_refused_is_retryable() -> None:
    channel = one({"type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/hook"})
    error = send_error(channel)
    assert error.retryable is True
    assert "unreachable" in str(error)


# --------------------------------------------------------------------------------------------
# Slack


def test_slack_posts_block_kit(web: WebServer) -> None:
    channel = one({"type": "slack", "webhook_url_env": "SLACK"}, {"SLACK": f"{web.url}/s"})
    assert isinstance(channel, SlackChannel)
    channel.send(NOTIFICATION)
    (request,) = web.requests
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.body)
    assert body == slack_message(NOTIFICATION)
    assert body["text"] == render_text(NOTIFICATION)
    header, summary, details, context = body["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"] == ":warning: WARNING failed_rate ESCALATION"
    assert summary["type"] == "section"
    assert "value 4.12% vs threshold 2.00%" in summary["text"]["text"]
    assert details["type"] == "section"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in details["fields"]}
    assert fields["*Severity*"] == "WARNING (was INFO)"
    assert fields["*Metric*"] == "failed_rate"
    assert fields["*Event*"] == "ESCALATION"
    assert fields["*Minutes*"] == "30"
    assert fields["*Value*"].startswith("value 4.12% vs threshold 2.00%")
    assert context["type"] == "context"


def test_slack_formats_volume_and_escapes_text() -> None:
    message = slack_message(
        notification(
            metric_name="volume",
            severity="SEVERE",
            value=15.0,
            threshold=120.25,
            message="VOLUME <drop> & more",
        )
    )
    assert message["blocks"][0]["text"]["text"].startswith(":rotating_light: SEVERE")
    summary = message["blocks"][1]["text"]["text"]
    assert "VOLUME &lt;drop&gt; &amp; more" in summary
    assert "value 15 vs threshold 120.25" in summary


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (403, False)])
def test_slack_errors_are_classified_like_webhooks(
    web: WebServer, status: int, retryable: bool
) -> None:
    web.statuses.append(status)
    error = send_error(one({"type": "slack", "webhook_url": f"{web.url}/s"}))
    assert error.retryable is retryable
    assert str(error) == f"HTTP {status} from Slack webhook"


# --------------------------------------------------------------------------------------------
# E-mail


def test_email_arrives_with_subject_and_body(smtp_server: Callable[..., SmtpServer]) -> None:
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
    body = message.get_content()
    assert render_text(NOTIFICATION) in body
    for detail in (
        "Value:        4.12%",
        "Threshold:    2.00%",
        "Baseline:     1.10%",
        "Minutes:      30",
        "Minute (UTC): 2025-07-15T13:16:00Z",
        f"Dedup key:    {NOTIFICATION.dedup_key}",
        f"Episode:      {NOTIFICATION.episode_id}",
    ):
        assert detail in body
    assert received.tls is False


def test_email_starttls_with_login_verifies_the_certificate(
    smtp_server: Callable[..., SmtpServer], certificate: Certificate
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


def test_email_starttls_without_verification(smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(tls="starttls")
    one(email_config(server.port, verify_tls=False)).send(NOTIFICATION)
    assert server.mailbox.received[0].tls is True


def test_email_untrusted_certificate_is_not_retryable(
    smtp_server: Callable[..., SmtpServer],
) -> None:
    server = smtp_server(tls="starttls")
    error = send_error(one(email_config(server.port)))
    assert error.retryable is False
    assert "certificate verification failed" in str(error)
    assert server.mailbox.received == []


def test_email_implicit_tls(
    smtp_server: Callable[..., SmtpServer], certificate: Certificate
) -> None:
    server = smtp_server(tls="implicit")
    one(email_config(server.port, ssl=True, ca_file=str(certificate.cert))).send(NOTIFICATION)
    assert server.mailbox.received[0].tls is True


def test_email_refuses_to_continue_without_starttls(
    smtp_server: Callable[..., SmtpServer],
) -> None:
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
    smtp_server: Callable[..., SmtpServer], password: str, expected: str
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
    smtp_server: Callable[..., SmtpServer],
    rcpt_reply: str | None,
    data_reply: str | None,
    retryable: bool,
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
    smtp_server: Callable[..., SmtpServer], caplog: pytest.LogCaptureFixture
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


# --------------------------------------------------------------------------------------------
# Configuration


def test_build_channels_defaults_and_names(tmp_path: Path) -> None:
    channels = build_channels(
        [
            {"type": "stdout"},
            {"type": "jsonl", "path": str(tmp_path / "a.jsonl")},
            {"type": "jsonl", "name": "archive", "path": str(tmp_path / "b.jsonl")},
            {"type": "webhook", "url": "https://example.com/hook"},
        ],
        environ={},
    )
    assert [c.name for c in channels] == ["stdout", "jsonl", "archive", "webhook"]
    assert all(c.min_severity == "INFO" for c in channels)
    webhook = channels[3]
    assert isinstance(webhook, WebhookChannel)
    assert webhook.timeout_seconds == 10
    assert build_channels([], {}) == []


MAIL = {"type": "email", "host": "h", "from": "a@x.test", "to": ["b@x.test"]}
HOOK = {"type": "webhook", "url": "https://x.test/hook"}


@pytest.mark.parametrize(
    ("configs", "environ", "expected"),
    [
        ([{"type": "pager"}], {}, "unknown type 'pager'"),
        ([{"name": "x"}], {}, "missing type"),
        ([{"type": "webhook"}], {}, "missing url (set url or url_env)"),
        ([{"type": "slack"}], {}, "missing webhook_url"),
        ([{"type": "webhook", "url_env": "NOPE"}], {}, "environment variable NOPE"),
        ([{"type": "webhook", "url_env": "EMPTY"}], {"EMPTY": ""}, "is not set or empty"),
        ([{**HOOK, "secret_env": "NOPE"}], {}, "environment variable NOPE (named by secret_env)"),
        ([{**HOOK, "url_env": "U"}], {"U": "https://y.test/"}, "either url or url_env"),
        ([{**HOOK, "url": "ftp://x.test/"}], {}, "http:// or https://"),
        ([{**HOOK, "timeout_seconds": 0}], {}, "greater than 0"),
        ([{**HOOK, "verify_tls": "no"}], {}, "verify_tls must be true or false"),
        ([{**HOOK, "ca_file": "/nope/ca.pem"}], {}, "ca_file '/nope/ca.pem' does not exist"),
        ([{"type": "stdout"}, {"type": "stdout"}], {}, "duplicate name"),
        ([{"type": "stdout", "name": "a b"}], {}, "name must be"),
        ([{"type": "stdout", "min_severity": "LOUD"}], {}, "min_severity must be one of"),
        ([{"type": "stdout", "colour": "red"}], {}, "unknown key 'colour'"),
        ([{"type": "jsonl"}], {}, "missing path"),
        ([{**MAIL, "host": None}], {}, "missing host"),
        ([{**MAIL, "from": None}], {}, "missing from"),
        ([{**MAIL, "to": []}], {}, "missing to"),
        ([{**MAIL, "password": "pw"}], {}, "set password_env"),
        ([{**MAIL, "username": "u"}], {}, "username needs password_env"),
        ([{**MAIL, "password_env": "PW"}], {"PW": "pw"}, "password_env needs username"),
        (
            [{**MAIL, "username": "u", "password_env": "PW", "starttls": False}],
            {"PW": "pw"},
            "login needs starttls",
        ),
        ([{**MAIL, "ssl": True, "starttls": True}], {}, "either ssl"),
        ([{**MAIL, "port": "25"}], {}, "port must be an integer"),
        ({"type": "stdout"}, {}, "list of tables"),
    ],
)
def test_bad_config_is_one_clear_line(configs: Any, environ: dict[str, str], expected: str) -> None:
    # A None value in a case removes that key from the MAIL or HOOK base table.
    configs = (
        [{k: v for k, v in c.items() if v is not None} for c in configs]
        if isinstance(configs, list)
        else configs
    )
    with pytest.raises(TxmonError) as caught:
        build_channels(configs, environ)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_environ_defaults_to_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, web: WebServer
) -> None:
    monkeypatch.setenv("TXMON_TEST_HOOK_URL", web.url)
    one_channel = build_channels([{"type": "webhook", "url_env": "TXMON_TEST_HOOK_URL"}])
    one_channel[0].send(NOTIFICATION)
    assert len(web.requests) == 1


# --------------------------------------------------------------------------------------------
# Secrets


def test_secrets_stay_out_of_repr_errors_and_logs(
    web: WebServer,
    smtp_server: Callable[..., SmtpServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp = smtp_server(tls="starttls", auth=True)
    hook_url = f"{web.url}/services/{PATH_TOKEN}"
    dead_url = f"http://127.0.0.1:{closed_port()}/services/{PATH_TOKEN}"
    environ = {
        "HOOK_URL": hook_url,
        "DEAD_URL": dead_url,
        "HOOK_SECRET": SIGNING_SECRET,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "WRONG_PASSWORD": "wrong-" + SMTP_PASSWORD,
    }
    secrets = [PATH_TOKEN, SIGNING_SECRET, SMTP_PASSWORD, "services/"]
    login = {"username": SMTP_USER, "verify_tls": False}
    hook, slack, dead, slow, mail, bad_mail = build_channels(
        [
            {"type": "webhook", "name": "hook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
            {"type": "slack", "webhook_url": hook_url},
            {"type": "webhook", "name": "dead", "url_env": "DEAD_URL"},
            {"type": "webhook", "name": "slow", "url": hook_url, "timeout_seconds": 0.5},
            email_config(smtp.port, password_env="SMTP_PASSWORD", **login),
            email_config(smtp.port, name="bad-mail", password_env="WRONG_PASSWORD", **login),
        ],
        environ,
    )
    texts = [repr(channel) for channel in (hook, slack, dead, slow, mail, bad_mail)]
    texts += [str(channel) for channel in (hook, slack, dead, slow, mail, bad_mail)]

    hook.send(NOTIFICATION)
    slack.send(NOTIFICATION)
    mail.send(NOTIFICATION)
    errors = []
    web.statuses.extend([404, 500])
    errors.append(send_error(hook))
    errors.append(send_error(slack))
    errors.append(send_error(dead))
    errors.append(send_error(bad_mail))
    web.hold = True
    errors.append(send_error(slow))
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    with pytest.raises(TxmonError) as caught:
        build_channels([{"type": "webhook", "url": f"ftp://x.test/{PATH_TOKEN}"}], {})
    texts.append(str(caught.value))
    texts.append(caplog.text)

    assert "delivered" in caplog.text  # something was logged, and it holds no secret
    for text in texts:
        for secret in secrets:
            assert secret not in text, text
