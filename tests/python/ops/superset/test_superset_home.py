"""Where Superset lives: its home under TXMON_HOME, secrets kept there, the environment its
commands run with and how a setup step reports a failure."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from txmon.ops.superset.home import (
    SupersetError,
    SupersetFiles,
    SupersetHome,
    file_digest,
    kept_secret,
    run_step,
    superset_environment,
)

pytest_plugins = ["superset_fixtures"]


def test_home_is_under_txmon_home_and_the_venv_can_live_elsewhere(
    superset_home: SupersetHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert superset_home.root == tmp_path / "txmon-home" / "superset"
    assert superset_home.venv == superset_home.root / "venv"
    monkeypatch.setenv("TXMON_SUPERSET_VENV", str(tmp_path / "shared-venv"))
    assert SupersetHome.current().venv == tmp_path / "shared-venv"
    assert SupersetHome.current().executable("superset") == tmp_path / "shared-venv/bin/superset"


def test_a_secret_comes_from_the_environment_else_is_made_once(
    superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = superset_home.root / "some_secret"
    made, is_new = kept_secret(path, "TXMON_TEST_SECRET")
    assert is_new and len(made) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_secret(path, "TXMON_TEST_SECRET") == (made, False)
    monkeypatch.setenv("TXMON_TEST_SECRET", "given-by-the-operator")
    assert kept_secret(path, "TXMON_TEST_SECRET") == ("given-by-the-operator", False)
    assert path.read_text().strip() == made, "the kept one is left alone"


def test_superset_runs_without_txmons_python_path(
    superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/txmon")
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/.venv")
    files = SupersetFiles.current()
    env = superset_environment(superset_home, files)
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env
    assert env["SUPERSET_CONFIG_PATH"] == str(files.config)
    assert env["TXMON_SUPERSET_HOME"] == str(superset_home.root)


def test_the_digest_follows_the_files_contents(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("pins\n")
    second.write_text("constraints\n")
    before = file_digest(first, second)
    assert file_digest(first, second) == before
    second.write_text("constraints, changed\n")
    assert file_digest(first, second) != before


def test_a_failed_step_says_what_and_where_to_look(superset_home: SupersetHome) -> None:
    script = "import sys; print('step output'); sys.exit('the last words')"
    with pytest.raises(SupersetError) as failed:
        run_step([sys.executable, "-c", script], superset_home, "doing a thing")
    assert str(failed.value) == (
        f"Superset: doing a thing failed: the last words (see {superset_home.setup_log})"
    )
    assert "step output" in superset_home.setup_log.read_text()
    typed = run_step(
        [sys.executable, "-c", "print(input()[::-1])"], superset_home, "echoing", stdin="abc\n"
    )
    assert typed == "cba\n"
