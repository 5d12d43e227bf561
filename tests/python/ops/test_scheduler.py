"""Running live: the scheduler (`txmon run`) as a real process against a real server, fed by
the replay, refusing a second scheduler, alerting on failed builds, outliving its database
and applying retention."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REPO_ROOT
from helpers import TXMON, listed_metrics, load_config, rows
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.db.connection import connect
from txmon.db.embedded import EmbeddedServer
from txmon.lab import generate, generated_files
from txmon.ops.scheduler import parse_interval
from txmon.pipeline.views import monitor_document

# How long a live step may take before the test gives up waiting (a timeout, not a limit
# the scheduler is held to: speed is `txmon bench`'s business).
PATIENCE_SECONDS = 120
STARTED = "txmon scheduler: every"
RAW_DAYS = (
    f"select count(distinct date_trunc('day', observed_at)) from {RAW_SCHEMA}.transaction_counts"
)


def test_parse_interval() -> None:
    assert parse_interval("60s") == 60
    assert parse_interval("5m") == 300
    assert parse_interval("1h") == 3600
    assert parse_interval("2.5") == 2.5
    for bad in ("", "0s", "-5m", "ten", "5d"):
        with pytest.raises(TxmonError):
            parse_interval(bad)


class SchedulerProcess:
    """`txmon run` in the background; its output is read line by line as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [TXMON, "run", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.changed = threading.Condition()
        # Both pipes are drained as they fill, so a chatty process never blocks on them.
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.error_reader = threading.Thread(
            target=lambda: self.errors.extend(self.process.stderr or ()), daemon=True
        )
        self.error_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, text: str, after: int = 0) -> int:
        """Wait for a line (from line `after` on) that contains `text`; returns its index."""
        deadline = time.monotonic() + PATIENCE_SECONDS
        with self.changed:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                if self.process.poll() is not None and not self.reader.is_alive():
                    raise AssertionError(f"txmon run exited before {text!r}: {self.lines}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} from txmon run: {self.lines}")
                self.changed.wait(min(left, 1.0))

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal it, wait for it to finish; returns its exit status, stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=PATIENCE_SECONDS)
        self.reader.join(timeout=PATIENCE_SECONDS)
        self.error_reader.join(timeout=PATIENCE_SECONDS)
        return self.process.returncode, "\n".join(self.lines), "".join(self.errors)


@pytest.fixture()
def start_scheduler() -> Iterator[Callable[..., SchedulerProcess]]:
    """Start `txmon run` processes; any still running at the end is stopped."""
    started: list[SchedulerProcess] = []

    def start(env: dict[str, str], *args: str) -> SchedulerProcess:
        started.append(SchedulerProcess(env, *args))
        return started[-1]

    yield start
    for scheduler in started:
        if scheduler.process.poll() is None:
            scheduler.stop(signal.SIGKILL)


def write_settings(folder: Path, sink: Path, extra: str = "") -> Path:
    path = folder / "txmon.toml"
    path.write_text(
        f'[rules]\nstale_after_minutes = 0\n{extra}[[channels]]\ntype = "jsonl"\npath = "{sink}"\n'
    )
    return path


@pytest.fixture()
def sink(tmp_path: Path) -> Path:
    """The jsonl channel's file: what the scheduler sent."""
    return tmp_path / "alerts.jsonl"


def sent(sink: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.read_text().splitlines()]


@pytest.fixture()
def small_database(database_url: str, tmp_path: Path) -> str:
    """A few hours of quiet traffic, loaded (not built)."""
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.1, seed=2, incidents=()))
    return database_url


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {PATIENCE_SECONDS} s")
        time.sleep(0.5)


def count_or_zero(url: str, statement: str) -> int:
    """A count, or 0 while the server is away or the table not created yet."""
    try:
        return int(rows(url, statement)[0][0])
    except Exception:
        return 0


@pytest.mark.slow
def test_live_replay_escalates_once_each_and_stops_cleanly(
    txmon_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
    sink: Path,
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    start_at = datetime(2025, 7, 12)
    minutes = 200
    burst = generate.Incident("failed_burst", start_at + timedelta(minutes=minutes - 66), 66, 0.3)
    data = tmp_path / "live.csv"
    generated_files.write_counts_csv(
        data, generate.GeneratorConfig(days=minutes / 1440, seed=8, incidents=(burst,))
    )
    config = write_settings(tmp_path, sink)
    scheduler = start_scheduler(txmon_env, "--every", "1s", "--config", str(config))
    replay = subprocess.run(
        [TXMON, "replay", str(data), "--speed", "900"],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert replay.returncode == 0, replay.stderr
    assert f"{minutes} minutes" in replay.stdout
    wait_until(
        lambda: (
            count_or_zero(
                database_url,
                f"select count(*) from {PUBLIC_SCHEMA}.alert_log where severity = 'SEVERE'",
            )
            > 0
        ),
        "a SEVERE page",
    )
    scheduler.wait_for("cycle 2:")  # at least one cycle after the first, whichever found it
    status, stdout, stderr = scheduler.stop()
    assert status == 0, stderr
    assert "stopping after the current cycle" in stdout
    cycles = [line for line in stdout.splitlines() if " cycle " in line]
    assert len(cycles) >= 2 and all("data lag" in line for line in cycles)
    # One incident (the burst lifts the failed rate and drops the approval rate): paged once
    # per tier, whichever member reached it first.
    incident = sent(sink)[0]["episode_id"]
    failed = [
        (line["event_type"], line["severity"])
        for line in sent(sink)
        if line["episode_id"] == incident
    ]
    assert incident.startswith("incident@")
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


def _get_monitor_over_http(env: dict[str, str]) -> dict[str, Any]:
    """GET /monitor from a real `txmon serve` process on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [TXMON, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/monitor", timeout=5).json()
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


@pytest.mark.slow
def test_second_scheduler_refuses_to_overlap(
    txmon_env: dict[str, str],
    small_database: str,
    tmp_path: Path,
    sink: Path,
    start_scheduler: Callable[..., SchedulerProcess],
) -> None:
    config = write_settings(tmp_path, sink)
    first = start_scheduler(txmon_env, "--every", "1s", "--config", str(config))
    first.wait_for(STARTED)  # it holds the lock from here on
    second = subprocess.run(
        [TXMON, "run", "--every", "1s", "--config", str(config), "--max-cycles", "1"],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "another txmon scheduler is already running" in second.stderr
    status, _, stderr = first.stop(signal.SIGINT)
    assert status == 0, stderr


@pytest.mark.slow
def test_failing_build_is_logged_retried_and_alerted(
    txmon_env: dict[str, str], small_database: str, tmp_path: Path, sink: Path
) -> None:
    project = tmp_path / "project"
    ignored = (".git", ".venv", ".txmon", "target", "logs", "__pycache__", "tests")
    shutil.copytree(REPO_ROOT, project, ignore=shutil.ignore_patterns(*ignored))
    (project / "tests" / "data").mkdir(parents=True)
    # Tagged cycle: every cycle runs it, not only the first and the full-test ones.
    (project / "tests" / "data" / "assert_always_fails.sql").write_text(
        "{{ config(tags=['cycle']) }}\nselect 1 as broken_invariant\n"
    )
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
    assert [(a["metric_name"], a["event_type"]) for a in sent(sink)] == [
        ("pipeline", "BUILD_FAILED")
    ]
    recorded = rows(
        small_database, f"select count(*), bool_or(succeeded) from {PUBLIC_SCHEMA}.build_runs"
    )
    assert recorded == [(3, False)]


@pytest.mark.slow
def test_scheduler_survives_the_database_going_away(
    tmp_path: Path, sink: Path, start_scheduler: Callable[..., SchedulerProcess]
) -> None:
    server = EmbeddedServer(tmp_path / "home")
    status = server.start()
    assert status.url
    url = status.url
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": url,
        "TXMON_HOME": str(tmp_path / "home"),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
    }
    successful_builds = f"select count(*) from {PUBLIC_SCHEMA}.build_runs where succeeded"
    try:
        load_config(url, tmp_path, generate.GeneratorConfig(days=0.1, seed=2, incidents=()))
        # Alert on the first failure: while the database is away the alert cannot be written,
        # and it must go out once the database is back.
        config = write_settings(tmp_path, sink, "[scheduler]\nalert_after_failed_cycles = 1\n")
        scheduler = start_scheduler(env, "--every", "1s", "--config", str(config))
        wait_until(lambda: count_or_zero(url, successful_builds) >= 1, "one successful build")
        seen = len(scheduler.lines)
        server.stop()
        scheduler.wait_for("FAILED", after=seen)  # a cycle ran while the database was away
        server.start()
        wait_until(lambda: count_or_zero(url, successful_builds) >= 2, "built again")
        exit_status, stdout, stderr = scheduler.stop()
        assert exit_status == 0, stderr
        assert "FAILED" in stdout, stdout
        alerts = [(a["metric_name"], a["event_type"]) for a in sent(sink)]
        assert ("pipeline", "BUILD_FAILED") in alerts
    finally:
        server.stop()


@pytest.mark.slow
def test_scheduler_applies_retention(
    txmon_env: dict[str, str], database_url: str, tmp_path: Path, sink: Path
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=4.0, seed=3, incidents=()))
    config = write_settings(tmp_path, sink, "[retention]\nkeep_days = 1\n")
    days_before = rows(database_url, RAW_DAYS)[0][0]
    result = subprocess.run(
        [TXMON, "run", "--every", "1s", "--max-cycles", "1", "--config", str(config)],
        env=txmon_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "retention: dropped" in result.stdout
    days_after = rows(database_url, RAW_DAYS)[0][0]
    # One day kept back from the newest minute plus a day of warm-up margin: whole days only.
    assert days_before == 4 and days_after < days_before
    current = rows(database_url, f"select count(*) from {PUBLIC_SCHEMA}.current_status")
    assert current[0][0] == len(listed_metrics())
