"""Where txmon keeps its files and which dbt project it runs."""

from __future__ import annotations

import os
from pathlib import Path

RAW_SCHEMA = "txmon_raw"
PUBLIC_SCHEMA = "monitoring"


def txmon_home() -> Path:
    """The folder for the embedded server, dbt artefacts and logs (`TXMON_HOME`, else ./.txmon)."""
    configured = os.environ.get("TXMON_HOME")
    home = Path(configured) if configured else Path.cwd() / ".txmon"
    return home.expanduser().resolve()


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
    packaged = Path(__file__).parent / "dbt"
    if _is_txmon_project(packaged):
        return packaged
    # Running from a source checkout without installing: the project sits two levels up.
    return Path(__file__).resolve().parents[2]


def superset_dir() -> Path:
    """txmon's Superset files: settings, pinned requirements and the dashboard bundle.

    Beside the dbt project in a checkout; otherwise the copy shipped in the package.
    """
    beside_project = dbt_project_dir() / "superset"
    if (beside_project / "superset_config.py").is_file():
        return beside_project
    return Path(__file__).parent / "superset"
