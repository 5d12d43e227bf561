"""Who may reach the embedded server: password logins over loopback only (pg_hba.conf), no
statement text in its log, the superuser's password given as a SCRAM verifier, and, when txmon
runs as root, the system user the server runs as with just enough rights on the folders.

May import: the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import stat
from pathlib import Path

# Files the server creates (its log, its data) are the owner's alone.
PRIVATE_UMASK = 0o077

# Only password logins over loopback; nothing else, trust least of all. The server has no Unix
# socket (its path length limit bites in deep folders), the `local` line only guards against one
# being configured later.
PG_HBA = """\
# txmon: every login needs a password (SCRAM-SHA-256), over 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
"""
SECURITY_MARK = "# txmon: secrets stay out of the log"
# A statement that fails is logged with its text by default, and such a text can carry a
# password: log no statement text at all.
SECURITY_SETTINGS = f"""
{SECURITY_MARK}
password_encryption = 'scram-sha-256'
log_statement = 'none'
log_min_error_statement = 'panic'
"""


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677).

    PostgreSQL stores a verifier it is given as is, so the clear text never reaches the server.
    For the ASCII passwords txmon generates; `txmon.db.roles.ensure_reader_role` lets libpq
    compute the verifier of any other (it applies SASLprep to non-ASCII ones).
    """
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def hba_is_locked(text: str) -> bool:
    """Whether every rule of a pg_hba.conf asks for a SCRAM password (or refuses): rules an
    owner added that way are kept, anything else (trust above all) is replaced."""
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if tokens[0] not in {"local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}:
            return False  # include directives and the like: not checked here, so replaced
        method = [token for token in tokens if "=" not in token][-1]
        if method not in {"scram-sha-256", "reject"}:
            return False
    return True


def as_user(name: str | None) -> dict[str, object]:
    """subprocess arguments that run a command as `name` with its own groups only (by default
    a child started by root keeps root's group)."""
    if name is None:
        return {}
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def let_pass(folder: Path, user: pwd.struct_passwd) -> None:
    """Let `user` pass through `folder` (search only, no listing) if it cannot already."""
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == user.pw_uid and mode & stat.S_IXUSR:
        return
    if info.st_gid == user.pw_gid and mode & stat.S_IXGRP:
        return
    if mode & stat.S_IXOTH:
        return
    folder.chmod(mode | stat.S_IXOTH)
