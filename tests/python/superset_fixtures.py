"""Fixtures of the Superset tests (tests/python/ops/superset): the committed bundle parsed once,
Superset's settings module loaded the way Superset loads it, and a Superset home in an empty
txmon home.

Test modules load them with `pytest_plugins = ["superset_fixtures"]`; a conftest.py in
tests/python/ops/superset would shadow tests/python/conftest.py for `from conftest import ...`.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from txmon.ops.superset.home import SupersetHome

SUPERSET_DIR = REPO_ROOT / "superset"
ASSETS = SUPERSET_DIR / "assets"
PUBLIC_MODELS = REPO_ROOT / "models" / "marts" / "public" / "_public__models.yml"


@dataclass(frozen=True)
class Bundle:
    """The export bundle under superset/assets, one dict per file, by file name."""

    datasets: dict[str, dict[str, Any]]
    charts: dict[str, dict[str, Any]]
    dashboards: dict[str, dict[str, Any]]
    databases: dict[str, dict[str, Any]]

    def chart(self, slice_name: str) -> dict[str, Any]:
        (chart,) = [c for c in self.charts.values() if c["slice_name"] == slice_name]
        return chart


def _load_all(folder: str) -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted((ASSETS / folder).rglob("*.yaml"))
    }


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return Bundle(
        _load_all("datasets"), _load_all("charts"), _load_all("dashboards"), _load_all("databases")
    )


@pytest.fixture(scope="session")
def public_contract() -> dict[str, list[dict[str, Any]]]:
    """The public views' columns as their dbt contract declares them, by view."""
    document = yaml.safe_load(PUBLIC_MODELS.read_text())
    return {model["name"]: model.get("columns", []) for model in document["models"]}


@pytest.fixture()
def superset_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], dict[str, Any]]:
    """Superset's settings module, loaded the way Superset loads it, with a fresh home."""
    monkeypatch.setenv("TXMON_SUPERSET_HOME", str(tmp_path / "superset-home"))
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "a-key-for-reading-the-other-settings")

    def load() -> dict[str, Any]:
        return runpy.run_path(str(SUPERSET_DIR / "superset_config.py"))

    return load


@pytest.fixture()
def superset_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SupersetHome:
    """The Superset home of an empty txmon home, with no secrets given by the environment."""
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "txmon-home"))
    for variable in (
        "TXMON_SUPERSET_ADMIN_PASSWORD",
        "TXMON_SUPERSET_READER_PASSWORD",
        "TXMON_SUPERSET_VENV",
        "TXMON_SUPERSET_PORT",
        "SUPERSET_SECRET_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    return SupersetHome.current()
