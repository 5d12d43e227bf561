"""`txmon superset up|down|status`: Apache Superset with txmon's dashboard, from files.

Superset runs from a virtualenv of its own (it pins an older SQLAlchemy and many packages that
must not meet txmon's), keeps its metadata in SQLite under `<TXMON_HOME>/superset/`, reads
PostgreSQL as a role that can only select from schema `monitoring`, and gets its dashboard from
the export bundle under `superset/assets/` on every `up`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from txmon.core.errors import TxmonError
from txmon.core.paths import superset_dir, txmon_home
from txmon.db.connection import (
    ReaderRoleError,
    connect,
    database_url,
    ensure_reader_role,
    libpq_environment,
)
from txmon.db.embedded import port_is_free
from txmon.pipeline.views import has_relation

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088
DEFAULT_ADMIN = "admin"
READER_ROLE = "txmon_superset"
START_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 20
DASHBOARD_SLUG = "transaction-monitoring"

Say = Callable[[str], None]


class SupersetError(TxmonError):
    """Superset could not be installed, set up or started; the message says where to look."""


@dataclass(frozen=True)
class SupersetHome:
    """Where one txmon home keeps its Superset: metadata, secrets, server state, log."""

    root: Path
    venv: Path

    @classmethod
    def current(cls) -> SupersetHome:
        root = txmon_home() / "superset"
        configured = os.environ.get("TXMON_SUPERSET_VENV", "").strip()
        venv = Path(configured).expanduser().resolve() if configured else root / "venv"
        return cls(root=root, venv=venv)

    @property
    def state_file(self) -> Path:
        return self.root / "server.json"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def setup_log(self) -> Path:
        return self.root / "setup.log"

    @property
    def admin_password_file(self) -> Path:
        return self.root / "admin_password"

    @property
    def reader_password_file(self) -> Path:
        return self.root / "reader_password"

    @property
    def secret_key_file(self) -> Path:
        # superset_config.py reads it from TXMON_SUPERSET_HOME when SUPERSET_SECRET_KEY is unset.
        return self.root / "secret_key"

    def executable(self, name: str) -> Path:
        return self.venv / "bin" / name


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


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    # True when the password was made up by this run: the only time it is printed.
    is_new: bool


# -- the virtualenv --------------------------------------------------------------------------


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SupersetFiles:
    """The committed files: settings, pinned requirements, the asset bundle and its helper."""

    root: Path

    @classmethod
    def current(cls) -> SupersetFiles:
        root = superset_dir()
        if not (root / "superset_config.py").is_file():
            raise SupersetError(f"txmon's Superset files are missing from {root}")
        return cls(root)

    @property
    def config(self) -> Path:
        return self.root / "superset_config.py"

    @property
    def requirements(self) -> Path:
        return self.root / "requirements.txt"

    @property
    def constraints(self) -> Path:
        return self.root / "constraints.txt"

    @property
    def assets_script(self) -> Path:
        return self.root / "txmon_assets.py"


def ensure_virtualenv(home: SupersetHome, files: SupersetFiles, say: Say) -> None:
    """Create or update Superset's virtualenv when the pinned requirements changed."""
    marker = home.venv / "txmon-requirements.sha256"
    wanted = _digest(files.requirements, files.constraints)
    is_current = marker.exists() and marker.read_text().strip() == wanted
    if is_current and home.executable("superset").exists():
        return
    say(f"Installing Superset into {home.venv} (a few minutes the first time)")
    if not home.executable("python").exists():
        _run([sys.executable, "-m", "venv", str(home.venv)], home, "creating the virtualenv")
    _run(
        [
            str(home.executable("python")),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(files.requirements),
            "-c",
            str(files.constraints),
        ],
        home,
        "installing Superset",
        timeout=3600,
    )
    marker.write_text(wanted + "\n")


# -- setup steps -----------------------------------------------------------------------------


def superset_environment(home: SupersetHome, files: SupersetFiles) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SUPERSET_CONFIG_PATH": str(files.config),
            "TXMON_SUPERSET_HOME": str(home.root),
            "FLASK_APP": "superset.app:create_app()",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Superset's venv must not see packages from txmon's own environment.
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def _run(
    args: list[str],
    home: SupersetHome,
    what: str,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    stdin: str | None = None,
) -> str:
    """Run one setup step; its output goes to setup.log, and its tail into the error.

    Secrets go through `stdin`, never `args`: command lines show in process listings and logs.
    """
    home.root.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
            input=stdin,
        )
    except subprocess.TimeoutExpired as error:
        raise SupersetError(f"Superset: {what} timed out after {timeout:.0f} s") from error
    with home.setup_log.open("a") as log:
        log.write(f"$ {' '.join(args)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        tail = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        detail = tail[-1] if tail else f"exit status {result.returncode}"
        raise SupersetError(f"Superset: {what} failed: {detail} (see {home.setup_log})")
    return result.stdout


def _secret_file(path: Path, variable: str, nbytes: int = 18) -> tuple[str, bool]:
    """A secret from `variable`, else the one kept in `path`, else a new one written there."""
    configured = os.environ.get(variable, "")
    if configured:
        return configured, False
    if path.exists():
        return path.read_text().strip(), False
    value = secrets.token_urlsafe(nbytes)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return value, True


def ensure_secret_key(home: SupersetHome) -> None:
    """Superset's SECRET_KEY: SUPERSET_SECRET_KEY, else one generated once into the home."""
    _secret_file(home.secret_key_file, "SUPERSET_SECRET_KEY", nbytes=48)


def admin_credentials(home: SupersetHome) -> Credentials:
    """The admin's login: TXMON_SUPERSET_ADMIN_PASSWORD, else one generated once and kept."""
    username = os.environ.get("TXMON_SUPERSET_ADMIN_USER", "").strip() or DEFAULT_ADMIN
    password, is_new = _secret_file(home.admin_password_file, "TXMON_SUPERSET_ADMIN_PASSWORD")
    if len(password) < 12:
        raise SupersetError("TXMON_SUPERSET_ADMIN_PASSWORD must have at least 12 characters")
    return Credentials(username, password, is_new)


def reader_role() -> str:
    """The role Superset logs in as (TXMON_SUPERSET_READER_ROLE, else txmon_superset).

    Roles belong to the whole server: give each Superset that shares one its own role.
    """
    return os.environ.get("TXMON_SUPERSET_READER_ROLE", "").strip() or READER_ROLE


def reader_uri(home: SupersetHome, url: str) -> str:
    """Create the read-only role Superset logs in as; returns the SQLAlchemy URI it uses."""
    role = reader_role()
    password, _ = _secret_file(home.reader_password_file, "TXMON_SUPERSET_READER_PASSWORD")
    try:
        with connect(url) as conn:
            ensure_reader_role(conn, role, password)
    except ReaderRoleError as error:
        raise SupersetError(
            f"could not create the read-only role {role} ({error.reason}):"
            " txmon's database user needs CREATEROLE, or have an administrator run"
            f" `txmon db reader {role}` with TXMON_READER_PASSWORD set to the password in"
            " TXMON_SUPERSET_READER_PASSWORD"
        ) from error
    env = libpq_environment(url)
    uri = (
        f"postgresql+psycopg2://{role}:{quote(password, safe='')}"
        f"@{env['PGHOST']}:{env['PGPORT']}/{quote(env['PGDATABASE'], safe='')}"
    )
    if "PGSSLMODE" in env:
        uri += f"?sslmode={env['PGSSLMODE']}"
    return uri


def set_up_metadata(home: SupersetHome, files: SupersetFiles, admin: Credentials) -> None:
    """Migrate Superset's metadata, make sure the admin exists with this password, sync roles."""
    env = superset_environment(home, files)
    superset = str(home.executable("superset"))
    _run([superset, "db", "upgrade"], home, "upgrading its metadata", env)
    listing = _run([superset, "fab", "list-users"], home, "listing users", env)
    # Both commands prompt for the password and its confirmation.
    typed_twice = f"{admin.password}\n{admin.password}\n"
    if admin.username in _usernames(listing):
        _run(
            [superset, "fab", "reset-password", "--username", admin.username],
            home,
            "setting the admin's password",
            env,
            stdin=typed_twice,
        )
    else:
        _run(
            [
                superset,
                "fab",
                "create-admin",
                "--username",
                admin.username,
                "--firstname",
                "txmon",
                "--lastname",
                "admin",
                "--email",
                f"{admin.username}@localhost",
            ],
            home,
            "creating the admin user",
            env,
            stdin=typed_twice,
        )
    _run([superset, "init"], home, "setting up roles and permissions", env)


def _usernames(listing: str) -> set[str]:
    """User names in `superset fab list-users` output ("username:NAME | email:... | role:...")."""
    names = set()
    for line in listing.splitlines():
        first = line.split("|", 1)[0].strip()
        if first.startswith("username:"):
            names.add(first.removeprefix("username:"))
    return names


def import_assets(home: SupersetHome, files: SupersetFiles, admin: Credentials, uri: str) -> None:
    """Create or update the database entry, datasets, charts and dashboard from the bundle."""
    env = superset_environment(home, files)
    env["TXMON_SUPERSET_DATABASE_URI"] = uri
    _run(
        [str(home.executable("python")), str(files.assets_script), "import", admin.username],
        home,
        "importing the dashboard",
        env,
    )


# -- the web server --------------------------------------------------------------------------


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


def _is_healthy(info: ServerInfo) -> bool:
    try:
        with urllib.request.urlopen(f"{info.url}/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(home: SupersetHome, files: SupersetFiles, host: str, port: int) -> ServerInfo:
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
    info = ServerInfo(process.pid, host, port, _digest(files.config))
    home.state_file.write_text(json.dumps(asdict(info)) + "\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            home.state_file.unlink(missing_ok=True)
            raise SupersetError(f"Superset exited while starting; see {home.log_file}")
        if _is_healthy(info):
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


# -- the commands ----------------------------------------------------------------------------


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
    step(f"Read-only role {reader_role()} can select from schema monitoring only")
    with connect(url) as conn:
        has_views = has_relation(conn, "current_status")
    if not has_views:
        step("No monitoring views yet: the charts stay empty until `txmon build` (or `txmon demo`)")
    set_up_metadata(home, files, admin)
    step(f"Metadata ready in {home.root} (admin user {admin.username})")
    import_assets(home, files, admin, uri)
    step(f"Imported the dashboard from {files.root / 'assets'}")

    info = server_info(home)
    if info is not None and (info.host, info.port) != (host, wanted_port):
        step(f"Restarting: the server listens on {info.host}:{info.port}")
        stop_server(home)
        info = None
    if info is not None and info.config_digest != _digest(files.config):
        step(f"Restarting: {files.config.name} changed since the server started")
        stop_server(home)
        info = None
    if info is not None and _is_healthy(info):
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


def down() -> bool:
    return stop_server(SupersetHome.current())


def status() -> ServerInfo | None:
    return server_info(SupersetHome.current())
