"""Running live: the scheduler and the replay as real processes against a real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from helpers import TXMON, rows
from txmon.core.errors import TxmonError
from txmon.db.connection import connect
from txmon.db.embedded import EmbeddedServer
from txmon.lab import generate
from txmon.ops.scheduler import parse_interval
from txmon.pipeline.views import monitor_document


def test_parse_interval() -> None:
    assert parse_interval("60s") == 60
    assert parse_interval("5m") == 300
    assert parse_interval("1h") == 3600
    assert parse_interval("2.5") == 2.5
    for bad in ("", "0s", "-5m", "ten", "5d"):
        with pytest.raises(TxmonError):
            parse_interval(bad)


def write_settings(folder: Path, sink: Path, extra: str = "") -> Path:
    path = folder / "txmon.toml"
    path.write_text(
        f'[rules]\nstale_after_minutes = 0\n{extra}[[channels]]\ntype = "jsonl"\npath = "{sink}"\n'
    )
    return path


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [TXMON, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_live_replay_escalates_once_each_and_stops_cleanly(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    start_at = datetime(2025, 7, 12)
    minutes = 200
    burst = generate.Incident("failed_burst", start_at + timedelta(minutes=minutes - 66), 66, 0.3)
    data = tmp_path / "live.csv"
    generate.write_counts_csv(
        data, generate.GeneratorConfig(days=minutes / 1440, seed=8, incidents=(burst,))
    )
    sink = tmp_path / "alerts.jsonl"
    config = write_settings(tmp_path, sink)
    scheduler = start(txmon_env, "run", "--every", "1s", "--config", str(config))
    try:
        replay = subprocess.run(
            [TXMON, "replay", str(data), "--speed", "900"],
            env=txmon_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert replay.returncode == 0, replay.stderr
        assert f"{minutes} minutes" in replay.stdout
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = (
                rows(
                    database_url,
                    "select count(*) from monitoring.alert_log where severity = 'SEVERE'"
                    " and metric_name = 'failed_rate'",
                )
                if _has_log(database_url)
                else [(0,)]
            )
            if done[0][0]:
                break
            time.sleep(1)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        stdout, stderr = scheduler.communicate(timeout=120)
    assert scheduler.returncode == 0, stderr
    assert "stopping after the current cycle" in stdout
    cycles = [line for line in stdout.splitlines() if " cycle " in line]
    assert len(cycles) >= 2 and all("data lag" in line for line in cycles)
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    failed = [
        (line["event_type"], line["severity"])
        for line in sent
        if line["metric_name"] == "failed_rate"
    ]
    assert failed[:4] == [
        ("ALERT", "INFO"),
        ("ESCALATION", "WARNING"),
        ("ESCALATION", "CRITICAL"),
        ("ESCALATION", "SEVERE"),
    ]
    assert len(failed) == len(set(failed))
    with connect(database_url) as conn:
        expected = monitor_document(conn)
    assert expected["persistence_analysis"]["failed"]["severity"] == "SEVERE"
    served = _get_monitor_over_http(txmon_env)
    assert served["persistence_analysis"]["failed"]["severity"] == "SEVERE"
    assert served["current_minute"] == expected["current_minute"]


def _get_monitor_over_http(env: dict[str, str]) -> dict:
    """GET /monitor from a real `txmon serve` process on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start(env, "serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/monitor", timeout=5) as reply:
                    return json.loads(reply.read())
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


def _has_log(url: str) -> bool:
    return rows(url, "select to_regclass('monitoring.alert_log') is not null")[0][0]


def small_database(url: str, folder: Path) -> None:
    data = folder / "small.csv"
    generate.write_counts_csv(data, generate.GeneratorConfig(days=0.1, seed=2, incidents=()))
    from txmon.ingest.loading import load_file

    with connect(url) as conn:
        load_file(conn, data)


@pytest.mark.slow
def test_second_scheduler_refuses_to_overlap(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    small_database(database_url, tmp_path)
    config = write_settings(tmp_path, tmp_path / "alerts.jsonl")
    first = start(txmon_env, "run", "--every", "1s", "--config", str(config))
    try:
        time.sleep(3)
        second = subprocess.run(
            [TXMON, "run", "--every", "1s", "--config", str(config), "--max-cycles", "1"],
            env=txmon_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert "another txmon scheduler is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 0


@pytest.mark.slow
def test_failing_build_is_logged_retried_and_alerted(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    small_database(database_url, tmp_path)
    project = tmp_path / "project"
    shutil.copytree(
        REPO_ROOT,
        project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".txmon", "target", "logs", "__pycache__", "tests"
        ),
    )
    (project / "tests" / "data").mkdir(parents=True)
    # Tagged cycle: every cycle runs it, not only the first and the full-test ones.
    (project / "tests" / "data" / "assert_always_fails.sql").write_text(
        "{{ config(tags=['cycle']) }}\nselect 1 as broken_invariant\n"
    )
    sink = tmp_path / "alerts.jsonl"
    config = write_settings(tmp_path, sink, "[scheduler]\nalert_after_failed_cycles = 2\n")
    env = {**txmon_env, "TXMON_PROJECT_DIR": str(project)}
    result = subprocess.run(
        [TXMON, "run", "--every", "1s", "--config", str(config), "--max-cycles", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 3
    assert "assert_always_fails" in failed[0]
    alerts = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [(a["metric_name"], a["event_type"]) for a in alerts] == [("pipeline", "BUILD_FAILED")]
    assert rows(database_url, "select count(*), bool_or(succeeded) from monitoring.build_runs") == [
        (3, False)
    ]


@pytest.mark.slow
def test_scheduler_survives_the_database_going_away(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "home")
    status = server.start()
    assert status.url
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": status.url,
        "TXMON_HOME": str(tmp_path / "home"),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
    }
    try:
        small_database(status.url, tmp_path)
        # Alert on the first failure: while the database is away the alert cannot be written,
        # and it must go out once the database is back.
        config = write_settings(
            tmp_path, tmp_path / "alerts.jsonl", "[scheduler]\nalert_after_failed_cycles = 1\n"
        )
        scheduler = start(env, "run", "--every", "1s", "--config", str(config))
        try:
            _wait_for_builds(status.url, succeeded=1)
            server.stop()
            time.sleep(4)
            server.start()
            _wait_for_builds(status.url, succeeded=2, after_failure=True)
        finally:
            scheduler.send_signal(signal.SIGTERM)
            stdout, stderr = scheduler.communicate(timeout=120)
        assert scheduler.returncode == 0, stderr
        assert "FAILED" in stdout, stdout
        sent = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert ("pipeline", "BUILD_FAILED") in [(a["metric_name"], a["event_type"]) for a in sent]
    finally:
        server.stop()


def _wait_for_builds(url: str, succeeded: int, after_failure: bool = False) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            [(count,)] = rows(
                url,
                "select count(*) from monitoring.build_runs where succeeded",
            )
            if count >= succeeded:
                return
        except Exception:  # the database may be starting or the table not created yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"fewer than {succeeded} successful builds within two minutes")


@pytest.mark.slow
def test_scheduler_applies_retention(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    from helpers import load_config

    load_config(database_url, tmp_path, generate.GeneratorConfig(days=4.0, seed=3, incidents=()))
    sink = tmp_path / "alerts.jsonl"
    config = write_settings(tmp_path, sink, "[retention]\nkeep_days = 1\n")
    days_before = rows(
        database_url,
        "select count(distinct date_trunc('day', observed_at)) from txmon_raw.transaction_counts",
    )[0][0]
    result = subprocess.run(
        [TXMON, "run", "--every", "1s", "--max-cycles", "1", "--config", str(config)],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "retention: dropped" in result.stdout
    days_after = rows(
        database_url,
        "select count(distinct date_trunc('day', observed_at)) from txmon_raw.transaction_counts",
    )[0][0]
    # One day kept back from the newest minute plus a day of warm-up margin: whole days only.
    assert days_before == 4 and days_after < days_before
    assert rows(database_url, "select count(*) from monitoring.current_status")[0][0] == 5
