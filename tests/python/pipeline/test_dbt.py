"""Running dbt (txmon.pipeline.dbt): the vars and environment it passes, how it reports a
failure, and the pipeline end to end on a real server: parity with the prototype, the default
model's verdicts, no look-ahead, both input shapes and the public views."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from helpers import build, listed_metrics, load_config, rows
from txmon.core.config import Rules, Settings
from txmon.core.errors import BuildError
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.lab import generate, generated_files, prototype, scoring
from txmon.pipeline.dbt import (
    BuildResult,
    NodeFailure,
    dbt_arguments,
    dbt_environment,
    dbt_vars,
    with_vars,
)
from txmon.pipeline.views import episodes as read_episodes
from txmon.pipeline.views import monitor_document


def test_vars_are_added_and_the_users_win() -> None:
    assert with_vars(["--select", "x"], {}) == ["--select", "x"]
    assert with_vars([], {"baseline_mode": "prototype"}) == [
        "--vars",
        '{"baseline_mode": "prototype"}',
    ]
    merged = with_vars(
        ["--vars", "{baseline_mode: trailing, threshold_sigmas: 4}", "--full-refresh"],
        {"baseline_mode": "prototype", "recovery_minutes": 0},
    )
    assert merged[:1] == ["--full-refresh"] and merged[1] == "--vars"
    assert json.loads(merged[2]) == {
        "baseline_mode": "trailing",
        "recovery_minutes": 0,
        "threshold_sigmas": 4,
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--vars"], "--vars needs a value, e.g. --vars '{baseline_mode: prototype}'"),
        (["--vars", "{unclosed"], "--vars is not valid YAML"),
        (["--vars", "[1, 2]"], "--vars must be a mapping"),
    ],
    ids=["no-value", "not-yaml", "not-a-mapping"],
)
def test_bad_vars_are_one_clear_error(given: list[str], message: str) -> None:
    with pytest.raises(BuildError, match=re.escape(message)):
        with_vars(given, {"baseline_mode": "prototype"})


def test_the_settings_file_becomes_dbt_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dbt_vars(Settings()) == {}
    older_spelling = Settings(model={"threshold_sigmas": 4}, rules=Rules(recovery_minutes=2))
    assert dbt_vars(older_spelling) == {"threshold_sigmas": 4, "recovery_minutes": 2}

    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=0")
    env = dbt_environment("postgresql://reader@db.example:6543/payments", older_spelling)
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("db.example", "6543", "payments")
    assert json.loads(env["TXMON_DBT_VARS"]) == {"recovery_minutes": 2, "threshold_sigmas": 4}
    assert env["PGOPTIONS"] == "-c work_mem=64MB -c statement_timeout=0 -c jit=off"


def test_dbt_runs_on_the_project_and_writes_under_txmon_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TXMON_HOME", str(tmp_path))
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # colour stays dbt's default
    args = dbt_arguments("build", ["--select", "x"], quiet=True)
    assert args[:2] == ["--quiet", "build"] and args[-2:] == ["--select", "x"]
    options = dict(zip(args[2:-2:2], args[3:-2:2], strict=True))
    assert options == {
        "--project-dir": str(REPO_ROOT),
        "--profiles-dir": str(REPO_ROOT),
        "--target-path": str(tmp_path / "dbt" / "target"),
        "--log-path": str(tmp_path / "dbt" / "logs"),
    }


def test_a_failed_build_names_its_first_failure() -> None:
    failures = (
        NodeFailure("model fct_metric_minutes", "error", "var baseline_mode is wrong"),
        NodeFailure("test not_null_x", "fail", "1 row"),
    )
    assert BuildResult(False, failures, 12).first_failure_line() == (
        "dbt error in model fct_metric_minutes: var baseline_mode is wrong (and 1 more)"
    )
    assert BuildResult(False, (), 0).first_failure_line() == "dbt failed"


def prototype_oracle(path: Path) -> dict[str, tuple[float, int, str]]:
    """What the prototype computes on the file, by its own rules (txmon.lab.prototype)."""
    _, rates = prototype.minute_rates(path)
    verdicts = {}
    for metric, series in rates.items():
        threshold, consecutive = prototype.verdict(series)
        verdicts[metric] = (threshold, consecutive, prototype.severity(consecutive))
    return verdicts


@pytest.fixture()
def crisis(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> generate.GeneratorConfig:
    config = generate.crisis_scenario(days=2.0, seed=11)
    load_config(database_url, tmp_path, config)
    return config


@pytest.mark.slow
def test_prototype_mode_matches_the_prototype(
    database_url: str, crisis: generate.GeneratorConfig, tmp_path: Path
) -> None:
    build(database_url, mode="prototype")
    with connect(database_url) as conn:
        document = monitor_document(conn)
    expected = prototype_oracle(tmp_path / "data.csv")
    last_minute = crisis.start + timedelta(minutes=generate.total_minutes(crisis.days) - 1)
    assert document["current_minute"] == last_minute.strftime("%Y-%m-%d %H:%M:%S")
    for status, (threshold, consecutive, severity) in expected.items():
        assert document["thresholds"][status] == pytest.approx(threshold, abs=1e-9)
        assert document["persistence_analysis"][status] == {
            "consecutive_minutes": consecutive,
            "severity": severity,
        }
    # The prototype's blind spot, kept in its mode: the crisis inflates its own threshold.
    assert expected["failed"][2] != "SEVERE"


@pytest.mark.slow
def test_trailing_mode_sees_the_whole_crisis(
    database_url: str, crisis: generate.GeneratorConfig
) -> None:
    build(database_url)
    with connect(database_url) as conn:
        document = monitor_document(conn)
    persistence = document["persistence_analysis"]
    assert document["baseline_mode"] == "trailing"
    assert persistence["approval"] == {"consecutive_minutes": 61, "severity": "SEVERE"}
    assert document["overall_severity"] == "SEVERE"
    # Failed and denied alternate minute by minute in the crisis; both are seen from its start.
    crisis_start = crisis.incidents[0].started_at
    episodes = rows(
        database_url,
        "select metric_name, started_at at time zone 'UTC', peak_severity"
        " from monitoring.anomaly_episodes order by started_at",
    )
    by_metric = {metric: (started, peak) for metric, started, peak in episodes}
    for metric in ("failed_rate", "denied_rate", "approval_rate"):
        started, peak = by_metric[metric]
        assert crisis_start <= started <= crisis_start + timedelta(minutes=6), metric
        assert peak in {"CRITICAL", "SEVERE"}, metric
    assert persistence["failed"]["severity"] in {"CRITICAL", "SEVERE"}
    # Nothing else in two days of normal traffic reached INFO.
    assert all(started >= crisis_start for _, started, _ in episodes)


@pytest.mark.slow
def test_trailing_finds_planted_incidents_and_nothing_else(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    config = generate.GeneratorConfig(days=3.0, seed=5, daily_cycle=True)
    load_config(database_url, tmp_path, config)
    build(database_url)
    incidents = generate.resolved_incidents(config)
    with connect(database_url) as conn:
        episodes = read_episodes(conn)
    for check in scoring.match_incidents(incidents, episodes):
        assert check.episode is not None, f"missed {check.incident}"
        assert check.delay_minutes is not None and check.delay_minutes <= 5
    assert scoring.unexplained_episodes(incidents, episodes) == 0


@pytest.mark.slow
def test_no_look_ahead(
    database_url: str, server_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    """Building on data cut at minute t and on all data gives the same rows up to t."""
    config = generate.GeneratorConfig(days=1.0, seed=3)
    full = load_config(database_url, tmp_path, config, "full.csv")
    lines = full.read_text().splitlines()
    cut_minute = (config.start + timedelta(minutes=900)).strftime("%Y-%m-%d %H:%M:%S")
    cut = tmp_path / "cut.csv"
    cut.write_text(
        "\n".join([lines[0], *(line for line in lines[1:] if line[:19] <= cut_minute)]) + "\n"
    )

    from conftest import drop_database, make_database

    cut_url = make_database(server_url)
    try:
        with connect(cut_url) as conn:
            load_file(conn, cut)
        build(cut_url)
        build(database_url)
        query = (
            "select m.metric_minute_id, m.judged_value, m.baseline, m.threshold, m.is_anomalous,"
            " s.consecutive_minutes, s.severity, s.episode_id"
            " from monitoring.metric_minutes as m"
            " inner join monitoring.metric_status as s using (metric_minute_id)"
            " where m.minute_at <= %s::timestamptz order by 1"
        )
        cut_rows = rows(cut_url, query, (cut_minute + "+00",))
        full_rows = rows(database_url, query, (cut_minute + "+00",))
    finally:
        drop_database(server_url, cut_url)
    assert len(cut_rows) == 901 * len(listed_metrics())
    assert cut_rows == full_rows


@pytest.mark.slow
def test_both_input_shapes_give_the_same_minutes(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    config = generate.GeneratorConfig(days=0.1, seed=9)
    counts_path = tmp_path / "counts.csv"
    events_path = tmp_path / "events.csv"
    generated_files.write_counts_csv(counts_path, config)
    generated_files.write_events_csv(events_path, config)
    with connect(database_url) as conn:
        load_file(conn, events_path)
    build(database_url, select="+fct_metric_minutes")
    # The metrics of counts: transactions also carry durations, whose latency metrics counts
    # cannot have.
    statement = (
        "select metric_name, minute_at, numerator, denominator from txmon.fct_metric_minutes"
        " where dimension_name = 'all' and metric_name = any(%s) order by 1, 2"
    )
    from_events = rows(database_url, statement, (listed_metrics(),))
    with connect(database_url) as conn:
        conn.execute("truncate txmon_raw.transactions")
        conn.commit()
        load_file(conn, counts_path)
    build(database_url, select="+fct_metric_minutes")
    from_counts = rows(database_url, statement, (listed_metrics(),))
    assert len(from_counts) == generate.total_minutes(config.days) * len(listed_metrics())
    assert from_events == from_counts


@pytest.mark.slow
def test_outage_minutes_are_zero_rows_not_holes(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "gap.csv"
    path.write_text(
        "timestamp,status,count\n"
        "2025-01-01 00:00:00,approved,10\n"
        "2025-01-01 00:00:30,failed,2\n"
        "2025-01-01 00:04:00,approved,7\n"
        "2025-01-01 00:04:00,approved,3\n"
        "2025-01-01 00:04:00,mystery_status,5\n"
    )
    with connect(database_url) as conn:
        load_file(conn, path)
    build(database_url)
    volume = rows(
        database_url,
        "select to_char(minute_at at time zone 'UTC', 'HH24:MI'), numerator"
        " from monitoring.metric_minutes where metric_name = 'volume' order by minute_at",
    )
    assert volume == [("00:00", 12), ("00:01", 0), ("00:02", 0), ("00:03", 0), ("00:04", 15)]
    failed = rows(
        database_url,
        "select value from monitoring.metric_minutes"
        " where metric_name = 'failed_rate' order by minute_at",
    )
    assert [value for (value,) in failed] == [pytest.approx(2 / 12), 0, 0, 0, 0]


@pytest.mark.slow
def test_late_data_are_included_on_the_next_build(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "timestamp,status,count\n2025-01-01 00:05:00,approved,10\n2025-01-01 00:06:00,approved,10\n"
    )
    late = tmp_path / "late.csv"
    late.write_text(
        "timestamp,status,count\n2025-01-01 00:05:00,failed,10\n2025-01-01 00:02:00,approved,4\n"
    )
    with connect(database_url) as conn:
        load_file(conn, first)
        load_file(conn, late)
    build(database_url)
    found = rows(
        database_url,
        "select to_char(minute_at at time zone 'UTC', 'HH24:MI'), value"
        " from monitoring.metric_minutes where metric_name = 'failed_rate' order by minute_at",
    )
    assert found == [("00:02", 0), ("00:03", 0), ("00:04", 0), ("00:05", 0.5), ("00:06", 0)]
