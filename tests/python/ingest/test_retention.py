"""`txmon prune`: whole day partitions go, never what an open episode or the warm-up needs."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from helpers import TXMON, build, rows
from txmon.core.errors import TxmonError
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.ingest.retention import WARMUP_MARGIN, parse_duration, prune
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline

START = datetime(2025, 7, 12)
# The data end at 00:40 on 15 July, inside a failure burst that began at 23:51 the day before.
END = datetime(2025, 7, 15, 0, 40)
BURST_MINUTES = 50


def day_partitions(url: str) -> dict[str, list[date]]:
    found = rows(
        url,
        "select parent.relname, child.relname from pg_inherits i"
        " join pg_class parent on parent.oid = i.inhparent"
        " join pg_class child on child.oid = i.inhrelid"
        " where parent.relnamespace = 'txmon_raw'::regnamespace and child.relname ~ '_p[0-9]{8}$'"
        " order by 1, 2",
    )
    days: dict[str, list[date]] = {}
    for parent, child in found:
        days.setdefault(parent, []).append(datetime.strptime(child[-8:], "%Y%m%d").date())
    return days


def load_scenario(url: str, folder: Path) -> None:
    """Day one as a file of its own (with one bad line), the rest as a second file."""
    first = folder / "first-day.csv"
    generated_files.write_counts_csv(
        first, generate.GeneratorConfig(days=1, start=START, incidents=())
    )
    with first.open("a") as handle:
        handle.write("2025-07-12 10:00,approved,not-a-number\n")
    rest_start = START + timedelta(days=1)
    minutes = int((END - rest_start).total_seconds() // 60) + 1
    burst = generate.Incident(
        kind="failed_burst",
        started_at=END - timedelta(minutes=BURST_MINUTES - 1),
        minutes=BURST_MINUTES,
        magnitude=0.12,
    )
    rest = folder / "rest.csv"
    generated_files.write_counts_csv(
        rest,
        generate.GeneratorConfig(days=minutes / 1440, start=rest_start, seed=7, incidents=(burst,)),
    )
    with connect(url) as conn:
        assert load_file(conn, first).rows_rejected == 1
        assert load_file(conn, rest).rows_rejected == 0


@pytest.mark.slow
def test_prune_keeps_what_an_open_episode_needs_and_drops_whole_old_days(
    database_url: str, tmp_path: Path
) -> None:
    load_scenario(database_url, tmp_path)
    all_days = [date(2025, 7, day) for day in (12, 13, 14, 15)]
    keep = timedelta(minutes=30)

    # Before any build there is no episode to protect: 30 minutes back from the newest minute
    # and a day of warm-up reach into 14 July, so 12 and 13 July would go.
    with connect(database_url) as conn:
        plain = prune(conn, keep, dry_run=True)
    assert plain.days == [date(2025, 7, 12), date(2025, 7, 13)]
    assert plain.newest_at == datetime(2025, 7, 15, 0, 40, tzinfo=UTC)
    assert plain.cutoff == plain.newest_at - keep - WARMUP_MARGIN

    build(database_url)
    open_episodes = rows(
        database_url,
        "select episode_id, started_at from monitoring.anomaly_episodes where is_ongoing"
        " order by started_at, episode_id",
    )
    episode = open_episodes[0]  # the oldest (the burst shows in the failed and approval rates)
    assert datetime(2025, 7, 14, 23, 51, tzinfo=UTC) <= episode[1] < plain.newest_at - keep

    # The open episode began before the 30 minutes: its start, less a day of warm-up, is on
    # 13 July, so only 12 July may go.
    with connect(database_url) as conn:
        dry = prune(conn, keep, dry_run=True)
    assert dry.days == [date(2025, 7, 12)]
    assert dry.oldest_open_episode_at == episode[1]
    assert dry.cutoff == episode[1] - WARMUP_MARGIN
    assert (
        dry.rows("transaction_counts")
        == rows(
            database_url,
            "select count(*) from txmon_raw.transaction_counts where observed_at < '2025-07-13'",
        )[0][0]
    )
    assert (dry.loads_deleted, dry.rejects_deleted) == (1, 1)
    assert "would drop 1 day(s) (2025-07-12)" in dry.text
    # A dry run drops nothing.
    assert day_partitions(database_url) == {"transaction_counts": all_days}
    assert rows(database_url, "select count(*) from txmon_raw.loads") == [(2,)]

    with connect(database_url) as conn:
        done = prune(conn, keep)
    assert done.days == [date(2025, 7, 12)] and not done.dry_run
    assert done.text.startswith("dropped 1 day(s) (2025-07-12): ")
    assert day_partitions(database_url) == {"transaction_counts": all_days[1:]}
    first_kept = rows(database_url, "select min(observed_at) from txmon_raw.transaction_counts")
    assert first_kept == [(datetime(2025, 7, 13, tzinfo=UTC),)], "13 July is kept whole"
    assert rows(database_url, "select load_id from txmon_raw.loads") == [(2,)]
    assert rows(database_url, "select count(*) from txmon_raw.load_rejects") == [(0,)]

    # A full rebuild on what is left finds the same open episode.
    pipeline.build(["--full-refresh"], url=database_url, quiet=True)
    assert (
        rows(
            database_url,
            "select episode_id, started_at from monitoring.anomaly_episodes where is_ongoing"
            " order by started_at, episode_id",
        )
        == open_episodes
    )

    # Again: nothing more is due.
    with connect(database_url) as conn:
        again = prune(conn, keep)
    assert again.dropped == () and again.text.startswith("nothing to prune: no whole day")


def test_prune_moves_rows_of_other_writers_first_and_counts_from_the_newest_minute(
    database_url: str,
) -> None:
    with connect(database_url) as conn:
        assert (
            prune(conn, timedelta(days=1)).text == "nothing to prune: the raw tables hold no data"
        )
    # Another program writes rows of old days: they sit in the default partitions until txmon
    # gives them a day partition, which prune does before it decides.
    with psycopg.connect(database_url) as writer:
        writer.execute(
            "insert into txmon_raw.transaction_counts (observed_at, status, transaction_count)"
            " select timestamptz '2020-03-01 00:00+00' + n * interval '1 hour', 'approved', 1"
            " from generate_series(0, 24 * 10 - 1) n"
        )
        writer.execute(
            "insert into txmon_raw.transactions (transaction_id, created_at, status, amount)"
            " values ('t-1', '2020-03-02 05:00+00', 'approved', 1),"
            " ('t-2', '2020-03-10 23:59+00', 'denied', 1)"
        )
    with connect(database_url) as conn:
        report = prune(conn, parse_duration("5d"))
    # Newest minute 10 March 23:00 (not the clock, years later): 5 days and a day of warm-up
    # keep 4 March 23:59 onwards, so 1 to 3 March go whole.
    assert report.newest_at == datetime(2020, 3, 10, 23, 59, tzinfo=UTC)
    assert report.days == [date(2020, 3, 1), date(2020, 3, 2), date(2020, 3, 3)]
    assert (report.rows("transaction_counts"), report.rows("transactions")) == (72, 1)
    assert rows(database_url, "select transaction_id from txmon_raw.transactions") == [("t-2",)]
    assert rows(
        database_url,
        "select min(observed_at), count(*) from txmon_raw.transaction_counts",
    ) == [(datetime(2020, 3, 4, tzinfo=UTC), 24 * 7)]
    assert rows(database_url, "select count(*) from txmon_raw.transaction_counts_default") == [(0,)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        (" 30m ", timedelta(minutes=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "90", "5y", "-1d", "1.5d", "d", "999999w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(TxmonError):
        parse_duration(text)


def txmon(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TXMON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_prune_command(txmon_env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "days.csv"
    generated_files.write_counts_csv(
        data, generate.GeneratorConfig(days=4, start=START, incidents=())
    )
    assert txmon(txmon_env, "load", str(data), cwd=tmp_path).returncode == 0

    dry = txmon(txmon_env, "prune", "--keep", "12h", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would drop 2 day(s) (2025-07-12 to 2025-07-13): ")
    assert len(dry.stdout.strip().splitlines()) == 1
    assert len(day_partitions(database_url)["transaction_counts"]) == 4

    bad = txmon(txmon_env, "prune", "--keep", "90 days", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "txmon: error: expected a duration such as 90d, 12h or 2w, got '90 days'"
    ]
    unset = txmon(txmon_env, "prune", cwd=tmp_path)
    assert unset.returncode == 1 and "[retention] keep_days" in unset.stderr

    # Without --keep the settings file decides.
    (tmp_path / "txmon.toml").write_text("[retention]\nkeep_days = 1\n")
    done = txmon(txmon_env, "prune", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dropped 1 day(s) (2025-07-12): ")
    assert day_partitions(database_url)["transaction_counts"] == [
        date(2025, 7, day) for day in (13, 14, 15)
    ]
    (tmp_path / "txmon.toml").write_text("[retention]\nkeep_days = -1\n")
    negative = txmon(txmon_env, "prune", cwd=tmp_path)
    assert negative.returncode == 1 and "keep_days" in negative.stderr
