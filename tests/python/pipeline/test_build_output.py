"""What `txmon build` prints: outside a terminal dbt's errors only, without colour, and one
line at the end; `--dbt-log` for dbt's whole log; on a terminal a bar of the nodes."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from helpers import TXMON
from txmon.cli import main
from txmon.console import progress as progress_module
from txmon.pipeline.dbt import output_options

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ONE_SEED = ["--select", "metric_definitions"]  # a seed and its tests, to keep this quick
PASSED = re.compile(r"build passed: (\d+) dbt nodes in [0-9.]+ s")


def txmon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TXMON, *args], env=env, capture_output=True, text=True, timeout=600)


def test_colour_only_on_a_terminal_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert output_options([], quiet=True) == ["--quiet", "--no-use-colors"]
    assert output_options(["--use-colors"], quiet=False) == []
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert output_options([], quiet=False) == []


def test_a_build_in_a_log_is_quiet_and_plain(txmon_env: dict[str, str]) -> None:
    quiet = txmon(txmon_env, "build", *ONE_SEED)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    # The line that says the build started (when it has lasted a second), and the summary.
    *started, line = quiet.stdout.splitlines()
    assert started in ([], ["dbt build..."]) and PASSED.fullmatch(line), quiet.stdout
    assert quiet.stderr == ""

    full = txmon(txmon_env, "build", "--dbt-log", *ONE_SEED)
    assert full.returncode == 0, full.stdout + full.stderr
    lines = full.stdout.splitlines()
    assert any("Running with dbt=" in line for line in lines)
    assert any("OK loaded seed file" in line for line in lines), lines
    assert PASSED.fullmatch(lines[-1])
    assert not ANSI_ESCAPE.search(full.stdout + full.stderr)
    assert full.stderr == "" and "dbt build..." not in lines  # dbt's log is the progress

    # A failing build: dbt's error, plain, and txmon's one line.
    failing = txmon(txmon_env, "build", "--select", "no_such_node")
    assert failing.returncode == 1
    [error] = failing.stderr.splitlines()  # one line, as every error
    assert error.startswith("txmon: error: ") and "no dbt node matched" in error
    assert not ANSI_ESCAPE.search(failing.stdout + failing.stderr)


def test_a_build_on_a_terminal_shows_the_nodes(
    txmon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    monkeypatch.setattr(progress_module, "stderr_console", lambda: console)
    monkeypatch.setattr(progress_module, "SHOW_AFTER_SECONDS", 0.0)
    result = CliRunner().invoke(main, ["build", *ONE_SEED])
    assert result.exit_code == 0, result.output
    assert PASSED.fullmatch(result.stdout.strip())
    frames = ANSI_ESCAPE.sub("", buffer.getvalue()).replace("\r", "\n")
    assert "dbt build" in frames and "0/? nodes" in frames
    assert re.search(r" (\d+)/\1 nodes ", frames), frames  # every node selected finished
