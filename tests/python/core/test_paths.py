"""Where txmon keeps its files (TXMON_HOME, its owner's alone) and which dbt project it runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from txmon.core.paths import (
    PACKAGE_DIR,
    dbt_project_dir,
    private_dir,
    superset_dir,
    txmon_home,
    write_private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("TXMON_HOME", str(folder))
    return folder


def test_txmon_home_is_the_variable_else_a_folder_here(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert txmon_home() == home.resolve()
    monkeypatch.delenv("TXMON_HOME")
    monkeypatch.chdir(tmp_path)
    assert txmon_home() == tmp_path.resolve() / ".txmon"


def test_private_folders_are_created_closed(home: Path) -> None:
    made = private_dir(home / "dbt" / "logs")
    assert made == (home / "dbt" / "logs").resolve()
    for folder in (home, home / "dbt", home / "dbt" / "logs"):
        assert mode(folder) == 0o700, folder


def test_folders_an_older_txmon_left_open_are_closed_with_their_files(home: Path) -> None:
    logs = home / "dbt" / "logs"
    logs.mkdir(parents=True)
    for folder in (home, home / "dbt", logs):
        folder.chmod(0o755)
    old_log = logs / "dbt.log"
    old_log.write_text("an older run\n")
    old_log.chmod(0o644)

    private_dir(logs)
    assert [mode(folder) for folder in (home, home / "dbt", logs)] == [0o700] * 3
    assert mode(old_log) == 0o600
    assert old_log.read_text() == "an older run\n"


def test_a_folder_outside_txmon_home_is_closed_alone(home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "bench"
    private_dir(outside)
    assert mode(outside) == 0o700
    assert not home.exists()


def test_private_files_are_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("old")
    path.chmod(0o644)
    write_private_file(path, "secret\n")
    assert path.read_text() == "secret\n" and mode(path) == 0o600


def test_the_dbt_project_is_the_variable_else_a_checkout_around_else_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(tmp_path / "project"))
    assert dbt_project_dir() == (tmp_path / "project").resolve()
    monkeypatch.delenv("TXMON_PROJECT_DIR")
    monkeypatch.chdir(REPO_ROOT / "models")
    assert dbt_project_dir() == REPO_ROOT
    assert superset_dir() == REPO_ROOT / "superset"
    # A folder that is no checkout: the project shipped in the package (or, in a source tree
    # that was never built, the checkout the package sits in).
    monkeypatch.chdir(tmp_path)
    assert dbt_project_dir() in {PACKAGE_DIR / "dbt", PACKAGE_DIR.parents[1]}
    assert (dbt_project_dir() / "dbt_project.yml").is_file()
    assert os.path.isfile(superset_dir() / "superset_config.py")


def test_the_wheel_ships_every_file_the_dbt_project_reads() -> None:
    """Outside a checkout txmon runs the project copied into the package: it needs the
    project's own files and every folder dbt_project.yml names."""
    import tomllib

    import yaml

    shipped = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["force-include"]
    project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
    folders = {
        folder for key, value in project.items() if key.endswith("-paths") for folder in value
    }
    needed = {"dbt_project.yml", "profiles.yml", "selectors.yml", *folders}
    assert {source: f"txmon/dbt/{source}" for source in needed}.items() <= shipped.items()
