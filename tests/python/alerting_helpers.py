"""Shared parts of the alerting tests (tests/python/alerting): a sample notification, the local
servers the channels talk to (an HTTP receiver and an aiosmtpd SMTP server, with TLS from a
certificate made for the run) and small steps. The fixtures built on them are in
alerting_fixtures.py."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from txmon.alerting.channels.config import build_channels
from txmon.alerting.notification import Channel, DeliveryError, Notification
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Delivery, Rules, Settings
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect

NOTIFICATION = Notification(
    dedup_key="failed_rate@2025-07-15T12:47Z:ESCALATION:WARNING",
    metric_name="failed_rate",
    episode_id="failed_rate@2025-07-15T12:47Z",
    event_type="ESCALATION",
    severity="WARNING",
    previous_severity="INFO",
    minute_at=datetime(2025, 7, 15, 13, 16, tzinfo=UTC),
    episode_minutes=30,
    value=0.0412,
    threshold=0.02,
    baseline=0.011,
    message="FAILED_RATE anomaly persisted for 30 minutes",
)

EXPECTED_PAYLOAD = {
    "dedup_key": "failed_rate@2025-07-15T12:47Z:ESCALATION:WARNING",
    "metric_name": "failed_rate",
    "dimension": "all",
    "dimension_value": "all",
    "episode_id": "failed_rate@2025-07-15T12:47Z",
    "event_type": "ESCALATION",
    "severity": "WARNING",
    "previous_severity": "INFO",
    "minute_at": "2025-07-15T13:16:00Z",
    "episode_minutes": 30,
    "value": 0.0412,
    "threshold": 0.02,
    "baseline": 0.011,
    "message": "FAILED_RATE anomaly persisted for 30 minutes",
}

# The history the outbox tests build: one day from START with a 70-minute failure burst that
# ends, so failed_rate goes INFO, WARNING, CRITICAL, SEVERE and recovers.
START = datetime(2025, 7, 12)
BURST_START = START + timedelta(minutes=600)

PATH_TOKEN = "T0001/B0002/pathTokenS3cret"
SIGNING_SECRET = "signing-S3cret-value"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pa55word-S3cret"
# How long a held HTTP answer waits for the test to release it: far longer than any timeout a
# test configures, so a timeout error proves the configured timeout was applied.
HOLD_SECONDS = 60


def notification(**changes: Any) -> Notification:
    return dataclasses.replace(NOTIFICATION, **changes)


def one(config: dict[str, Any], environ: dict[str, str] | None = None) -> Channel:
    """The one channel a [[channels]] table builds."""
    channels = build_channels([config], environ or {})
    assert len(channels) == 1
    return channels[0]


def send_error(channel: Channel, n: Notification = NOTIFICATION) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(n)
    return caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deliver_after_an_outage(
    url: str, channel: dict[str, Any], receiver: WebServer, up_status: int, rules: Rules
) -> list[Recorded]:
    """Dispatch what the built history at `url` calls for to `channel` while `receiver`
    answers 503, then once more after it comes back answering `up_status`; the requests of
    that second dispatch, which sends every notification again, in the order they were
    queued. Returns them once every notification was sent."""
    channels = build_channels([channel])
    receiver.default = 503
    # Retries far off: the first dispatch tries each episode's first notification once; the
    # later ones of an episode wait behind it (an episode's notifications leave in order).
    down = Delivery(retry_base_seconds=300, retry_max_seconds=300, max_wait_seconds=0)
    first = run_dispatch(url, Settings(rules=rules, delivery=down), channels)
    assert first.delivery is not None and first.queue.queued > 0
    assert (first.delivery.sent, first.delivery.waiting) == (0, first.queue.queued)
    with connect(url) as conn:
        (heads,) = conn.execute(
            "select count(distinct coalesce(episode_id, notification_id::text)) "
            f"from {PUBLIC_SCHEMA}.alert_log"
        ).fetchone()
        tried = len(receiver.requests)
        assert tried == heads < first.queue.queued
        conn.execute(f"update {PUBLIC_SCHEMA}.alert_log set next_attempt_at = now()")
    receiver.default = up_status
    up = Delivery(max_wait_seconds=0)
    second = run_dispatch(url, Settings(rules=rules, delivery=up), channels)
    assert second.delivery is not None
    assert (second.queue.queued, second.delivery.sent) == (0, first.queue.queued)
    return receiver.requests[tried:]


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
# A recording HTTP receiver


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class WebServer(ThreadingHTTPServer):
    """An HTTP endpoint on 127.0.0.1 that records every POST and answers as planned: the
    statuses in `statuses` first, then `default`; each Idempotency-Key's first
    `failures_per_key` tries get `failure`. With `hold`, an answer waits until `release`."""

    daemon_threads = True
    block_on_close = False  # a held handler must not block teardown

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.requests: list[Recorded] = []
        self.statuses: deque[int] = deque()
        self.default = 200
        self.failures_per_key = 0
        self.failure = 503
        self.retry_after = "7"
        self.hold = False
        self.release = threading.Event()
        self.arrived = threading.Event()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def idempotency_keys(self) -> list[str]:
        return [
            r.headers["idempotency-key"] for r in self.requests if "idempotency-key" in r.headers
        ]

    def status_for(self, key: str | None) -> int:
        """The answer to a request just recorded (so its own try is counted)."""
        if self.statuses:
            return self.statuses.popleft()
        if key is not None and self.idempotency_keys().count(key) <= self.failures_per_key:
            return self.failure
        return self.default

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a timeout test) or refused the certificate


class RecordingHandler(BaseHTTPRequestHandler):
    server: WebServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {key.lower(): value for key, value in self.headers.items()}
        self.server.requests.append(Recorded("POST", self.path, headers, body))
        self.server.arrived.set()
        if self.server.hold:
            self.server.release.wait(HOLD_SECONDS)
        status = self.server.status_for(headers.get("idempotency-key"))
        answer = b"ok"
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", self.server.retry_after)
        if 300 <= status < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


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


# --------------------------------------------------------------------------------------------
# A self-signed certificate


@dataclasses.dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
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
