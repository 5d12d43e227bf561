"""The sustained-ingest load test: a real `txmon serve` and `txmon run` on a scratch database,
clients posting at a steady rate, and every acknowledged row in the raw table exactly once.

These check behaviour (no errors, no lost or doubled row, the scheduler building meanwhile),
never speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import rows
from txmon.core.errors import TxmonError
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.lab.ingest_load import check_rows, percentile, sustained_ingest


def scratch_databases(server_url: str) -> set[str]:
    found = rows(
        server_url,
        "select datname from pg_database where datname like %s",
        ("txmon_ingest_load_%",),
    )
    return {name for (name,) in found}


@pytest.mark.slow
def test_sustained_ingest_stores_every_accepted_row_once(server_url: str) -> None:
    before = scratch_databases(server_url)
    lines: list[str] = []
    result = sustained_ingest(
        server_url, lines.append, seconds=15, clients=2, rate_per_second=8, batch_size=20
    )
    report = "\n".join(lines)
    assert result.errors == 0, report
    assert result.requests > 0 and result.rows_accepted == 20 * result.requests, report
    assert result.rows_stored == result.rows_accepted, report
    assert (result.missing, result.duplicated, result.unacknowledged) == (0, 0, 0), report
    assert result.exactly_once
    # The scheduler built while the clients posted, and none of its builds failed.
    assert result.scheduler_cycles >= 1, report
    assert result.scheduler_failed_cycles == 0, report
    assert 0 < result.p50_ms <= result.p99_ms, report
    # One line per figure, then nothing left behind: the scratch database is gone.
    for start in (
        "requests per second: ",
        "latency p50: ",
        "latency p99: ",
        "errors: 0",
        "rows accepted: ",
        "rows stored: ",
        "rows missing: 0",
        "rows duplicated: 0",
        "rows stored without an acknowledgement: 0",
        "scheduler cycles during the run: ",
    ):
        assert sum(line.startswith(start) for line in lines) == 1, (start, report)
    assert scratch_databases(server_url) == before


def test_row_check_finds_missing_doubled_and_unacknowledged_rows(
    database_url: str, tmp_path: Path
) -> None:
    """The exactly-once check can fail: a row lost, a row stored twice, a row nobody sent."""
    data = tmp_path / "events.csv"
    data.write_text(
        "transaction_id,created_at,status,amount\n"
        "a,2025-07-12 10:00:01,approved,10.00\n"
        "b,2025-07-12 10:00:02,denied,5.00\n"
        "c,2025-07-12 10:00:03,approved,7.50\n"
    )
    with connect(database_url) as conn:
        assert load_file(conn, data).rows_rejected == 0
    assert check_rows(database_url, {"a", "b", "c"}).__dict__ == {
        "stored": 3,
        "missing": 0,
        "duplicated": 0,
        "unacknowledged": 0,
    }
    # A second row for b written behind the loader's back (the key is id and time, so only
    # another time can double it), c never acknowledged, d acknowledged and lost.
    with connect(database_url) as conn:
        conn.execute(
            "insert into txmon_raw.transactions (transaction_id, created_at, status, amount)"
            " values ('b', '2025-07-12 10:00:09+00', 'denied', 5.00)"
        )
    check = check_rows(database_url, {"a", "b", "d"})
    assert (check.stored, check.missing, check.duplicated, check.unacknowledged) == (4, 1, 1, 1)


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 0.99) == 3.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize(
    "arguments",
    [
        {"seconds": 0},
        {"seconds": -5},
        {"clients": 0},
        {"clients": 1000},
        {"rate_per_second": 0},
        {"batch_size": 0},
        {"batch_size": 20_000},
        {"scheduler_every": 0},
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    server_url: str, arguments: dict[str, float]
) -> None:
    before = scratch_databases(server_url)
    lines: list[str] = []
    with pytest.raises(TxmonError, match="sustained ingest takes"):
        sustained_ingest(server_url, lines.append, **arguments)
    assert lines == []
    assert scratch_databases(server_url) == before
