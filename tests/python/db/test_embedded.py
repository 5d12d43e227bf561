"""The embedded server: created under TXMON_HOME, reused, stopped and started again, and
reachable by its owner only (a password over 127.0.0.1), also when an older txmon created it."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from helpers import TXMON
from txmon.db import connection as database
from txmon.db.embedded import EmbeddedServer, _bin_dir, free_port


def test_start_reuse_stop_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "home")
    assert not server.status().is_initialized
    first = server.start()
    try:
        assert first.is_running and first.url
        with psycopg.connect(first.url) as conn:
            conn.execute("create table kept (x int)")
            conn.execute("insert into kept values (42)")
        again = server.start()
        assert again.url == first.url
        assert server.stop()
        assert not server.status().is_running
        assert not server.stop()
        restarted = server.start()
        assert restarted.is_running
        with psycopg.connect(restarted.url) as conn:
            assert conn.execute("select x from kept").fetchone() == (42,)
    finally:
        server.stop()
    assert (tmp_path / "home" / "postgres" / "data" / "PG_VERSION").exists()


def test_txmon_home_moves_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TXMON_DATABASE_URL", raising=False)
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "elsewhere"))
    url = database.database_url()
    try:
        assert database.is_embedded()
        with database.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone() == ("txmon",)
        assert (tmp_path / "elsewhere" / "postgres" / "data").is_dir()
    finally:
        EmbeddedServer(tmp_path / "elsewhere").stop()


# -- only its owner gets in ----------------------------------------------------------------------

NO_PASSWORD_FILE = "/nonexistent/txmon-no-passfile"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One embedded server for the access tests of this module."""
    server = EmbeddedServer(tmp_path_factory.mktemp("access") / "home")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def other_user_if_root() -> Iterator[pwd.struct_passwd | None]:
    """A throwaway system user, as any other local account on the machine would be; None
    when the tests do not run as root (only root may create one)."""
    if os.geteuid() != 0:
        yield None
        return
    name = f"txmon_probe_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture()
def other_user(other_user_if_root: pwd.struct_passwd | None) -> pwd.struct_passwd:
    if other_user_if_root is None:
        pytest.skip("creating a second system user needs root")
    return other_user_if_root


def as_user(user: pwd.struct_passwd, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args),
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **env},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
    )


def psql_as(
    user: pwd.struct_passwd, port: int, login: str, **env: str
) -> subprocess.CompletedProcess:
    psql = str(_bin_dir() / "psql")
    conninfo = f"host=127.0.0.1 port={port} user={login} dbname=txmon connect_timeout=5"
    return as_user(user, psql, "-w", "-X", "-At", "-c", "select current_user", conninfo, **env)


def connect_without_password(port: int, dbname: str = "txmon") -> psycopg.Connection:
    """What anyone on the machine can try: no password (and no ~/.pgpass, no PGPASSWORD)."""
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        dbname=dbname,
        passfile=NO_PASSWORD_FILE,
        password="",
        connect_timeout=5,
        autocommit=True,
    )


def test_no_login_without_the_password(
    running: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    status = running.status()
    assert status.port and status.url and status.password
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect_without_password(status.port)
    wrong = status.url.replace(status.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    with psycopg.connect(status.url) as conn:
        rules = conn.execute("select distinct auth_method from pg_hba_file_rules").fetchall()
        assert rules == [("scram-sha-256",)]
        assert conn.execute("show unix_socket_directories").fetchone() == ("",)
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("show log_min_error_statement").fetchone() == ("panic",)
        stored = conn.execute("select rolpassword from pg_authid where rolname = 'postgres'")
        assert stored.fetchone()[0].startswith("SCRAM-SHA-256$4096:")
    assert not list(running.data_dir.glob(".s.PGSQL.*"))
    assert stat.S_IMODE(running.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(running.log_file.stat().st_mode) == 0o600
    # The URL is for the owner's tools; what txmon prints about the server has no password.
    assert status.address and status.password not in status.address


def test_a_second_system_user_cannot_connect(
    running: EmbeddedServer, other_user: pwd.struct_passwd
) -> None:
    status = running.status()
    assert status.port and status.password
    refused = [
        psql_as(other_user, status.port, "postgres"),
        psql_as(other_user, status.port, "postgres", PGPASSWORD="guessed-password"),
        psql_as(other_user, status.port, other_user.pw_name),
    ]
    for attempt in refused:
        assert attempt.returncode != 0
        assert "password" in attempt.stderr, attempt.stderr
    # Nor can it read the password, the log or even the folder's listing.
    for command in (
        ["cat", str(running.password_file)],
        ["cat", str(running.log_file)],
        ["ls", str(running.home)],
        ["ls", str(running.data_dir)],
    ):
        denied = as_user(other_user, *command)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, command
    # With the password, the same psql gets in: the refusals above are about the password.
    admitted = psql_as(other_user, status.port, "postgres", PGPASSWORD=status.password)
    assert admitted.returncode == 0 and admitted.stdout.strip() == "postgres", admitted.stderr


def test_a_trust_rule_added_later_is_removed_on_start(
    running: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    hba = running.data_dir / "pg_hba.conf"
    pid_file = running.data_dir / "postmaster.pid"
    password = running.status().password
    # A rule that asks for the password too is the owner's business: kept, no restart.
    kept_rule = "host all all 127.0.0.1/32 scram-sha-256  # added by the owner\n"
    hba.write_text(hba.read_text() + kept_rule)
    pid = pid_file.read_text().split()[0]
    running.start()
    assert hba.read_text().endswith(kept_rule)
    assert pid_file.read_text().split()[0] == pid
    # Trust is not: the rules are replaced and the server restarted with them.
    hba.write_text("host all all 127.0.0.1/32 trust\n" + hba.read_text())
    with psycopg.connect(running.status().url, autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")
    port = running.status().port
    assert port
    connect_without_password(port).close()  # the hole is real
    status = running.start()
    assert "trust" not in hba.read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect_without_password(port)
    assert status.password == password and status.port == port


# -- a cluster created by an older txmon ---------------------------------------------------------

OLD_SETTINGS = """
# txmon embedded server
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
timezone = 'UTC'
log_timezone = 'UTC'
max_connections = 50
shared_buffers = '128MB'
fsync = on
"""


def start_the_old_way(server: EmbeddedServer) -> int:
    """Create and start a cluster as txmon did before: trust authentication, no password, files
    readable by everyone. Returns its port."""
    server.root.mkdir(parents=True)
    run_as = server._prepare_permissions()
    server.data_dir.mkdir(mode=0o700, exist_ok=True)
    initdb = [str(_bin_dir() / "initdb"), "-D", str(server.data_dir), "--auth=trust"]
    server._run([*initdb, "--encoding=UTF8", "--locale=C", "-U", "postgres"], run_as, 120)
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(OLD_SETTINGS)
    port = free_port()
    server.state_file.write_text(json.dumps({"port": port}) + "\n")
    server.log_file.write_text("")
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(server.log_file, entry.pw_uid, entry.pw_gid)
    pg_ctl = [str(_bin_dir() / "pg_ctl"), "-D", str(server.data_dir), "-l", str(server.log_file)]
    server._run([*pg_ctl, "-o", f"-p {port}", "-w", "start"], run_as, 70)
    for path in (server.home, server.root):
        path.chmod(0o755)
    for path in (server.state_file, server.log_file):
        path.chmod(0o644)
    return port


@pytest.mark.slow
@pytest.mark.parametrize("left_running", [True, False], ids=["running", "stopped"])
def test_a_trust_cluster_from_an_older_txmon_is_locked_down_on_start(
    left_running: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    other_user_if_root: pwd.struct_passwd | None,
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    probe = other_user_if_root
    server = EmbeddedServer(tmp_path / "home")
    try:
        port = start_the_old_way(server)
        # Before: anyone gets in as superuser, which is what the upgrade must end.
        with connect_without_password(port, "postgres") as conn:
            conn.execute("create database txmon")
        with connect_without_password(port) as conn:
            conn.execute("create table kept (x int); insert into kept values (42)")
        if probe is not None:
            assert psql_as(probe, port, "postgres").stdout.strip() == "postgres"
        if not left_running:
            assert server.stop()

        env = {
            **{k: v for k, v in os.environ.items() if k != "TXMON_DATABASE_URL"},
            "TXMON_HOME": str(server.home),
        }
        started = subprocess.run(
            [TXMON, "db", "start"], env=env, capture_output=True, text=True, timeout=120
        )
        assert started.returncode == 0, started.stderr
        url = subprocess.run(
            [TXMON, "db", "url"], env=env, capture_output=True, text=True, timeout=60
        ).stdout.strip()

        # After: the same data, on the same port, for the owner only.
        assert url.startswith("postgresql://postgres:") and f":{port}/txmon" in url
        with psycopg.connect(url) as conn:
            assert conn.execute("select x from kept").fetchone() == (42,)
            assert conn.execute(
                "select distinct auth_method from pg_hba_file_rules"
            ).fetchall() == [("scram-sha-256",)]
            assert conn.execute("show log_min_error_statement").fetchone() == ("panic",)
        with pytest.raises(psycopg.OperationalError, match="password"):
            connect_without_password(port)
        if probe is not None:
            attempt = psql_as(probe, port, "postgres")
            assert attempt.returncode != 0 and "password" in attempt.stderr
            assert as_user(probe, "cat", str(server.log_file)).returncode != 0
        for path in (server.state_file, server.log_file, server.password_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(server.root.stat().st_mode) == 0o700
        assert stat.S_IMODE(server.home.stat().st_mode) == (0o710 if probe else 0o700)
        # Started again, nothing more to change: the password and the port stay.
        again = subprocess.run(
            [TXMON, "db", "url"], env=env, capture_output=True, text=True, timeout=60
        )
        assert again.stdout.strip() == url
    finally:
        server.stop()


def test_commands_started_together_share_one_server(tmp_path: Path) -> None:
    """The scheduler, the API and a loader started at once on a fresh folder: one cluster, one
    password, and every command gets it."""
    env = {key: value for key, value in os.environ.items() if key != "TXMON_DATABASE_URL"}
    env["TXMON_HOME"] = str(tmp_path / "home")
    commands = [
        subprocess.Popen(
            [TXMON, "db", "url"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    try:
        results = [command.communicate(timeout=180) for command in commands]
        assert [command.returncode for command in commands] == [0, 0, 0], results
        urls = {stdout.strip() for stdout, _ in results}
        assert len(urls) == 1
        with psycopg.connect(urls.pop()) as conn:
            assert conn.execute("select current_database()").fetchone() == ("txmon",)
    finally:
        EmbeddedServer(tmp_path / "home").stop()
