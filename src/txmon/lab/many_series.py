"""The many-series case of `txmon bench`: raw transactions with four dimensions and about 250
values in all, built from scratch and then cycled minute by minute, to say how many series one
PostgreSQL server keeps up with.

The transactions are written by SQL straight into the raw table (a writer txmon supports), so
the figures are the monitor's, not a CSV reader's. The dbt project is a copy of the one in use
whose monitored_dimensions seed caps each dimension above its number of values and whose
metric_definitions seed lists the six metrics the data have, as a user monitoring that many
would edit them: about 1,500 series.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from txmon.alerting.channels.config import build_channels
from txmon.core.config import Settings
from txmon.core.facts import DIMENSIONS_SEED, PUBLIC_SCHEMA, RAW_SCHEMA
from txmon.core.paths import dbt_project_dir
from txmon.db.connection import connect, scratch_database
from txmon.ingest.raw_tables import ensure_raw_tables
from txmon.lab.speed import build_and_dispatch, build_from_scratch, quiet_settings, timed
from txmon.pipeline import dbt as pipeline
from txmon.pipeline.views import METRIC_SEED

# Values per dimension: about 250 in all.
VALUES = {"acquirer": 100, "card_type": 30, "channel": 20, "product": 100}
METRIC_KINDS = "rate|volume"
# The statuses written, in the case expression below: four rates and two volumes a series.
STATUSES = ("approved", "denied", "reversed", "failed")
TRANSACTIONS_PER_MINUTE = 120
START = datetime(2025, 7, 1, tzinfo=UTC)
# A cycle must end well within the minute it serves.
CYCLE_BUDGET_SECONDS = 60.0

# One minute's transactions: STATUSES in the usual mix, each dimension's values skewed so that
# a few carry most of the traffic (the square of a uniform draw), as real acquirers do.
_INSERT_MINUTES = f"""
insert into {RAW_SCHEMA}.transactions
    (transaction_id, created_at, status, amount, acquirer, card_type, channel, product)
select
    'bench-' || minute_number || '-' || k,
    %(start)s + make_interval(mins => minute_number, secs => k %% 60),
    case
        when draw < 0.925 then 'approved'
        when draw < 0.981 then 'denied'
        when draw < 0.997 then 'reversed'
        else 'failed'
    end,
    10,
    'acquirer-' || floor(%(acquirers)s * power(random(), 2))::int,
    'card-' || floor(%(cards)s * power(random(), 2))::int,
    'channel-' || floor(%(channels)s * power(random(), 2))::int,
    'product-' || floor(%(products)s * power(random(), 2))::int
from generate_series(%(first)s::int, %(last)s::int) as minute_number
cross join generate_series(1, %(per_minute)s::int) as k
cross join lateral (select random() + 0 * k as draw) as status_draw
"""


@dataclass(frozen=True)
class ManySeriesResult:
    days: float
    series: int
    load_seconds: float
    full_build_seconds: float
    cycle_seconds: float

    @property
    def seconds_per_series(self) -> float:
        return self.cycle_seconds / self.series

    @property
    def series_per_minute(self) -> int:
        """Series one cycle of CYCLE_BUDGET_SECONDS keeps up with, at the measured cost of a
        series (the cycle's fixed cost counted as if it grew with them: a floor)."""
        return int(CYCLE_BUDGET_SECONDS / self.seconds_per_series)


def bench_project(folder: Path) -> Path:
    """A copy of the dbt project in use whose seeds monitor every value of VALUES with the six
    metrics STATUSES give, as a user monitoring that many series would list only those."""
    target = folder / "project"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        dbt_project_dir(),
        target,
        ignore=shutil.ignore_patterns("target", "logs", ".venv", ".git", "dbt_packages"),
    )

    def monitored(row: dict[str, str]) -> bool:
        if row["dimension_name"] not in VALUES:
            return False
        row["max_values"] = str(VALUES[row["dimension_name"]])
        row["metric_kinds"] = METRIC_KINDS
        return True

    _keep_rows(target / "seeds" / DIMENSIONS_SEED, monitored)
    _keep_rows(
        target / "seeds" / METRIC_SEED,
        lambda row: (
            row["metric_kind"] == "volume"
            or (row["metric_kind"] == "rate" and row["numerator_statuses"] in STATUSES)
        ),
    )
    return target


def _keep_rows(seed: Path, keep: Callable[[dict[str, str]], bool]) -> None:
    """Rewrite a seed with the rows `keep` accepts (which may edit them)."""
    with seed.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or ())
        rows = [row for row in reader if keep(row)]
    with seed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


@contextmanager
def _project(path: Path) -> Iterator[None]:
    previous = os.environ.get("TXMON_PROJECT_DIR")
    os.environ["TXMON_PROJECT_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TXMON_PROJECT_DIR", None)
        else:
            os.environ["TXMON_PROJECT_DIR"] = previous


def _insert(url: str, first: int, last: int) -> None:
    with connect(url) as conn:
        conn.execute("select setseed(%s)", (((first * 7919) % 1000) / 1000,))
        conn.execute(
            _INSERT_MINUTES,
            {
                "start": START,
                "first": first,
                "last": last,
                "per_minute": TRANSACTIONS_PER_MINUTE,
                "acquirers": VALUES["acquirer"],
                "cards": VALUES["card_type"],
                "channels": VALUES["channel"],
                "products": VALUES["product"],
            },
        )


def run_many_series(
    server_url: str, days: float, cycles: int, folder: Path, settings: Settings
) -> ManySeriesResult:
    """Build `days` of history from scratch, then time `cycles` cycles of one new minute each
    (insert, incremental build on a project parsed once, dispatch), as `txmon run` does."""
    minutes = round(days * 24 * 60)
    channels = build_channels(settings.channels)
    with (
        _project(bench_project(folder)),
        scratch_database(server_url, "txmon_bench_series") as url,
    ):
        with connect(url) as conn:
            ensure_raw_tables(conn)
        load_seconds = timed(lambda: _insert(url, 0, minutes - 1))
        full_build_seconds = build_from_scratch(url, settings)
        with connect(url) as conn:
            row = conn.execute(f"select count(*) from {PUBLIC_SCHEMA}.current_status").fetchone()
        series = int(row[0]) if row else 0
        manifest = pipeline.parse_project(url=url, settings=settings)
        timings = []
        for number in range(minutes, minutes + cycles):

            def cycle(number: int = number) -> None:
                _insert(url, number, number)
                build_and_dispatch(url, settings, manifest, channels)

            timings.append(timed(cycle))
    return ManySeriesResult(
        days=days,
        series=series,
        load_seconds=load_seconds,
        full_build_seconds=full_build_seconds,
        cycle_seconds=statistics.median(timings),
    )


def report_many_series(
    server_url: str, days: float, cycles: int, folder: Path, say: Callable[[str], None]
) -> ManySeriesResult:
    """Run the case and print its figures."""
    settings = quiet_settings(folder)
    say(
        f"many series: {days:g} days of {TRANSACTIONS_PER_MINUTE} transactions a minute,"
        f" {len(VALUES)} dimensions, {sum(VALUES.values())} values"
    )
    result = run_many_series(server_url, days, cycles, folder, settings)
    say(
        f"  {result.series:,} series; insert {result.load_seconds:.1f} s, full build"
        f" {result.full_build_seconds:.1f} s, cycle {result.cycle_seconds:.2f} s"
        f" (median of {cycles}); {result.seconds_per_series * 1000:.2f} ms a series:"
        f" one {CYCLE_BUDGET_SECONDS:.0f} s cycle keeps up with about"
        f" {result.series_per_minute:,} series on this machine"
    )
    return result
