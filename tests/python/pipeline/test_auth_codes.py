"""Auth codes end to end: a per-minute counts file by auth code (the shape of the public
`transactions_auth_codes.csv`) loads through `txmon load`, every code gets its share of the
minute's transactions, and a rise in the share of 59 (suspected fraud) pages on that code."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import TXMON, build, rows, shared_database
from txmon.core.facts import PUBLIC_SCHEMA

START = datetime(2025, 7, 12, tzinfo=UTC)
HOURS = 10
# For the last 45 minutes about one transaction in ten is declined for suspected fraud, against
# about one in a hundred before.
FRAUD_FROM = START + timedelta(hours=HOURS) - timedelta(minutes=45)


def write_auth_code_counts(path: Path) -> None:
    rng = random.Random(59)
    lines = ["timestamp,auth_code,count"]
    for minute_number in range(HOURS * 60):
        minute = START + timedelta(minutes=minute_number)
        fraud = minute >= FRAUD_FROM
        counts = {
            "00": rng.randint(100, 125),
            "51": rng.randint(2, 6),
            "59": rng.randint(9, 14) if fraud else rng.randint(0, 2),
        }
        lines += [f"{minute:%Y-%m-%d %H:%M:%S},{code},{count}" for code, count in counts.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def loaded(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The database with the file loaded by the command line and built, and what `txmon load`
    printed."""
    folder = tmp_path_factory.mktemp("auth-codes")
    with shared_database(server_url, folder) as url:
        data = folder / "transactions_auth_codes.csv"
        write_auth_code_counts(data)
        env = {**os.environ, "TXMON_DATABASE_URL": url}
        env.pop("TXMON_DATABASE", None)
        done = subprocess.run(
            [TXMON, "load", str(data)], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        build(url)
        yield url, done.stdout + done.stderr


def test_the_file_loads_whole(loaded: tuple[str, str]) -> None:
    url, printed = loaded
    assert f"{HOURS * 60 * 3:,} rows loaded, 0 rejected" in printed
    by_code = rows(
        url,
        f"select dimension_value, count(*) from {PUBLIC_SCHEMA}.metric_minutes"
        " where metric_name = 'share' and dimension = 'auth_code' group by 1 order by 1",
    )
    assert by_code == [("00", HOURS * 60), ("51", HOURS * 60), ("59", HOURS * 60)]


def test_the_shares_of_a_minute_add_up_to_one(loaded: tuple[str, str]) -> None:
    url, _ = loaded
    sums = rows(
        url,
        f"select min(total), max(total) from (select minute_at, sum(value) as total"
        f" from {PUBLIC_SCHEMA}.metric_minutes where metric_name = 'share'"
        " and dimension = 'auth_code' group by minute_at) as minutes",
    )
    assert sums[0][0] == pytest.approx(1.0) and sums[0][1] == pytest.approx(1.0)


def test_a_rise_of_suspected_fraud_pages_on_its_code(loaded: tuple[str, str]) -> None:
    url, _ = loaded
    episodes = rows(
        url,
        f"select dimension_value, peak_severity, started_at from {PUBLIC_SCHEMA}.anomaly_episodes"
        " where metric_name = 'share' and dimension = 'auth_code'",
    )
    fraud = [episode for episode in episodes if episode[0] == "59"]
    assert fraud, "no episode on the share of code 59"
    assert fraud[-1][1] in ("WARNING", "CRITICAL", "SEVERE")
    assert fraud[-1][2] >= FRAUD_FROM - timedelta(minutes=5)
    alerts = rows(
        url,
        f"select episode_id, message from {PUBLIC_SCHEMA}.alert_events"
        " where dimension = 'auth_code' and event_type = 'ALERT'",
    )
    assert [episode_id.split("@")[0] for episode_id, _ in alerts] == ["share[auth_code=59]"]
    assert alerts[0][1].startswith("SHARE [auth_code=59]")
