"""The read-only role that dashboards log in as.

What the role may do is written once, in `txmon/db/reader_role.sql`; this module checks the
name and password, hands the server the password's SCRAM verifier and runs that file. The
compose deployment runs the same file from its PostgreSQL init script.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg

from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA

# The file inside the package; docker-compose.yml mounts the same file into PostgreSQL's image.
READER_ROLE_SQL = "db/reader_role.sql"
MIN_PASSWORD_LENGTH = 12

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Names PostgreSQL keeps for itself: `pg_` roles are reserved, the others are keywords.
_RESERVED_ROLES = {"public", "none", "current_user", "session_user", "current_role"}


class ReaderRoleError(TxmonError):
    """The server refused to create or update a reader role; `reason` says why, in one line."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(f"could not create or update the role {role}: {reason}")
        self.reason = reason


def reader_role_sql() -> str:
    """The statements that define `pg_temp.txmon_reader_role(role, secret, schema)`."""
    return resources.files("txmon").joinpath(READER_ROLE_SQL).read_text()


def check_reader_role(role: str, password: str) -> None:
    """Refuse a role name or password that cannot work, before anything reaches the server."""
    if not _ROLE_NAME.fullmatch(role):
        raise TxmonError(f"role name {role!r}: use lower-case letters, digits and _ only")
    if role.startswith("pg_") or role in _RESERVED_ROLES:
        raise TxmonError(f"role name {role!r} is reserved by PostgreSQL: choose another")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise TxmonError(
            f"the reader's password must have at least {MIN_PASSWORD_LENGTH} characters"
        )


def ensure_reader_role(conn: psycopg.Connection, role: str, password: str) -> None:
    """Create or update a login role that can read the public views and nothing else.

    The server gets the password's SCRAM-SHA-256 verifier, computed here, never its text; any
    failure is one line without either.
    """
    check_reader_role(role, password)
    # libpq computes the verifier locally (SASLprep included); PostgreSQL stores it as given.
    verifier = conn.pgconn.encrypt_password(
        password.encode(), role.encode(), b"scram-sha-256"
    ).decode()
    try:
        with conn.transaction():
            conn.execute(reader_role_sql())
            conn.execute(
                "select pg_temp.txmon_reader_role(%s, %s, %s)", (role, verifier, PUBLIC_SCHEMA)
            )
    except psycopg.Error as error:
        # Only the primary message: psycopg's full text can quote the statement.
        reason = error.diag.message_primary or type(error).__name__
        for secret in (password, verifier):
            reason = reason.replace(secret, "***")
        raise ReaderRoleError(role, reason) from None
