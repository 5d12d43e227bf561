"""The txmon command as a user runs it: a real process, a real database, real files."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click
import pytest

from conftest import REPO_ROOT
from helpers import TXMON, rows
from txmon.cli import main
from txmon.cli.build import DEPRECATED_BASELINE_MODES
from txmon.db.connection import DATABASES
from txmon.lab import generate, generated_files

Txmon = Callable[..., subprocess.CompletedProcess]


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TXMON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture()
def txmon(txmon_env: dict[str, str]) -> Txmon:
    """`txmon ARGS...` against the test database; `env=` adds or replaces variables."""

    def invoke(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        return run({**txmon_env, **(env or {})}, *args, cwd=cwd)

    return invoke


def assert_one_line_error(
    result: subprocess.CompletedProcess, *fragments: str, code: int = 1
) -> None:
    """One line on stderr and exit status `code` (1; 3 for status and monitor)."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("txmon: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow
def test_generate_load_build_monitor_status(
    txmon: Txmon, database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "crisis.csv"
    generated = txmon("generate", str(data), "--days", "1", "--seed", "4", "--crisis")
    assert generated.returncode == 0, generated.stderr
    assert (
        (tmp_path / "crisis.labels.csv")
        .read_text()
        .startswith("metric,start,minutes,must_page,kind,magnitude\n")
    )

    loaded = txmon("load", str(data))
    assert loaded.returncode == 0, loaded.stderr
    assert "8,640 rows loaded, 0 rejected" in loaded.stdout
    again = txmon("load", str(data))
    assert again.returncode == 0 and "already loaded" in again.stdout

    built = txmon("build")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    assert "build passed" in built.stdout

    monitored = txmon("monitor", "--json")
    assert monitored.returncode == 2, monitored.stderr  # SEVERE: CRITICAL or above
    document = json.loads(monitored.stdout)
    assert set(document) >= {"current_minute", "metrics", "thresholds", "persistence_analysis"}
    assert document["current_minute"] == "2025-07-12 23:59:00"
    assert set(document["metrics"]) >= {"failed_rate", "denied_rate", "reversed_rate"}
    assert set(document["thresholds"]) >= {"failed", "denied", "reversed"}
    assert document["persistence_analysis"]["approval"]["severity"] == "SEVERE"

    status = txmon("status")
    assert status.returncode == 2
    assert "approval_rate" in status.stdout and "SEVERE" in status.stdout
    assert "overall: SEVERE" in status.stdout

    episodes = txmon("episodes", "--metric", "approval_rate")
    assert episodes.returncode == 0
    assert "ongoing" in episodes.stdout

    # The prototype's model under its old name: still built, with a warning to use the new one.
    old_name = txmon("build", "--mode", "seed", "--select", "+current_status")
    assert old_name.returncode == 0, old_name.stdout[-2000:] + old_name.stderr
    assert old_name.stderr.splitlines() == [
        "txmon: warning: --mode seed is deprecated and will be removed: use --mode prototype"
    ]
    document = json.loads(txmon("monitor", "--json").stdout)
    assert document["baseline_mode"] == "prototype"


def test_load_with_rejects_exits_2_and_keeps_them(
    txmon: Txmon, database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(
        "timestamp,status,count\n"
        "2025-01-01 00:00:00,approved,10\n"
        "not a time,approved,1\n"
        "2025-01-01 00:01:00,approved,-4\n"
        "2025-01-01 00:01:00,'; drop table txmon_raw.loads; --,1\n"
    )
    result = txmon("load", str(data))
    assert result.returncode == 2
    assert "1 rows loaded, 3 rejected" in result.stdout
    assert rows(database_url, "select count(*) from txmon_raw.load_rejects") == [(3,)]


def test_missing_file_is_one_clear_line(txmon: Txmon, tmp_path: Path) -> None:
    result = txmon("load", str(tmp_path / "nope.csv"))
    assert_one_line_error(result, "nope.csv", "does not exist")


def test_unreachable_database_is_one_clear_line(txmon: Txmon) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"TXMON_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/txmon"}
    for command, code in ((["status"], 3), (["build"], 1), (["monitor", "--json"], 3)):
        result = txmon(*command, env=env)
        assert_one_line_error(result, "cannot connect to PostgreSQL", str(port), code=code)


def test_bad_database_url_is_one_clear_line(txmon: Txmon) -> None:
    result = txmon("status", env={"TXMON_DATABASE_URL": "mysql://nope"})
    assert_one_line_error(result, "TXMON_DATABASE_URL", code=3)


def test_status_before_any_build_says_what_to_do(txmon: Txmon, database_url: str) -> None:
    assert_one_line_error(txmon("status"), "txmon build", code=3)


@pytest.mark.slow
def test_dbt_failure_names_the_model(txmon: Txmon, database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "tiny.csv"
    data.write_text("timestamp,status,count\n2025-01-01 00:00:00,approved,10\n")
    assert txmon("load", str(data)).returncode == 0
    result = txmon("build", "--vars", "{baseline_mode: bogus}")
    assert_one_line_error(result, "fct_metric_minutes", "baseline_mode")


def test_a_selection_that_matches_nothing_is_an_error(txmon: Txmon) -> None:
    result = txmon("build", "--select", "nonexistent_model")
    assert_one_line_error(result, "no dbt node matched the selection")


def test_generate_rejects_bad_arguments(txmon: Txmon, tmp_path: Path) -> None:
    assert_one_line_error(txmon("generate", str(tmp_path / "x.csv"), "--days", "-1"), "days")


def test_generate_to_stdout_and_never_over_a_file(tmp_path: Path) -> None:
    env = {**os.environ, "TXMON_HOME": str(tmp_path / "home")}
    options = ("--days", "0.05", "--seed", "3", "--start", "2025-07-12 06:00-03:00")
    data = tmp_path / "day.csv"
    written = run(env, "generate", str(data), *options, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert data.read_text().splitlines()[1].startswith("2025-07-12 09:00:00,")  # in UTC

    piped = run(env, "generate", "-", *options, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == data.read_text()
    assert piped.stderr.startswith("wrote 432 rows (72 minutes, ")
    assert piped.stderr.endswith(" to stdout; 0 incidents planted (no labels file with -)\n")
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == [
        "day.csv",
        "day.labels.csv",
    ]

    data.write_text("mine\n")
    refused = run(env, "generate", str(data), *options, cwd=tmp_path)
    assert_one_line_error(refused, f"{data} and {data.parent / 'day.labels.csv'} already exist")
    assert data.read_text() == "mine\n"
    forced = run(env, "generate", str(data), *options, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert data.read_text() == piped.stdout


@pytest.mark.parametrize(
    ("options", "shape"),
    [
        ((), None),
        (("--daily-cycle",), "cosine"),
        (("--cycle", "cosine"), "cosine"),
        (("--cycle", "business"), "business"),
        (("--daily-cycle", "--cycle", "business"), "business"),
    ],
    ids=["flat", "daily-cycle", "cycle-cosine", "cycle-business", "both"],
)
def test_generate_cycle_shapes(tmp_path: Path, options: tuple[str, ...], shape: str | None) -> None:
    """--cycle names the daily cycle's shape and implies one; --daily-cycle alone is cosine."""
    env = {**os.environ, "TXMON_HOME": str(tmp_path / "home")}
    common = ("--days", "1", "--seed", "3", "--start", "2025-07-14", "--no-incidents")
    written = run(env, "generate", "-", *common, *options, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    config = generate.GeneratorConfig(
        days=1.0,
        seed=3,
        start=datetime(2025, 7, 14),
        incidents=(),
        daily_cycle=shape is not None,
        cycle_shape=shape or "cosine",
    )
    expected = io.StringIO()
    generated_files.write_counts(expected, config)
    assert written.stdout == expected.getvalue()


def test_db_env_matches_the_url(txmon: Txmon, database_url: str) -> None:
    url = txmon("db", "url")
    assert url.stdout.strip() == database_url
    exported = txmon("db", "env").stdout
    name = database_url.rsplit("/", 1)[1]
    assert f"export PGDATABASE={name}" in exported


@pytest.mark.slow
def test_demo_has_a_database_of_its_own(
    txmon: Txmon, database_url: str, server_url: str, tmp_path: Path
) -> None:
    from txmon.db.connection import demo_database_url, drop_database

    # The user's own data, loaded before the demo runs.
    mine = tmp_path / "mine.csv"
    mine.write_text("timestamp,status,count\n2024-01-01 10:00,approved,5\n")
    assert txmon("load", str(mine)).returncode == 0
    before = rows(database_url, "select * from txmon_raw.transaction_counts")
    demo_url = demo_database_url(database_url)
    try:
        result = txmon("demo", cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        detected = re.search(r"Planted incidents detected: (\d+) of (\d+)", result.stdout)
        assert detected and detected.group(1) == detected.group(2) != "0", result.stdout[-2000:]
        assert "MISSED" not in result.stdout
        assert "failed_rate" in result.stdout and "CRITICAL" in result.stdout
        demo_name = demo_url.rsplit("/", 1)[1]
        assert "Demo database created: postgres@" in result.stdout
        assert f"The demo's results are in database {demo_name}" in result.stdout
        assert "txmon --database demo superset up" in result.stdout

        # The user's database: the same rows as before, no demo load, no demo results.
        assert rows(database_url, "select * from txmon_raw.transaction_counts") == before
        assert rows(database_url, "select file_name from txmon_raw.loads") == [(str(mine),)]
        assert rows(database_url, "select to_regclass('monitoring.current_status')") == [(None,)]
        assert_one_line_error(txmon("status"), "txmon build", code=3)
        # The demo's database: its data only.
        # The counts, and the same transactions by acquirer.
        assert rows(demo_url, "select count(*) from txmon_raw.loads") == [(2,)]
        assert rows(
            demo_url,
            "select count(*) from txmon_raw.transaction_counts where observed_at < '2025-01-01'",
        ) == [(0,)]

        # The follow-up commands it prints read the demo's results.
        status = txmon("--database", "demo", "status")
        assert status.returncode == 2, status.stderr  # the demo ends at CRITICAL
        assert "CRITICAL" in status.stdout
        document = json.loads(txmon("monitor", "--json", env={"TXMON_DATABASE": "demo"}).stdout)
        assert document["current_minute"] == "2025-07-14 23:59:00"
        env_url = txmon("--database", "demo", "db", "url")
        assert env_url.stdout.strip() == demo_url

        # A second demo reuses its database and leaves the user's alone again.
        again = txmon("demo", cwd=tmp_path)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr
        assert "Demo database ready" in again.stdout
        assert rows(database_url, "select * from txmon_raw.transaction_counts") == before
    finally:
        drop_database(server_url, demo_url)


def test_database_selection_is_checked(txmon: Txmon, database_url: str) -> None:
    bad = txmon("status", env={"TXMON_DATABASE": "prod"})
    assert_one_line_error(bad, "TXMON_DATABASE must be main or demo", code=3)
    option = txmon("--database", "prod", "status")
    assert option.returncode != 0 and "--database" in option.stderr
    missing = txmon("--database", "demo", "status")
    assert_one_line_error(missing, "_demo", "does not exist", "txmon demo", code=3)


@pytest.mark.slow
def test_demo_on_the_embedded_server(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TXMON_DATABASE_URL"}
    env["TXMON_HOME"] = str(tmp_path / "home")
    env["TXMON_PROJECT_DIR"] = str(REPO_ROOT)
    try:
        result = run(env, "demo", cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        assert "embedded PostgreSQL" in result.stdout
        assert "MISSED" not in result.stdout
        assert "Demo database created: postgres@127.0.0.1:" in result.stdout
        assert "/txmon_demo" in result.stdout
        demo_status = run(env, "--database", "demo", "status")
        assert demo_status.returncode == 2 and "CRITICAL" in demo_status.stdout
        # The embedded server's own database (txmon) got nothing from the demo.
        assert_one_line_error(run(env, "status"), "txmon build", code=3)
        status = run(env, "db", "status")
        assert status.returncode == 0 and "running" in status.stdout
    finally:
        stopped = run(env, "db", "stop")
    assert stopped.returncode == 0
    assert run(env, "db", "status").returncode == 3


def test_the_prototype_mode_is_accepted_and_others_are_refused(txmon: Txmon) -> None:
    # An empty selection fails after the arguments were taken: --mode prototype was accepted.
    accepted = txmon("build", "--mode", "prototype", "--select", "nonexistent_model")
    assert_one_line_error(accepted, "no dbt node matched the selection")
    refused = txmon("build", "--mode", "bogus")
    assert_one_line_error(refused, "'bogus' is not one of 'trailing', 'prototype'")
    assert "seed" not in txmon("build", "--help").stdout  # the old name is not advertised


def test_the_old_mode_names_are_those_dbt_still_accepts() -> None:
    """The command line maps an old --mode as macros/settings.sql maps the dbt var."""
    macros = (REPO_ROOT / "macros" / "settings.sql").read_text()
    renamed = re.search(r"'baseline_mode': \{([^}]*)\}", macros)
    assert renamed, "deprecated_setting_values() lists no baseline_mode"
    assert dict(re.findall(r"'(\w+)': '(\w+)'", renamed.group(1))) == DEPRECATED_BASELINE_MODES


def test_the_database_choices_are_those_txmon_knows() -> None:
    [option] = [param for param in main.params if param.name == "database"]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == DATABASES
