"""The crontab's job run for real, its paths moved into a temporary folder: a build and a
dispatch on a real database leave a few plain lines in the log, not dbt's coloured log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from deploy_files import TXMON_HOME, cron_job, cron_variables
from helpers import TXMON, build, load_config
from txmon.lab import generate

ANSI_ESCAPE = re.compile(r"\x1b\[")


@pytest.mark.slow
def test_the_cron_job_logs_a_few_plain_lines(database_url: str, tmp_path: Path) -> None:
    if shutil.which("flock") is None:
        pytest.skip("no flock on this machine (util-linux)")
    state = tmp_path / "state"
    state.mkdir()
    env_file = tmp_path / "txmon.env"
    env_file.write_text(f"TXMON_DATABASE_URL={database_url}\nTXMON_PROJECT_DIR={REPO_ROOT}\n")
    # A stand-in for logger(1) that keeps its arguments and what it was given.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    logged = tmp_path / "syslog"
    fake_logger = bin_dir / "logger"
    fake_logger.write_text(f'#!/bin/sh\necho "args: $*" > {logged}\ncat >> {logged}\n')
    fake_logger.chmod(0o755)

    command = (
        cron_job()
        .command.replace("/opt/txmon/venv/bin/txmon", TXMON)
        .replace("/etc/txmon/txmon.env", str(env_file))
        .replace(TXMON_HOME, str(state))
    )
    variables = {
        key: value.replace(TXMON_HOME, str(state)) for key, value in cron_variables().items()
    }
    env = {**variables, "PATH": f"{bin_dir}:{variables['PATH']}", "HOME": str(tmp_path)}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TXMON_HOME", str(state))
        patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
        load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.2, incidents=()))
        build(database_url)  # the job's --quick build carries on from a full one
    ran = subprocess.run(
        [variables["SHELL"], "-c", command], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout == ran.stderr == ""  # everything went to the log
    args, *lines = logged.read_text().splitlines()
    assert args == "args: -t txmon"
    assert any(line.startswith("build passed: ") for line in lines), lines
    assert not any(ANSI_ESCAPE.search(line) for line in lines), lines
    assert len(lines) <= 6, lines  # dbt's own log would be a line per node and more
    assert (state / "cron.lock").exists()
    assert os.access(state, os.W_OK)
