"""Superset's web server: a gunicorn process in a session of its own, its state in the home's
server.json, started until /health answers and stopped by its process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass

import httpx

from txmon.db.embedded import port_is_free
from txmon.ops.superset.home import (
    SupersetError,
    SupersetFiles,
    SupersetHome,
    file_digest,
    superset_environment,
)

START_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 20
DASHBOARD_SLUG = "transaction-monitoring"


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    host: str
    port: int
    # Of superset_config.py when the server started: a changed file needs a restart.
    config_digest: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/superset/dashboard/{DASHBOARD_SLUG}/"


def server_info(home: SupersetHome) -> ServerInfo | None:
    """The running server started from this home, or None."""
    if not home.state_file.exists():
        return None
    state = json.loads(home.state_file.read_text())
    info = ServerInfo(
        pid=int(state["pid"]),
        host=state["host"],
        port=int(state["port"]),
        config_digest=state.get("config_digest", ""),
    )
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        home.state_file.unlink(missing_ok=True)
        return None
    return info


def is_healthy(info: ServerInfo) -> bool:
    try:
        return httpx.get(f"{info.url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(home: SupersetHome, files: SupersetFiles, host: str, port: int) -> ServerInfo:
    """Start gunicorn on host:port and wait until Superset answers its health check."""
    if not port_is_free(port, host):
        raise SupersetError(f"port {port} on {host} is taken; choose another with --port")
    env = superset_environment(home, files)
    with home.log_file.open("a") as log:
        process = subprocess.Popen(
            [
                str(home.executable("gunicorn")),
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--timeout",
                "120",
                "--limit-request-line",
                "0",
                "--limit-request-field_size",
                "0",
                "superset.app:create_app()",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    info = ServerInfo(process.pid, host, port, file_digest(files.config))
    home.state_file.write_text(json.dumps(asdict(info)) + "\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            home.state_file.unlink(missing_ok=True)
            raise SupersetError(f"Superset exited while starting; see {home.log_file}")
        if is_healthy(info):
            return info
        time.sleep(1)
    stop_server(home)
    raise SupersetError(
        f"Superset did not answer within {START_TIMEOUT_SECONDS} s; see {home.log_file}"
    )


def stop_server(home: SupersetHome) -> bool:
    """Stop the server of this home; False when none was running."""
    info = server_info(home)
    if info is None:
        return False
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, 5)):
        try:
            os.killpg(info.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _is_alive(info.pid):
            time.sleep(0.2)
        if not _is_alive(info.pid):
            break
    home.state_file.unlink(missing_ok=True)
    return True


def _is_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = 0
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
