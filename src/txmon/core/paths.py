"""Where txmon keeps its files and which dbt project it runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# The installed package: the dbt project and Superset files ship inside it (pyproject.toml).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def txmon_home() -> Path:
    """The folder for the embedded server, dbt artefacts and logs (`TXMON_HOME`, else ./.txmon)."""
    configured = os.environ.get("TXMON_HOME")
    home = Path(configured) if configured else Path.cwd() / ".txmon"
    return home.expanduser().resolve()


def _make_private(folder: Path) -> bool:
    """Take every right away from group and others, except the right to pass through that
    the embedded server's group gets on TXMON_HOME when txmon runs as root (`embedded.py`).
    Returns whether anything had to change."""
    info = folder.stat()
    keep = 0o700 if info.st_gid == os.getegid() else 0o710
    mode = stat.S_IMODE(info.st_mode)
    if not mode & ~keep:
        return False
    folder.chmod(mode & keep)
    return True


def _make_tree_private(folder: Path) -> None:
    """Close everything below `folder` to group and others; the owner's rights stay."""
    for parent, folders, files in os.walk(folder):
        for name in folders:
            if not os.path.islink(os.path.join(parent, name)):
                _make_private(Path(parent, name))
        for name in files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                continue
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                os.chmod(path, mode & 0o700)


def private_dir(path: Path, home: Path | None = None) -> Path:
    """Create `path` readable by its owner only (0700), with any missing folders between it and
    `home` (TXMON_HOME), and tighten those that an older txmon created open to everyone.

    Files written inside still follow the process umask: the command line sets 0o077.
    """
    home = (home or txmon_home()).resolve()
    path = path.resolve()
    inside = path == home or home in path.parents
    chain = [path, *path.parents]
    folders = chain[: chain.index(home) + 1] if inside else [path]
    for folder in reversed(folders):
        created = not folder.is_dir()
        if created:
            # mkdir's mode is filtered by the umask; 0700 is the most it should ever be.
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _make_private(folder) and not created:
            # An older txmon left it open, and so whatever it wrote inside: close that too.
            _make_tree_private(folder)
    return path


def write_private_file(path: Path, text: str) -> None:
    """Write `path` readable by its owner only, also when an older txmon left it open."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, 0o600)
        handle.write(text)


def _is_txmon_project(folder: Path) -> bool:
    project_file = folder / "dbt_project.yml"
    return project_file.is_file() and "name: txmon" in project_file.read_text()


def dbt_project_dir() -> Path:
    """The dbt project to run.

    `TXMON_PROJECT_DIR` wins; then the current folder or one of its parents when it is a txmon
    checkout, so that edits to the models take effect; otherwise the copy shipped in the package.
    """
    configured = os.environ.get("TXMON_PROJECT_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_txmon_project(folder):
            return folder
    packaged = PACKAGE_DIR / "dbt"
    if _is_txmon_project(packaged):
        return packaged
    # Running from a source checkout without installing: the project sits two levels up.
    return PACKAGE_DIR.parents[1]


def superset_dir() -> Path:
    """txmon's Superset files: settings, pinned requirements and the dashboard bundle.

    Beside the dbt project in a checkout; otherwise the copy shipped in the package.
    """
    beside_project = dbt_project_dir() / "superset"
    if (beside_project / "superset_config.py").is_file():
        return beside_project
    return PACKAGE_DIR / "superset"
