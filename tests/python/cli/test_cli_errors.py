"""Bad input on every command: one line on stderr, exit status 1 (3 for `status` and
`monitor`, whose 1 and 2 are verdicts), never a traceback.

Each case runs the installed `txmon` as a user would, against one of four databases: none at
all (a closed port), an empty one (no views built yet), or one with a day of data built. A case
that would start a server or install Superset if its check were missing runs into the
subprocess timeout instead of passing.

The file is long because it is a table: one row per refused input, grouped by command.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from helpers import TXMON, build, listed_metrics, load_config, rows
from txmon.db.connection import create_database, drop_database
from txmon.lab import generate

# The metrics a build of the generated data judges, as the errors list them: the seed's (the
# data have no status that none of its rates counts).
KNOWN_METRICS = ", ".join(sorted(listed_metrics()))


def user_environment(url: str, home: Path) -> dict[str, str]:
    """A user's environment pointing at `url`, without a settings file or Superset port of the
    machine's own."""
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": url,
        "TXMON_HOME": str(home),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
    }
    env.pop("TXMON_CONFIG", None)
    env.pop("TXMON_SUPERSET_PORT", None)
    return env


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Input files the cases name as {folder}/..."""
    path = tmp_path_factory.mktemp("inputs")
    (path / "a_file").write_text("not a folder\n")
    (path / "empty.csv").write_text("")
    (path / "no_time.csv").write_text("status,count\napproved,3\n")
    (path / "small.csv").write_text("timestamp,status,count\n2025-07-12 10:00:00,approved,3\n")
    (path / "broken.toml").write_text("[rules\n")
    (path / "unknown.toml").write_text("[bogus]\nx = 1\n")
    (path / "negative.toml").write_text("[rules]\nrecovery_minutes = -3\n")
    (path / "huge.toml").write_text("[rules]\nstale_after_minutes = 99999999999999999999\n")
    (path / "nan.toml").write_text("[delivery]\nretry_base_seconds = nan\n")
    (path / "no_url.toml").write_text('[[channels]]\ntype = "webhook"\n')
    (path / "labelled.labels.csv").write_text("kind,metric,started_at,ended_at,minutes,magnitude\n")
    return path


@pytest.fixture(scope="module")
def databases(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """URLs by kind: down (nothing listens), empty (no views yet), built (a day of data)."""
    empty = create_database(server_url, "txmon_errors_empty")
    built = create_database(server_url, "txmon_errors_built")
    try:
        config = generate.GeneratorConfig(days=1.0, seed=5, start=datetime(2025, 7, 12))
        load_config(built, tmp_path_factory.mktemp("built"), config)
        build(built)
        yield {
            "down": f"postgresql://postgres@127.0.0.1:{closed_port()}/txmon",
            "empty": empty,
            "built": built,
            "missing": built.rsplit("/", 1)[0] + "/txmon_errors_no_such_database",
        }
    finally:
        drop_database(server_url, empty)
        drop_database(server_url, built)


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A port something listens on, for `serve` and `superset up`."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


# (id, database, extra environment, arguments, a fragment the one line must contain).
# {folder} is the folder of input files, {taken} a port in use, {free} a port nobody uses.
CASES: list[tuple[str, str, dict[str, str], list[str], str]] = [
    # -- the command line itself
    ("unknown-command", "down", {}, ["bogus"], "No such command 'bogus'"),
    ("unknown-option", "down", {}, ["--bogus"], "No such option '--bogus'"),
    ("extra-argument", "down", {}, ["status", "extra"], "unexpected extra argument"),
    ("monitor-unknown-option", "down", {}, ["monitor", "--yaml"], "No such option"),
    # -- alerts
    ("alerts-limit-negative", "down", {}, ["alerts", "--limit", "-5"], "'--limit'"),
    ("alerts-limit-zero", "down", {}, ["alerts", "--limit", "0"], "1<=x<=1000000"),
    ("alerts-limit-text", "down", {}, ["alerts", "--limit", "abc"], "not a valid integer"),
    ("alerts-limit-huge", "down", {}, ["alerts", "--limit", "9" * 20], "'--limit'"),
    ("alerts-status-unknown", "down", {}, ["alerts", "--status", "bogus"], "'bogus' is not one"),
    ("alerts-status-empty", "down", {}, ["alerts", "--status", ""], "'--status'"),
    ("alerts-unknown-subcommand", "down", {}, ["alerts", "bogus"], "No such command"),
    ("alerts-database-down", "down", {}, ["alerts"], "cannot connect to PostgreSQL"),
    ("export-no-json", "down", {}, ["alerts", "export"], "Missing option '--json'"),
    ("export-to-folder", "down", {}, ["alerts", "export", "--json", "{folder}"], "directory"),
    (
        "export-missing-folder",
        "built",
        {},
        ["alerts", "export", "--json", "{folder}/nope/log.json"],
        "the folder {folder}/nope does not exist: create it first",
    ),
    ("alerts-since-text", "down", {}, ["alerts", "--since", "noon"], "'noon' is not a time"),
    ("alerts-since-clock", "down", {}, ["alerts", "--since", "24:00"], "'--since'"),
    ("export-empty-name", "down", {}, ["alerts", "export", "--json", ""], "empty string"),
    (
        "export-below-a-file",
        "down",
        {},
        ["alerts", "export", "--json", "{folder}/a_file/log.json"],
        "a_file is a file, not a folder",
    ),
    (
        "export-unwritable",
        "built",
        {},
        ["alerts", "export", "--json", "/proc/log.json"],
        "cannot write /proc/log.json",
    ),
    (
        "export-database-down",
        "down",
        {},
        ["alerts", "export", "--json", "{folder}/log.json"],
        "cannot connect to PostgreSQL",
    ),
    # -- silences
    ("silence-add-no-pattern", "down", {}, ["silence", "add"], "Missing argument"),
    (
        "silence-add-no-until",
        "down",
        {},
        ["silence", "add", "failed_rate", "--reason", "r"],
        "Missing option '--until'",
    ),
    (
        "silence-add-no-reason",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "2030-01-01"],
        "Missing option '--reason'",
    ),
    (
        "silence-add-bad-date",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "tomorrow", "--reason", "r"],
        "'tomorrow' is not a time; give YYYY-MM-DD, YYYY-MM-DD HH:MM",
    ),
    (
        "silence-add-impossible-date",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "2030-02-30", "--reason", "r"],
        "'2030-02-30' is not a time",
    ),
    (
        "silence-add-bad-clock",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "25:00", "--reason", "r"],
        "'25:00' is not a time",
    ),
    (
        "silence-add-bad-from",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "2030-01-01", "--from", "x", "--reason", "r"],
        "'--from'",
    ),
    (
        "silence-add-database-down",
        "down",
        {},
        ["silence", "add", "failed_rate", "--until", "2030-01-01", "--reason", "r"],
        "cannot connect to PostgreSQL",
    ),
    (
        "silence-add-empty-pattern",
        "built",
        {},
        ["silence", "add", " ", "--until", "2030-01-01", "--reason", "r"],
        "needs a metric pattern and a reason",
    ),
    (
        "silence-add-empty-reason",
        "built",
        {},
        ["silence", "add", "failed_rate", "--until", "2030-01-01", "--reason", ""],
        "needs a metric pattern and a reason",
    ),
    (
        "silence-add-ends-in-the-past",
        "built",
        {},
        ["silence", "add", "failed_rate", "--until", "2020-01-01", "--reason", "r"],
        "must end after it starts",
    ),
    (
        "silence-add-ends-before-it-starts",
        "built",
        {},
        ["silence", "add", "*", "--from", "2031-01-01", "--until", "2030-01-01", "--reason", "r"],
        "must end after it starts",
    ),
    (
        # The day's data end at 23:59: a silence from then cannot end at 06:00 the same day.
        "silence-add-ends-before-the-latest-data",
        "built",
        {},
        ["silence", "add", "failed_*", "--until", "2025-07-12 06:00", "--reason", "r"],
        "--until 2025-07-12 06:00 is not after 2025-07-12 23:59 UTC (the latest minute in the "
        "data)",
    ),
    (
        "silence-add-unknown-metric",
        "built",
        {},
        ["silence", "add", "failed_rte", "--until", "2030-01-01", "--reason", "r"],
        f"'failed_rte' matches no metric; known: {KNOWN_METRICS}",
    ),
    (
        "silence-add-wrong-case",
        "built",
        {},
        ["silence", "add", "FAILED_*", "--until", "2030-01-01 06:00", "--reason", "r"],
        "'FAILED_*' matches no metric",
    ),
    ("silence-remove-text", "down", {}, ["silence", "remove", "abc"], "'SILENCE_ID'"),
    ("silence-remove-zero", "down", {}, ["silence", "remove", "0"], "x>=1"),
    ("silence-remove-negative", "down", {}, ["silence", "remove", "-1"], "No such option '-1'"),
    ("silence-remove-missing", "built", {}, ["silence", "remove", "999999"], "no silence 999999"),
    (
        "silence-remove-huge",
        "built",
        {},
        ["silence", "remove", "9" * 20],
        f"no silence {'9' * 20}",
    ),
    ("silence-list-database-down", "down", {}, ["silence", "list"], "cannot connect"),
    ("silence-unknown-subcommand", "down", {}, ["silence", "mute"], "No such command 'mute'"),
    # -- reading the views
    ("status-database-down", "down", {}, ["status"], "cannot connect to PostgreSQL"),
    ("status-no-views", "empty", {}, ["status"], "run `txmon build`"),
    ("monitor-no-views", "empty", {}, ["monitor"], "run `txmon build`"),
    ("monitor-json-no-views", "empty", {}, ["monitor", "--json"], "run `txmon build`"),
    ("monitor-database-down", "down", {}, ["monitor", "--json"], "cannot connect"),
    ("episodes-no-views", "empty", {}, ["episodes"], "run `txmon build`"),
    ("episodes-database-down", "down", {}, ["episodes"], "cannot connect"),
    ("episodes-bad-since", "down", {}, ["episodes", "--since", "yesterday"], "'--since'"),
    ("episodes-since-month-13", "down", {}, ["episodes", "--since", "2025-13-01"], "'--since'"),
    ("episodes-since-bad-clock", "down", {}, ["episodes", "--since", "9:75"], "is not a time"),
    ("status-unknown-option", "built", {}, ["status", "--bogus"], "No such option '--bogus'"),
    (
        "episodes-unknown-metric",
        "built",
        {},
        ["episodes", "--metric", "failed"],
        f"unknown metric 'failed'; known: {KNOWN_METRICS}",
    ),
    (
        "episodes-metric-wrong-case",
        "built",
        {},
        ["episodes", "--metric", "FAILED_RATE"],
        "unknown metric 'FAILED_RATE'",
    ),
    ("episodes-empty-metric", "built", {}, ["episodes", "--metric", ""], "unknown metric ''"),
    (
        "episodes-metric-no-views",
        "empty",
        {},
        ["episodes", "--metric", "failed_rate"],
        "run `txmon build`",
    ),
    # -- the database URL
    (
        "url-not-postgresql",
        "down",
        {"TXMON_DATABASE_URL": "mysql://somewhere/db"},
        ["status"],
        "must be a postgresql:// URL",
    ),
    (
        "url-port-out-of-range",
        "down",
        {"TXMON_DATABASE_URL": "postgresql://postgres@127.0.0.1:99999/txmon"},
        ["alerts"],
        "names no valid port",
    ),
    (
        "url-port-not-a-number",
        "down",
        {"TXMON_DATABASE_URL": "postgresql://postgres@127.0.0.1:abc/txmon"},
        ["episodes"],
        "names no valid port",
    ),
    ("url-no-such-database", "missing", {}, ["status"], "does not exist"),
    # -- generate
    ("generate-no-output", "down", {}, ["generate"], "Missing argument 'OUTPUT'"),
    ("generate-days-zero", "down", {}, ["generate", "{folder}/g.csv", "--days", "0"], "x>0"),
    ("generate-days-negative", "down", {}, ["generate", "{folder}/g.csv", "--days", "-1"], "x>0"),
    ("generate-days-text", "down", {}, ["generate", "{folder}/g.csv", "--days", "abc"], "'--days'"),
    (
        "generate-days-nan",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--days", "nan"],
        "'nan' is not a finite number",
    ),
    (
        "generate-days-inf",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--days", "inf"],
        "not a finite number",
    ),
    (
        "generate-days-huge",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--days", "1e9"],
        "days must be at most 3660",
    ),
    (
        "generate-days-under-a-minute",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--days", "0.0001"],
        "shorter than one minute",
    ),
    ("generate-seed-text", "down", {}, ["generate", "{folder}/g.csv", "--seed", "x"], "'--seed'"),
    (
        "generate-start-text",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--start", "soon"],
        "'--start'",
    ),
    (
        "generate-start-past-9999",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--start", "9999-12-31"],
        "end after the year 9999",
    ),
    (
        "generate-start-not-on-a-minute",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--start", "2025-07-12 00:00:30"],
        "whole minute",
    ),
    (
        "generate-volume-negative",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--volume", "-5"],
        "x>=0",
    ),
    (
        "generate-volume-nan",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--volume", "nan"],
        "not a finite number",
    ),
    (
        "generate-volume-huge",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--volume", "1e12", "--days", "0.01"],
        "base_volume must be from 0 to 100,000",
    ),
    ("generate-to-folder", "down", {}, ["generate", "{folder}"], "is a directory"),
    (
        "generate-missing-folder",
        "down",
        {},
        ["generate", "{folder}/nope/g.csv", "--days", "0.01"],
        "the folder {folder}/nope does not exist: create it first",
    ),
    (
        "generate-existing-file",
        "down",
        {},
        ["generate", "{folder}/small.csv", "--days", "0.01"],
        "{folder}/small.csv already exists: --force overwrites",
    ),
    (
        "generate-existing-labels",
        "down",
        {},
        ["generate", "{folder}/labelled.csv", "--days", "0.01"],
        "{folder}/labelled.labels.csv already exists: --force overwrites",
    ),
    (
        "generate-start-time-of-day",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--start", "06:00"],
        "'06:00' is not a time",
    ),
    ("generate-empty-name", "down", {}, ["generate", ""], "empty string names no file"),
    (
        "generate-cycle-unknown",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--cycle", "weekly"],
        "Invalid value for '--cycle': 'weekly' is not one of 'cosine', 'business'",
    ),
    (
        "generate-cycle-no-value",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--cycle"],
        "'--cycle' requires an argument",
    ),
    (
        "generate-below-a-file",
        "down",
        {},
        ["generate", "{folder}/a_file/sub/g.csv", "--days", "0.01"],
        "a_file is a file, not a folder",
    ),
    (
        "generate-unwritable",
        "down",
        {},
        ["generate", "/proc/g.csv", "--days", "0.01"],
        "cannot write /proc/g.csv",
    ),
    (
        "generate-crisis-too-short",
        "down",
        {},
        ["generate", "{folder}/g.csv", "--crisis", "--days", "0.01"],
        "needs at least that many minutes of data",
    ),
    # -- replay
    ("replay-no-file", "down", {}, ["replay"], "Missing argument 'FILE'"),
    ("replay-missing-file", "down", {}, ["replay", "{folder}/nope.csv"], "does not exist"),
    ("replay-folder", "down", {}, ["replay", "{folder}"], "is a directory"),
    ("replay-empty-name", "down", {}, ["replay", ""], "empty string names no file"),
    ("replay-speed-zero", "down", {}, ["replay", "{folder}/small.csv", "--speed", "0"], "0.01"),
    ("replay-speed-negative", "down", {}, ["replay", "{folder}/small.csv", "--speed", "-1"], "x>="),
    (
        "replay-speed-text",
        "down",
        {},
        ["replay", "{folder}/small.csv", "--speed", "x"],
        "'--speed'",
    ),
    (
        "replay-speed-nan",
        "down",
        {},
        ["replay", "{folder}/small.csv", "--speed", "nan"],
        "not a finite number",
    ),
    (
        "replay-speed-inf",
        "down",
        {},
        ["replay", "{folder}/small.csv", "--speed", "inf"],
        "not a finite number",
    ),
    (
        "replay-speed-tiny",
        "down",
        {},
        ["replay", "{folder}/small.csv", "--speed", "1e-300"],
        "x>=0.01",
    ),
    ("replay-database-down", "down", {}, ["replay", "{folder}/small.csv"], "cannot connect"),
    ("replay-empty-file", "built", {}, ["replay", "{folder}/empty.csv"], "empty.csv is empty"),
    (
        "replay-no-time-column",
        "built",
        {},
        ["replay", "{folder}/no_time.csv"],
        "no timestamp or created_at column",
    ),
    (
        "replay-unknown-time-zone",
        "built",
        {},
        ["replay", "{folder}/small.csv", "--timezone", "Mars/Olympus"],
        "unknown time zone 'Mars/Olympus'",
    ),
    # -- serve
    ("serve-port-zero", "down", {}, ["serve", "--port", "0"], "1<=x<=65535"),
    ("serve-port-too-big", "down", {}, ["serve", "--port", "70000"], "1<=x<=65535"),
    ("serve-port-text", "down", {}, ["serve", "--port", "http"], "'--port'"),
    ("serve-port-taken", "down", {}, ["serve", "--port", "{taken}"], "Address already in use"),
    ("serve-empty-host", "down", {}, ["serve", "--host", "", "--port", "{free}"], "'--host'"),
    (
        "serve-unknown-host",
        "down",
        {"TXMON_API_TOKEN": "a-token-of-twenty-chars"},
        ["serve", "--host", "no-such-host.invalid", "--port", "{free}"],
        "cannot listen on no-such-host.invalid",
    ),
    (
        "serve-empty-token-variable",
        "down",
        {},
        ["serve", "--token-env", "", "--port", "{free}"],
        "'--token-env'",
    ),
    (
        "serve-short-token",
        "down",
        {"TXMON_API_TOKEN": "short"},
        ["serve", "--port", "{free}"],
        "too short",
    ),
    (
        "serve-open-without-token",
        "down",
        {"TXMON_API_TOKEN": ""},
        ["serve", "--host", "0.0.0.0", "--port", "{free}"],
        "refusing to serve on 0.0.0.0 without a token",
    ),
    # -- dispatch
    ("dispatch-send-gone", "down", {}, ["dispatch", "--send"], "No such option '--send'"),
    (
        "dispatch-replay-and-backfill",
        "down",
        {},
        ["dispatch", "--replay", "--backfill"],
        "--replay (look) and --backfill (write) exclude each other",
    ),
    ("dispatch-yes-alone", "down", {}, ["dispatch", "--yes"], "--yes goes with --backfill"),
    ("dispatch-backfill-no-views", "empty", {}, ["dispatch", "--backfill"], "run `txmon build`"),
    (
        "dispatch-backfill-unanswered",
        "built",
        {},
        ["dispatch", "--backfill"],
        "backfill not confirmed: nothing was written (--yes skips the question)",
    ),
    ("dispatch-replay-database-down", "down", {}, ["dispatch", "--replay"], "cannot connect"),
    ("dispatch-config-missing", "down", {}, ["dispatch", "--config", "{folder}/no.toml"], "exist"),
    ("dispatch-config-folder", "down", {}, ["dispatch", "--config", "{folder}"], "directory"),
    ("dispatch-config-empty-name", "down", {}, ["dispatch", "--config", ""], "empty string"),
    (
        "dispatch-config-variable-missing",
        "down",
        {"TXMON_CONFIG": "/nonexistent/txmon.toml"},
        ["dispatch"],
        "does not exist",
    ),
    (
        "dispatch-config-broken",
        "down",
        {},
        ["dispatch", "--config", "{folder}/broken.toml"],
        "is not valid TOML",
    ),
    (
        "dispatch-config-unknown-section",
        "down",
        {},
        ["dispatch", "--config", "{folder}/unknown.toml"],
        "unknown section(s): bogus",
    ),
    (
        "dispatch-config-negative",
        "down",
        {},
        ["dispatch", "--config", "{folder}/negative.toml"],
        "recovery_minutes must be",
    ),
    (
        "dispatch-config-huge",
        "down",
        {},
        ["dispatch", "--config", "{folder}/huge.toml"],
        "stale_after_minutes must be from 0 to 10,000,000",
    ),
    (
        "dispatch-config-nan",
        "down",
        {},
        ["dispatch", "--config", "{folder}/nan.toml"],
        "retry_base_seconds must be from 0",
    ),
    (
        "dispatch-channel-without-url",
        "down",
        {},
        ["dispatch", "--config", "{folder}/no_url.toml"],
        "missing url",
    ),
    ("dispatch-database-down", "down", {}, ["dispatch"], "cannot connect to PostgreSQL"),
    ("dispatch-no-views", "empty", {}, ["dispatch"], "run `txmon build`"),
    ("dispatch-replay-no-views", "empty", {}, ["dispatch", "--replay"], "run `txmon build`"),
    # -- superset: every one of these must fail before anything is installed
    ("superset-port-zero", "down", {}, ["superset", "up", "--port", "0"], "1<=x<=65535"),
    ("superset-port-text", "down", {}, ["superset", "up", "--port", "x"], "'--port'"),
    (
        "superset-port-variable-text",
        "down",
        {"TXMON_SUPERSET_PORT": "http"},
        ["superset", "up"],
        "TXMON_SUPERSET_PORT must be a port from 1 to 65535, got 'http'",
    ),
    (
        "superset-port-variable-too-big",
        "down",
        {"TXMON_SUPERSET_PORT": "99999"},
        ["superset", "up"],
        "TXMON_SUPERSET_PORT must be a port",
    ),
    ("superset-port-taken", "down", {}, ["superset", "up", "--port", "{taken}"], "is taken"),
    (
        "superset-unknown-host",
        "down",
        {},
        ["superset", "up", "--host", "no-such-host.invalid", "--port", "{free}"],
        "cannot listen on 'no-such-host.invalid'",
    ),
    (
        "superset-database-down",
        "down",
        {},
        ["superset", "up", "--port", "{free}"],
        "cannot connect to PostgreSQL",
    ),
    ("superset-unknown-subcommand", "down", {}, ["superset", "start"], "No such command"),
    # -- benchmark
    ("benchmark-days-zero", "down", {}, ["benchmark", "--days", "0"], "0<x<=366"),
    ("benchmark-days-nan", "down", {}, ["benchmark", "--days", "nan"], "not a finite number"),
    ("benchmark-days-huge", "down", {}, ["benchmark", "--days", "1e6"], "0<x<=366"),
    ("benchmark-days-text", "down", {}, ["benchmark", "--days", "x"], "'--days'"),
    (
        "benchmark-unknown-scenario",
        "down",
        {},
        ["benchmark", "--days", "2", "--scenario", "nope"],
        "unknown scenario 'nope'; known: ",
    ),
    ("benchmark-model-unknown", "down", {}, ["benchmark", "--model", "seed"], "'--model'"),
    ("benchmark-seeds-gone", "down", {}, ["benchmark", "--seeds", "3"], "No such option"),
]


# Commands whose exit status is a verdict (0, 1, 2): their errors exit 3.
VERDICT_COMMANDS = ("status", "monitor")


@pytest.mark.parametrize(
    ("database", "environment", "arguments", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_one_line_and_a_failure(
    database: str,
    environment: dict[str, str],
    arguments: list[str],
    fragment: str,
    databases: dict[str, str],
    folder: Path,
    taken_port: int,
    tmp_path: Path,
) -> None:
    env = {**user_environment(databases[database], tmp_path / "home"), **environment}
    values = {"folder": str(folder), "taken": str(taken_port), "free": str(closed_port())}
    argv = [argument.format(**values) for argument in arguments]
    # The working folder is empty: no txmon.toml of the checkout is picked up. Nobody answers
    # a question.
    result = subprocess.run(
        [TXMON, *argv],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    expected = 3 if argv[0] in VERDICT_COMMANDS else 1
    assert result.returncode == expected, (result.returncode, result.stdout[-2000:], result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("txmon: error: "), lines[0]
    assert fragment.format(**values) in lines[0], lines[0]


def test_cases_have_distinct_names() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


def test_refused_commands_change_nothing(
    databases: dict[str, str], folder: Path, tmp_path: Path
) -> None:
    """A refused silence is not stored, a refused generate writes no file and leaves an
    existing one alone, a replay refused for its time zone loads nothing, a refused export
    writes nothing, an unconfirmed backfill logs nothing."""
    url = databases["built"]
    env = user_environment(url, tmp_path / "home")

    def txmon(*arguments: str, answer: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [TXMON, *arguments],
            env=env,
            cwd=tmp_path,
            input=answer,
            capture_output=True,
            text=True,
            timeout=90,
        )

    # A silence that is taken first, so the table exists and a count can be compared.
    kept = txmon("silence", "add", "volume", "--until", "2030-01-01 06:00", "--reason", "test")
    assert kept.returncode == 0, kept.stderr
    silences = "select count(*) from monitoring.alert_silences"
    assert rows(url, silences) == [(1,)]
    for refused in (
        ["silence", "add", "volumes", "--until", "2030-01-01", "--reason", "typo"],
        ["silence", "add", "volume", "--until", "2020-01-01", "--reason", "past"],
        ["silence", "add", "volume", "--until", "2030-01-01", "--reason", " "],
    ):
        assert txmon(*refused).returncode == 1
    assert rows(url, silences) == [(1,)]
    listed = txmon("silence", "list").stdout.splitlines()
    assert len(listed) == 1 and "volume" in listed[0] and "2030-01-01 06:00 UTC  test" in listed[0]

    for refused in (
        ["--days", "nan"],
        ["--days", "1e9"],
        ["--volume", "-1"],
        ["--start", "9999-12-31"],
        ["--crisis", "--days", "0.01"],
    ):
        assert txmon("generate", str(tmp_path / "g.csv"), *refused).returncode == 1
    assert not (tmp_path / "g.csv").exists()
    assert not (tmp_path / "g.labels.csv").exists()
    (tmp_path / "kept.csv").write_text("mine\n")
    assert txmon("generate", str(tmp_path / "kept.csv"), "--days", "0.01").returncode == 1
    assert (tmp_path / "kept.csv").read_text() == "mine\n"
    assert not (tmp_path / "kept.labels.csv").exists()
    assert not (tmp_path / "nope").exists()
    assert txmon("generate", str(tmp_path / "nope" / "g.csv"), "--days", "0.01").returncode == 1
    assert not (tmp_path / "nope").exists()

    loads = "select count(*) from txmon_raw.loads"
    before = rows(url, loads)
    assert txmon("replay", str(folder / "small.csv"), "--timezone", "Mars/Olympus").returncode == 1
    assert rows(url, loads) == before

    assert txmon("alerts", "export", "--json", str(folder / "a_file" / "log.json")).returncode == 1
    assert (folder / "a_file").read_text() == "not a folder\n"

    log = "select count(*) from monitoring.alert_log"
    before = rows(url, log)  # the table exists: the silence above created it
    for answer in ("", "n\n", "no\n"):
        declined = txmon("dispatch", "--backfill", answer=answer)
        assert declined.returncode == 1 and "not confirmed" in declined.stderr
    assert rows(url, log) == before


@pytest.mark.parametrize("shape", [[], ["--events"]], ids=["counts", "events"])
def test_generate_cut_short_leaves_no_file(shape: list[str], tmp_path: Path) -> None:
    """A data file that cannot be written to the end (here a 64 kB file size limit, as a full
    disk would) is removed: cut short, it would load as a shorter data set."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, 65_536))

    target = tmp_path / "day.csv"
    result = subprocess.run(
        [TXMON, "generate", str(target), "--days", "1", *shape],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"txmon: error: cannot write {target}: File too large"]
    assert list(tmp_path.iterdir()) == []
