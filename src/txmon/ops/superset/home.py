"""Where Superset lives: its folder under TXMON_HOME, the committed files it is set up from,
its own virtualenv, and how one setup step runs (output to a log, secrets through stdin)."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from txmon.core.errors import TxmonError
from txmon.core.paths import superset_dir, txmon_home

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
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def assets_script(self) -> Path:
        return self.root / "txmon_assets.py"


def file_digest(*paths: Path) -> str:
    """One SHA-256 over the files' contents: tells whether pins or settings changed."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def superset_environment(home: SupersetHome, files: SupersetFiles) -> dict[str, str]:
    """The environment every Superset command and the server run with."""
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


def run_step(
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


def kept_secret(path: Path, variable: str, nbytes: int = 18) -> tuple[str, bool]:
    """A secret from `variable`, else the one kept in `path`, else a new one written there
    (mode 0600). Returns it and whether it is new."""
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


def ensure_virtualenv(home: SupersetHome, files: SupersetFiles, say: Say) -> None:
    """Create or update Superset's virtualenv when the pinned requirements changed."""
    marker = home.venv / "txmon-requirements.sha256"
    wanted = file_digest(files.requirements, files.constraints)
    is_current = marker.exists() and marker.read_text().strip() == wanted
    if is_current and home.executable("superset").exists():
        return
    say(f"Installing Superset into {home.venv} (a few minutes the first time)")
    if not home.executable("python").exists():
        run_step([sys.executable, "-m", "venv", str(home.venv)], home, "creating the virtualenv")
    run_step(
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
