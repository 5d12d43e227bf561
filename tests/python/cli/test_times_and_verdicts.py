"""Times read against the data, and verdicts as exit statuses, on built databases: silences
and `--since` take `HH:MM` and minutes without seconds, a silence starts at the latest minute
in the data (not the clock), and `status` and `monitor` exit 0, 1 or 2 like a monitoring
plugin."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from alerting_helpers import START
from helpers import TXMON, build, listed_metrics, load_config, rows
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.lab import generate

pytest_plugins = ["alerting_fixtures"]

# The burst database (alerting_fixtures): 2025-07-12, a failure burst from 10:00 to 11:10,
# healthy again by the end of the day, whose latest minute is 23:59.


def txmon(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TXMON_DATABASE_URL": url}
    env.pop("TXMON_DATABASE", None)
    return subprocess.run(
        [TXMON, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def silence_add(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return txmon(url, "silence", "add", *args)


def test_silences_are_read_against_the_latest_data(alert_url: str) -> None:
    readme = silence_add(
        alert_url, "failed_*", "--until", "2025-07-13 06:00", "--reason", "acquirer maintenance"
    )
    assert readme.returncode == 0, readme.stderr
    assert readme.stdout == (
        "silence 1 added: failed_* from 2025-07-12 23:59 to 2025-07-13 06:00 UTC\n"
    )
    overnight = silence_add(
        alert_url, "volume", "--from", "22:00", "--until", "06:00", "--reason", "night batch"
    )
    assert overnight.returncode == 0, overnight.stderr
    assert "from 2025-07-12 22:00 to 2025-07-13 06:00 UTC" in overnight.stdout
    next_morning = silence_add(alert_url, "*", "--until", "06:00", "--reason", "r")
    assert "from 2025-07-12 23:59 to 2025-07-13 06:00 UTC" in next_morning.stdout
    offset = silence_add(alert_url, "*", "--until", "2025-07-13T06:00-03:00", "--reason", "r")
    assert "to 2025-07-13 09:00 UTC" in offset.stdout
    stored = rows(
        alert_url,
        f"select metric_pattern, starts_at, ends_at from {PUBLIC_SCHEMA}.alert_silences"
        " order by silence_id",
    )
    latest = rows(alert_url, f"select max(minute_at) from {PUBLIC_SCHEMA}.metric_minutes")[0][0]
    assert stored[0][1] == latest  # the data's minute, though the clock is far past it
    assert stored[1][2] - stored[1][1] == timedelta(hours=8)

    refused = silence_add(alert_url, "failed_*", "--until", "2025-07-12 06:00", "--reason", "r")
    assert refused.returncode == 1
    assert refused.stderr == (
        "txmon: error: a silence must end after it starts: --until 2025-07-12 06:00 is not "
        "after 2025-07-12 23:59 UTC (the latest minute in the data)\n"
    )
    assert len(rows(alert_url, f"select * from {PUBLIC_SCHEMA}.alert_silences")) == 4


def test_since_takes_a_time_of_day_of_the_latest_data(alert_url: str, tmp_path: Path) -> None:
    with_date = txmon(alert_url, "episodes", "--since", "2025-07-12 10:30")
    assert with_date.returncode == 0, with_date.stderr
    assert "failed_rate" in with_date.stdout
    assert txmon(alert_url, "episodes", "--since", "10:30").stdout == with_date.stdout
    assert txmon(alert_url, "episodes", "--since", "23:00").stdout.startswith("No episodes")
    unknown = txmon(alert_url, "episodes", "--metric", "failed")
    assert unknown.returncode == 1
    # The metrics the build judges: counts have no durations and no dimension's shares.
    known = ", ".join(sorted(listed_metrics()))
    assert unknown.stderr == f"txmon: error: unknown metric 'failed'; known: {known}\n"

    settings = tmp_path / "txmon.toml"
    settings.write_text("[rules]\nstale_after_minutes = 0\nmax_event_age_minutes = 10000000\n")
    assert txmon(alert_url, "dispatch", "--config", str(settings)).returncode == 0
    late = txmon(alert_url, "alerts", "--since", "11:00", "--limit", "1000")
    everything = txmon(alert_url, "alerts", "--limit", "1000")
    assert late.returncode == 0, late.stderr
    late_minutes = [line[:16] for line in late.stdout.splitlines()[2:]]
    assert late_minutes and all(minute >= "2025-07-12 11:00" for minute in late_minutes)
    assert len(late_minutes) < len(everything.stdout.splitlines()) - 2


def test_a_healthy_status_exits_0(burst_url: str) -> None:
    status = txmon(burst_url, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "overall: HEALTHY" in status.stdout
    assert txmon(burst_url, "monitor", "--json").returncode == 0


@pytest.mark.slow
def test_warning_exits_1_for_status_and_monitor(database_url: str, tmp_path: Path) -> None:
    """Half a day that ends 40 minutes into a failure burst: WARNING (30 to 44 minutes)."""
    config = generate.GeneratorConfig(
        days=0.5,
        seed=21,
        start=START,
        incidents=(generate.Incident("failed_burst", START + timedelta(minutes=680), 40, 0.2),),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TXMON_HOME", str(tmp_path / "home"))
        load_config(database_url, tmp_path, config)
        build(database_url)
    status = txmon(database_url, "status")
    assert "overall: WARNING" in status.stdout, status.stdout + status.stderr
    assert status.returncode == 1
    assert txmon(database_url, "monitor").returncode == 1
    document = txmon(database_url, "monitor", "--json")
    assert document.returncode == 1
    assert json.loads(document.stdout)["overall_severity"] == "WARNING"
    for command in ("status", "monitor"):
        helped = txmon(database_url, command, "--help")
        assert helped.returncode == 0
        assert "0 HEALTHY, 1 INFO or WARNING, 2 CRITICAL or SEVERE" in " ".join(
            helped.stdout.split()
        )
