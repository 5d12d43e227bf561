"""`txmon bench`: what a cycle costs as history grows, on generated data.

For each history length (1, 7, 30 and 90 days of traffic with a daily cycle, in a scratch
database on the server txmon uses) it prints: load seconds, full-build seconds (models and
tests), the seconds of one live cycle (one new minute loaded, incremental build, dispatch) as
the long-lived scheduler runs it and as a fresh `txmon build --quick` process, the peak
memory of txmon and of the database server, and beside the full build the time of one
hand-written SQL pass computing the same per-minute rates with a trailing mean and deviation.
Last, the seconds `txmon load` takes for a 26,000-row counts file beside its target (under 5 s;
lab.ingest_speed). Prints figures and asserts nothing: tests check behaviour, this measures it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from txmon.alerting.channels.config import build_channels
from txmon.alerting.notification import Channel
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Rules, Settings
from txmon.core.facts import RAW_SCHEMA
from txmon.core.paths import private_dir, txmon_home
from txmon.db.connection import connect, database_url, scratch_database
from txmon.ingest.fields import COUNTS_COLUMNS
from txmon.ingest.files import load_file
from txmon.lab import generate
from txmon.lab.ingest_speed import target_file_speed
from txmon.ops.scheduler import CYCLE_ARGUMENTS, FIRST_CYCLE_ARGUMENTS
from txmon.pipeline import dbt as pipeline

DEFAULT_DAYS = (1, 7, 30, 90)

# One SQL pass over the raw counts: per-minute rates and a trailing mean and deviation over
# the hour before each minute, the floor that the full build is compared with.
HAND_WRITTEN_PASS = f"""
with
minutes as (
    select
        date_trunc('minute', observed_at) as minute_at,
        sum(transaction_count) as total,
        sum(transaction_count) filter (where status = 'failed') as failed,
        sum(transaction_count) filter (where status = 'denied') as denied,
        sum(transaction_count) filter (where status = 'reversed') as reversed,
        sum(transaction_count) filter (where status = 'approved') as approved
    from {RAW_SCHEMA}.transaction_counts
    group by 1
),
rates as (
    select minute_at, metric, value
    from minutes
    cross join lateral (values
        ('failed_rate', failed::float8 / nullif(total, 0)),
        ('denied_rate', denied::float8 / nullif(total, 0)),
        ('reversed_rate', reversed::float8 / nullif(total, 0)),
        ('approval_rate', approved::float8 / nullif(total, 0)),
        ('volume', total::float8)
    ) as metrics (metric, value)
),
judged as (
    select
        minute_at, metric, value,
        avg(value) over past_hour as baseline,
        stddev_samp(value) over past_hour as sigma
    from rates
    window past_hour as (
        partition by metric order by minute_at rows between 60 preceding and 1 preceding
    )
)
select count(*) filter (where value > baseline + 3 * sigma) from judged
"""


@dataclass(frozen=True)
class HistoryResult:
    days: float
    minutes: int
    load_seconds: float
    full_build_seconds: float
    hand_written_seconds: float
    run_cycle_seconds: float
    fresh_build_seconds: float
    txmon_peak_mib: float
    server_peak_mib: float


class ServerMemory:
    """The database server's resident memory, sampled: the sum over its processes."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ServerMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _sample(self) -> None:
        while not self.stopping.is_set():
            self.peak_kib = max(self.peak_kib, _postgres_resident_kib())
            self.stopping.wait(0.2)


def _postgres_resident_kib() -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        if not status.startswith(("Name:\tpostgres", "Name:\tpostmaster")):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _minute_file(folder: Path, minute: datetime, counts: dict[str, int]) -> Path:
    path = folder / f"minute-{minute:%Y%m%d%H%M}.csv"
    lines = [",".join(COUNTS_COLUMNS)]
    lines += [f"{minute:%Y-%m-%d %H:%M:%S},{status},{count}" for status, count in counts.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def build_from_scratch(url: str, settings: Settings) -> float:
    """Seconds of the first build of a monitor on the history in `url`."""
    return timed(
        lambda: pipeline.run_dbt(
            "build", list(FIRST_CYCLE_ARGUMENTS), url=url, quiet=True, settings=settings
        )
    )


def build_and_dispatch(
    url: str, settings: Settings, manifest: Any, channels: Sequence[Channel]
) -> None:
    """One cycle after its new rows are in, as `txmon run` does it: an incremental build on a
    project parsed once, then the dispatch."""
    pipeline.run_dbt(
        "build", list(CYCLE_ARGUMENTS), url=url, quiet=True, manifest=manifest, settings=settings
    )
    run_dispatch(url, settings, channels)


def quiet_settings(folder: Path) -> Settings:
    # Generated history lies in the past: staleness against the clock would page every cycle.
    sink = str(folder / "notifications.jsonl")
    return Settings(rules=Rules(stale_after_minutes=0), channels=({"type": "jsonl", "path": sink},))


def run_history(
    server_url: str, days: float, cycles: int, folder: Path, say: Callable[[str], None]
) -> HistoryResult:
    config = generate.GeneratorConfig(days=days, seed=int(days * 10) + 1, daily_cycle=True)
    data = list(generate.minute_counts(config))
    history, live = data[:-cycles], data[-cycles:]
    path = folder / f"history-{days:g}d.csv"
    _write_counts(path, history)
    settings = quiet_settings(folder)
    channels = build_channels(settings.channels)
    with scratch_database(server_url, "txmon_bench") as url, ServerMemory() as server_memory:
        with connect(url) as conn:
            load_seconds = timed(lambda: load_file(conn, path))
        full_build_seconds = build_from_scratch(url, settings)
        with connect(url) as conn:
            hand_written_seconds = timed(lambda: conn.execute(HAND_WRITTEN_PASS).fetchone())
        manifest = pipeline.parse_project(url=url, settings=settings)
        run_cycles: list[float] = []
        fresh_builds: list[float] = []
        env = {**os.environ, "TXMON_DATABASE_URL": url}
        env.pop("TXMON_CONFIG", None)
        txmon = str(Path(sys.executable).parent / "txmon")
        for index, (minute, counts) in enumerate(live):
            minute_path = _minute_file(folder, minute, counts)

            def cycle(minute_path: Path = minute_path) -> None:
                with connect(url) as conn:
                    load_file(conn, minute_path)
                build_and_dispatch(url, settings, manifest, channels)

            if index % 2 == 0:
                run_cycles.append(timed(cycle))
            else:
                with connect(url) as conn:
                    load_file(conn, minute_path)
                fresh_builds.append(
                    timed(
                        lambda: subprocess.run(
                            [txmon, "build", "--quick"],
                            env=env,
                            check=True,
                            stdout=subprocess.DEVNULL,
                        )
                    )
                )
    return HistoryResult(
        days=days,
        minutes=len(data),
        load_seconds=load_seconds,
        full_build_seconds=full_build_seconds,
        hand_written_seconds=hand_written_seconds,
        run_cycle_seconds=statistics.median(run_cycles),
        fresh_build_seconds=statistics.median(fresh_builds),
        txmon_peak_mib=max(_peak_mib(resource.RUSAGE_SELF), _peak_mib(resource.RUSAGE_CHILDREN)),
        server_peak_mib=server_memory.peak_kib / 1024,
    )


def _write_counts(path: Path, minutes: Sequence[tuple[datetime, dict[str, int]]]) -> None:
    with path.open("w") as out:
        out.write(",".join(COUNTS_COLUMNS) + "\n")
        for minute, counts in minutes:
            stamp = minute.strftime("%Y-%m-%d %H:%M:%S")
            for status, count in counts.items():
                out.write(f"{stamp},{status},{count}\n")


def run_bench(
    say: Callable[[str], None], days: Sequence[float] = DEFAULT_DAYS, cycles: int = 6
) -> list[HistoryResult]:
    server_url = database_url()
    folder = private_dir(txmon_home() / "bench")
    say(
        f"{'history':>8} {'minutes':>8} {'load s':>7} {'full build s':>12} {'one SQL pass s':>14}"
        f" {'run cycle s':>11} {'fresh build s':>13} {'txmon MiB':>9} {'server MiB':>10}"
    )
    results = []
    for length in days:
        result = run_history(server_url, length, cycles, folder, say)
        results.append(result)
        say(
            f"{result.days:>7g}d {result.minutes:>8} {result.load_seconds:>7.1f}"
            f" {result.full_build_seconds:>12.1f} {result.hand_written_seconds:>14.2f}"
            f" {result.run_cycle_seconds:>11.2f} {result.fresh_build_seconds:>13.2f}"
            f" {result.txmon_peak_mib:>9.0f} {result.server_peak_mib:>10.0f}"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        over_sql = last.full_build_seconds / last.hand_written_seconds
        say(
            f"cycle({last.days:g}d) / cycle({first.days:g}d): run "
            f"{last.run_cycle_seconds / first.run_cycle_seconds:.2f}, fresh build "
            f"{last.fresh_build_seconds / first.fresh_build_seconds:.2f}; "
            f"full build / one SQL pass at {last.days:g}d: {over_sql:.1f}"
        )
    target_file_speed(server_url, folder, say)
    say(
        f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; cycles are medians of {cycles // 2} each"
    )
    return results
