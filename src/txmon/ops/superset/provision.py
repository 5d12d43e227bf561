"""Setting Superset up for txmon: its secret key, the admin user, the read-only database role
it logs in as, its metadata and the dashboard imported from the committed bundle."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect, libpq_environment
from txmon.db.roles import ReaderRoleError, ensure_reader_role
from txmon.ops.superset.home import (
    SupersetError,
    SupersetFiles,
    SupersetHome,
    kept_secret,
    run_step,
    superset_environment,
)

DEFAULT_ADMIN = "admin"
READER_ROLE = "txmon_superset"
MIN_ADMIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    # True when the password was made up by this run: the only time it is printed.
    is_new: bool


def ensure_secret_key(home: SupersetHome) -> None:
    """Superset's SECRET_KEY: SUPERSET_SECRET_KEY, else one generated once into the home."""
    kept_secret(home.secret_key_file, "SUPERSET_SECRET_KEY", nbytes=48)


def admin_credentials(home: SupersetHome) -> Credentials:
    """The admin's login: TXMON_SUPERSET_ADMIN_PASSWORD, else one generated once and kept."""
    username = os.environ.get("TXMON_SUPERSET_ADMIN_USER", "").strip() or DEFAULT_ADMIN
    password, is_new = kept_secret(home.admin_password_file, "TXMON_SUPERSET_ADMIN_PASSWORD")
    if len(password) < MIN_ADMIN_PASSWORD_LENGTH:
        raise SupersetError(
            "TXMON_SUPERSET_ADMIN_PASSWORD must have at least"
            f" {MIN_ADMIN_PASSWORD_LENGTH} characters"
        )
    return Credentials(username, password, is_new)


def reader_role() -> str:
    """The role Superset logs in as (TXMON_SUPERSET_READER_ROLE, else txmon_superset).

    Roles belong to the whole server: give each Superset that shares one its own role.
    """
    return os.environ.get("TXMON_SUPERSET_READER_ROLE", "").strip() or READER_ROLE


def reader_uri(home: SupersetHome, url: str) -> str:
    """Create the read-only role Superset logs in as; returns the SQLAlchemy URI it uses."""
    role = reader_role()
    password, _ = kept_secret(home.reader_password_file, "TXMON_SUPERSET_READER_PASSWORD")
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


def reader_summary() -> str:
    """What the reader role may do, for the progress lines of `txmon superset up`."""
    return f"Read-only role {reader_role()} can select from schema {PUBLIC_SCHEMA} only"


def set_up_metadata(home: SupersetHome, files: SupersetFiles, admin: Credentials) -> None:
    """Migrate Superset's metadata, make sure the admin exists with this password, sync roles."""
    env = superset_environment(home, files)
    superset = str(home.executable("superset"))
    run_step([superset, "db", "upgrade"], home, "upgrading its metadata", env)
    listing = run_step([superset, "fab", "list-users"], home, "listing users", env)
    # Both commands prompt for the password and its confirmation.
    typed_twice = f"{admin.password}\n{admin.password}\n"
    if admin.username in usernames(listing):
        run_step(
            [superset, "fab", "reset-password", "--username", admin.username],
            home,
            "setting the admin's password",
            env,
            stdin=typed_twice,
        )
    else:
        run_step(
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
    run_step([superset, "init"], home, "setting up roles and permissions", env)


def usernames(listing: str) -> set[str]:
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
    run_step(
        [str(home.executable("python")), str(files.assets_script), "import", admin.username],
        home,
        "importing the dashboard",
        env,
    )
