"""What `txmon superset up`, `down` and `status` do, step by step."""

from __future__ import annotations

import os
import socket
import time

from txmon.db.connection import connect, database_url
from txmon.db.embedded import port_is_free
from txmon.ops.superset.home import (
    Say,
    SupersetError,
    SupersetFiles,
    SupersetHome,
    ensure_virtualenv,
    file_digest,
)
from txmon.ops.superset.provision import (
    admin_credentials,
    ensure_secret_key,
    import_assets,
    reader_summary,
    reader_uri,
    set_up_metadata,
)
from txmon.ops.superset.server import (
    ServerInfo,
    is_healthy,
    server_info,
    start_server,
    stop_server,
)
from txmon.pipeline.build_state import has_relation

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088


def configured_port(port: int | None) -> int:
    """--port, else TXMON_SUPERSET_PORT, else 8088."""
    if port is not None:
        return port
    configured = os.environ.get("TXMON_SUPERSET_PORT", "").strip()
    if not configured:
        return DEFAULT_PORT
    if not configured.isdigit() or not 1 <= int(configured) <= 65535:
        raise SupersetError(
            f"TXMON_SUPERSET_PORT must be a port from 1 to 65535, got {configured!r}"
        )
    return int(configured)


def up(say: Say, host: str = DEFAULT_HOST, port: int | None = None) -> ServerInfo:
    """Install or update Superset, import the dashboard and make sure the server runs."""
    started = time.monotonic()
    home = SupersetHome.current()
    files = SupersetFiles.current()
    # What can be wrong without installing anything fails before the minutes of installing.
    wanted_port = configured_port(port)
    try:
        socket.getaddrinfo(host, wanted_port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise SupersetError(f"cannot listen on {host!r}: {error.strerror}") from error
    running = server_info(home)
    if (running is None or (running.host, running.port) != (host, wanted_port)) and not (
        port_is_free(wanted_port, host)
    ):
        raise SupersetError(f"port {wanted_port} on {host} is taken; choose another with --port")
    url = database_url()
    with connect(url):
        pass
    home.root.mkdir(parents=True, exist_ok=True)
    admin = admin_credentials(home)

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {message}")

    ensure_virtualenv(home, files, step)
    ensure_secret_key(home)
    uri = reader_uri(home, url)
    step(reader_summary())
    with connect(url) as conn:
        has_views = has_relation(conn, "current_status")
    if not has_views:
        step("No monitoring views yet: the charts stay empty until `txmon build` (or `txmon demo`)")
    set_up_metadata(home, files, admin)
    step(f"Metadata ready in {home.root} (admin user {admin.username})")
    import_assets(home, files, admin, uri)
    step(f"Imported the dashboard from {files.assets}")

    info = _running_as_wanted(home, files, host, wanted_port, step)
    if info is not None and is_healthy(info):
        step(f"Superset already running (pid {info.pid}); the assets were updated in place")
    else:
        if info is not None:
            stop_server(home)
        info = start_server(home, files, host, wanted_port)
        step(f"Superset started (pid {info.pid}, log {home.log_file})")
    say("")
    say(f"Dashboard: {info.dashboard_url}")
    if admin.is_new:
        say(f"Log in as {admin.username} with password {admin.password}")
        say(f"(shown once; it is kept in {home.admin_password_file})")
    elif os.environ.get("TXMON_SUPERSET_ADMIN_PASSWORD"):
        say(f"Log in as {admin.username} with the password in TXMON_SUPERSET_ADMIN_PASSWORD")
    else:
        say(f"Log in as {admin.username}; the password is in {home.admin_password_file}")
    return info


def _running_as_wanted(
    home: SupersetHome, files: SupersetFiles, host: str, port: int, step: Say
) -> ServerInfo | None:
    """The running server if it listens where wanted with the current settings; otherwise it
    is stopped (to be started again) and None returned."""
    info = server_info(home)
    if info is not None and (info.host, info.port) != (host, port):
        step(f"Restarting: the server listens on {info.host}:{info.port}")
        stop_server(home)
        return None
    if info is not None and info.config_digest != file_digest(files.config):
        step(f"Restarting: {files.config.name} changed since the server started")
        stop_server(home)
        return None
    return info


def down() -> bool:
    """Stop the server; False when none was running."""
    return stop_server(SupersetHome.current())


def status() -> ServerInfo | None:
    """The running server, or None."""
    return server_info(SupersetHome.current())
