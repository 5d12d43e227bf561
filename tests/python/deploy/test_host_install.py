"""Running txmon on a host instead of in containers: the systemd units (read as INI), the
crontab line (its fields and the commands it runs) and the environment file both read."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_files import (
    DEPLOY,
    SECRET_NAME,
    TXMON_HOME,
    UNITS,
    URL_CREDENTIALS,
    check_txmon_command,
    cron_job,
    cron_variables,
    env_file,
    shell_commands,
    unit,
)

ENVIRONMENT_FILE = "/etc/txmon/txmon.env"


def txmon_argv(argv: list[str]) -> list[str] | None:
    """The arguments of a txmon command line (None when `argv` runs something else)."""
    return argv[1:] if Path(argv[0]).name == "txmon" else None


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_runs_txmon_hardened(name: str) -> None:
    parsed = unit(name)
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    service = parsed["Service"]
    executable = Path(shlex.split(service["ExecStart"])[0])
    assert executable.is_absolute() and executable.name == "txmon"
    assert executable.parent.name == "bin", "txmon from a virtualenv"
    assert service["User"] not in ("root", "0")
    assert service["EnvironmentFile"] == ENVIRONMENT_FILE
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert TXMON_HOME in service["ReadWritePaths"].split()
    assert service["WorkingDirectory"] == TXMON_HOME
    assert f"TXMON_HOME={TXMON_HOME}" in service["Environment"].split()
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", UNITS)
def test_systemd_units_run_commands_the_cli_has(name: str) -> None:
    argv = txmon_argv(shlex.split(unit(name)["Service"]["ExecStart"]))
    assert argv is not None
    check_txmon_command(argv)


def test_the_units_run_the_scheduler_and_the_api_on_localhost() -> None:
    commands = {name: shlex.split(unit(name)["Service"]["ExecStart"])[1:] for name in UNITS}
    assert commands["txmon-scheduler.service"][0] == "run"
    api = commands["txmon-api.service"]
    assert api[0] == "serve"
    assert api[api.index("--host") + 1] == "127.0.0.1"


def test_cron_runs_build_then_dispatch_every_minute_under_flock() -> None:
    job = cron_job()
    assert job.schedule == ["*"] * 5
    assert job.user == "txmon"
    assert "%" not in job.command, "cron turns % into a newline"
    commands = shell_commands(job.command)
    txmon = [argv for argv in map(txmon_argv, commands) if argv is not None]
    assert txmon == [["build", "--quick"], ["dispatch"]]
    for argv in txmon:
        check_txmon_command(argv)
    # flock -n around both: a minute whose run is still going is skipped, never overlapped.
    assert shlex.split(job.command)[3:5] == ["flock", "-n"]
    assert [".", ENVIRONMENT_FILE] in commands
    # Output and errors go to syslog, which needs no folder and rotates by itself.
    assert shlex.split(job.command)[-5:] == ["2>&1", "|", "logger", "-t", "txmon"]
    assert commands[-1] == ["logger", "-t", "txmon"]
    shell = shutil.which("sh")
    assert shell, "no sh on this machine"
    result = subprocess.run([shell, "-n", "-c", job.command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert cron_variables().get("TXMON_HOME") == TXMON_HOME


def test_systemd_env_example_names_the_database() -> None:
    values = env_file(DEPLOY / "txmon.env.example")
    assert values["TXMON_DATABASE_URL"].startswith("postgresql://")
    for key, value in values.items():
        if SECRET_NAME.search(key) or URL_CREDENTIALS.search(value):
            assert "change-me" in value, f"{key} looks like a real secret"


def test_cron_writes_only_into_folders_its_install_steps_create() -> None:
    """The job's working folder and lock file lie in a folder that the install lines of the
    crontab's header create, and it redirects nothing into a file: no folder is missing."""
    header = [
        line.lstrip("# ").strip()
        for line in (DEPLOY / "txmon.cron").read_text().splitlines()
        if line.startswith("#")
    ]
    created = {
        Path(word)
        for line in header
        if line.startswith("install -d")
        for word in shlex.split(line)[2:]
        if word.startswith("/")
    }
    assert Path(TXMON_HOME) in created
    words = shlex.split(cron_job().command)
    assert Path(words[words.index("cd") + 1]) in created
    lock = Path(words[words.index("flock") + 2])
    assert lock.parent in created
    assert not {">", ">>"} & set(words) and not any(word.startswith(">") for word in words)
