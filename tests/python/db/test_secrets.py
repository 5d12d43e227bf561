"""Secrets stay secret: TXMON_HOME is its owner's alone (folders 0700, files 0600), and no
password reaches the embedded server's log, dbt's logs, an error or a command's output.

Everything runs through the command line on one embedded server in a folder of its own, as a
user would run it.
"""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from conftest import REPO_ROOT
from helpers import TXMON
from txmon.db.connection import libpq_environment
from txmon.db.embedded import SYSTEM_USER, EmbeddedServer


@dataclass
class Home:
    path: Path
    env: dict[str, str]
    # Every stdout and stderr the commands printed, to search for secrets.
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [TXMON, *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=600,
            cwd=self.path.parent,
        )
        self.outputs += [result.stdout, result.stderr]
        return result

    @property
    def server(self) -> EmbeddedServer:
        return EmbeddedServer(self.path)

    def superuser_url(self) -> str:
        url = self.server.status().url
        assert url is not None
        return url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    folder = tmp_path_factory.mktemp("secrets") / "home"
    env = {key: value for key, value in os.environ.items() if key != "TXMON_DATABASE_URL"}
    env.update(TXMON_HOME=str(folder), TXMON_PROJECT_DIR=str(REPO_ROOT))
    home = Home(folder, env)
    started = home.run("db", "start")
    assert started.returncode == 0, started.stderr
    yield home
    home.run("db", "stop")


def files_under(folder: Path) -> Iterator[Path]:
    for parent, _, names in os.walk(folder):
        for name in names:
            yield Path(parent, name)


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("txmon: error: "), result.stderr
    for text in expected:
        assert text in lines[0]


@pytest.mark.slow
def test_every_file_under_txmon_home_is_the_owners_alone(home: Home, tmp_path: Path) -> None:
    # What an older txmon left: everything readable by everyone.
    server = home.server
    dbt_logs = home.path / "dbt" / "logs"
    dbt_logs.mkdir(parents=True, mode=0o755)
    (dbt_logs / "dbt.log").write_text("an older run\n")
    for path in (home.path, home.path / "dbt", dbt_logs):
        path.chmod(0o755)
    for path in (dbt_logs / "dbt.log", server.log_file, server.state_file):
        path.chmod(0o644)

    data = tmp_path / "counts.csv"
    assert home.run("generate", str(data), "--days", "0.1", "--no-incidents").returncode == 0
    for args in (("db", "start"), ("load", str(data)), ("build",)):
        result = home.run(*args)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    password = f"reader-{uuid.uuid4().hex}"
    reader = home.run("db", "reader", "txmon_private_reader", TXMON_READER_PASSWORD=password)
    assert reader.returncode == 0, reader.stderr

    expected = {
        server.log_file,
        server.state_file,
        server.password_file,
        server.data_dir / "PG_VERSION",
        dbt_logs / "dbt.log",
        home.path / "dbt" / "target" / "manifest.json",
    }
    files = set(files_under(home.path))
    assert expected <= files
    opened = {path: oct(stat.S_IMODE(path.stat().st_mode)) for path in files}
    assert {path: mode for path, mode in opened.items() if mode != "0o600"} == {}
    folders = [Path(parent) for parent, _, _ in os.walk(home.path)]
    assert len(folders) > 10
    for folder in folders:
        info = folder.stat()
        if folder == home.path and os.geteuid() == 0:
            # As root the server runs as its own user, which may pass through to its folder
            # (search only, through its group), and nobody else may.
            assert stat.S_IMODE(info.st_mode) == 0o710
            assert info.st_gid == grp.getgrnam(SYSTEM_USER).gr_gid
        else:
            assert stat.S_IMODE(info.st_mode) == 0o700, folder
    assert "an older run" in (dbt_logs / "dbt.log").read_text()  # closed, not replaced


def test_passwords_stay_out_of_logs_errors_and_output(home: Home) -> None:
    secret = f"reader-secret-{uuid.uuid4().hex}"
    suffix = uuid.uuid4().hex[:8]
    reader, admin, target = (f"txmon_{kind}_{suffix}" for kind in ("reader", "admin", "super"))

    created = home.run("db", "reader", reader, TXMON_READER_PASSWORD=secret)
    assert created.returncode == 0, created.stderr
    # A name PostgreSQL reserves: refused by txmon, on one line, before the server hears of it.
    refused = home.run("db", "reader", "pg_monitorx", TXMON_READER_PASSWORD=secret)
    assert_one_line_error(refused, "'pg_monitorx' is reserved")
    debugged = home.run("--debug", "db", "reader", "pg_monitorx", TXMON_READER_PASSWORD=secret)
    assert debugged.returncode == 1 and "reserved" in debugged.stderr

    # A statement the server refuses: a role with CREATEROLE may not alter a superuser.
    superuser_url = home.superuser_url()
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(f"create role {admin} login createrole password 'admin-password-1'")
        conn.execute(f"create role {target} superuser")
    env = libpq_environment(superuser_url)
    as_admin = f"postgresql://{admin}:admin-password-1@{env['PGHOST']}:{env['PGPORT']}/txmon"
    try:
        failed = home.run(
            "db", "reader", target, TXMON_READER_PASSWORD=secret, TXMON_DATABASE_URL=as_admin
        )
        assert_one_line_error(failed, f"could not create or update the role {target}")
        debugged = home.run(
            "--debug",
            "db",
            "reader",
            target,
            TXMON_READER_PASSWORD=secret,
            TXMON_DATABASE_URL=as_admin,
        )
        assert debugged.returncode == 1 and "Traceback" in debugged.stderr

        # The password works: the searches below look for something real.
        reader_url = f"postgresql://{reader}:{secret}@{env['PGHOST']}:{env['PGPORT']}/txmon"
        with psycopg.connect(reader_url) as conn:
            assert conn.execute("select current_user").fetchone() == (reader,)
    finally:
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            verifier = conn.execute(
                "select rolpassword from pg_authid where rolname = %s", (reader,)
            ).fetchone()[0]
            for role in (target, admin):
                conn.execute(f"drop role {role}")

    superuser_password = home.server.status().password
    assert superuser_password
    for output in home.outputs:
        assert secret not in output
        assert superuser_password not in output
    log = home.server.log_file.read_text()
    # The refusal was logged, without the statement that carried the verifier.
    assert "permission denied to alter role" in log or "must be superuser" in log
    assert "SCRAM-SHA-256$" not in log and "password '" not in log
    stored_key = verifier.split("$")[2].split(":")[0]
    for path in files_under(home.path):
        content = path.read_bytes()
        assert secret.encode() not in content, path
        if path != home.server.password_file:
            assert superuser_password.encode() not in content, path
        if home.server.data_dir not in path.parents:  # the catalog keeps the verifier, rightly
            assert stored_key.encode() not in content, path
