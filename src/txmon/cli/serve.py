"""`txmon serve`: the monitoring API, once its address and token have been checked."""

from __future__ import annotations

import os
import socket

import click

from txmon.cli.options import CONTEXT
from txmon.core.errors import TxmonError

# Shorter bearer tokens are guessable; the README asks for 16 characters or more.
MIN_TOKEN_LENGTH = 16


@click.command(context_settings=CONTEXT)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; any but 127.0.0.1, localhost or ::1 needs a token.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--token-env",
    default="TXMON_API_TOKEN",
    show_default=True,
    metavar="VARIABLE",
    help="Environment variable holding the bearer token (unset or empty: no token).",
)
def serve(host: str, port: int, token_env: str) -> None:
    """The HTTP API until Ctrl-C or SIGTERM: /monitor, /status, /episodes, /alerts,
    /metrics/METRIC, /health and POST /transactions; OpenAPI docs at /docs."""
    if not host.strip():
        raise click.BadParameter("an empty string names no interface", param_hint="'--host'")
    if not token_env.strip():
        raise click.BadParameter("name an environment variable", param_hint="'--token-env'")
    # The token comes from the environment, never the command line (ps would show it).
    token = os.environ.get(token_env, "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise TxmonError(
            f"the token in {token_env} is too short: use at least {MIN_TOKEN_LENGTH} characters"
        )
    check_can_listen(host, port)
    # Imported once the arguments are known to be good: FastAPI takes seconds to import.
    from txmon.db.connection import database_url
    from txmon.serve.app import serve as serve_api

    serve_api(host, port, database_url(), token)


def check_can_listen(host: str, port: int) -> None:
    """Fail in one line before the server starts when the address is taken or unknown (uvicorn
    would log several lines and exit 3)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise TxmonError(f"cannot listen on {host}: {error.strerror}") from error
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped server is not taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise TxmonError(
                f"cannot listen on {host}:{port}: {error.strerror}; choose another with --port"
            ) from error
