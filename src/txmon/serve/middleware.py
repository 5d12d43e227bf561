"""The gate in front of every route: the bearer token, then the body size; and on the way
out, a content-security policy for every answer that brings none of its own.

Pure ASGI rather than FastAPI dependencies, so both hold before anything reads the request: a
caller without the token learns nothing (not even whether a body is valid), and no more than the
body limit is ever held in memory.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from txmon.serve.docs import ASSETS_URL, DOCS_URL, REDOC_URL

# Open without a token: the liveness probe, and the docs with their files (they show the
# schema, never data).
OPEN_PATHS = frozenset({"/health", DOCS_URL, REDOC_URL, "/openapi.json"})
OPEN_PREFIXES = (f"{ASSETS_URL}/",)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# For answers that set no policy (all but the docs pages): JSON and files are data, never a
# page to run, frame or style.
DEFAULT_HEADERS = (
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
)


class Gate:
    """The bearer token first, then the body size, counted as it arrives."""

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_default_headers(send)
        headers = dict(scope["headers"])  # names are lower-case bytes in ASGI
        path = scope["path"]
        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        needs_token = self.token is not None and not is_open
        if needs_token and not self._authorised(headers.get(b"authorization", b"")):
            detail = "a valid token is required: send 'Authorization: Bearer <token>'"
            await _send_json(send, 401, {"detail": detail}, [(b"www-authenticate", b"Bearer")])
            return
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    def _authorised(self, header: bytes) -> bool:
        scheme, _, credentials = header.strip().partition(b" ")
        assert self.token is not None
        # compare_digest: the time taken does not tell how much of a guess was right.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)

    async def _too_large(self, send: Send) -> None:
        detail = f"the request body is larger than {self.max_body_bytes:,} bytes; split the batch"
        await _send_json(send, 413, {"detail": detail}, [(b"connection", b"close")])


def _with_default_headers(send: Send) -> Send:
    """A send that adds DEFAULT_HEADERS to the answer's start, each unless already set."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            missing = [(name, value) for name, value in DEFAULT_HEADERS if name not in present]
            message = {**message, "headers": [*message.get("headers", []), *missing]}
        await send(message)

    return sending


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's later messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_json(
    send: Send, status: int, content: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = JSONResponse(content).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
