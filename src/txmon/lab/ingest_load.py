"""Sustained ingest: POST /transactions at a steady rate while the scheduler builds.

`sustained_ingest` makes a scratch database on a server, starts `txmon serve` and
`txmon run --every 10s` against it as a user would (subprocesses), and has several client
threads (lab.ingest_clients) post batches of single transactions at a steady total rate.
Afterwards it reports the requests per second, the latency percentiles, the errors and the rows
accepted, and checks the raw table: every transaction the API acknowledged is stored exactly
once, and nothing it did not acknowledge is.

Every loop is bounded in count and in time, and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from txmon.core.errors import TxmonError
from txmon.core.facts import RAW_SCHEMA
from txmon.db.connection import connect, scratch_database
from txmon.db.embedded import free_port
from txmon.lab.ingest_clients import post_traffic

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 120.0
# The first cycle parses the dbt project and builds every model: the slowest one.
FIRST_CYCLE_TIMEOUT_SECONDS = 600.0
# The scheduler finishes the cycle it is in when told to stop; a cycle is a dbt build.
STOP_TIMEOUT_SECONDS = 180.0
# The line the scheduler logs after each cycle ("cycle 3: data lag 4s, build 2.1s, ...").
CYCLE_LINE = re.compile(r"\bcycle (\d+):")

Say = Callable[[str], None]


@dataclass(frozen=True)
class IngestLoadResult:
    """What one sustained-ingest run measured; latencies in milliseconds."""

    seconds: float
    clients: int
    batch_size: int
    target_requests_per_second: float
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_samples: tuple[str, ...]
    rows_accepted: int
    rows_per_second: float
    rows_stored: int
    missing: int
    duplicated: int
    unacknowledged: int
    scheduler_cycles: int
    scheduler_failed_cycles: int

    @property
    def exactly_once(self) -> bool:
        """Every acknowledged row stored once, and no other row stored."""
        return self.missing == 0 and self.duplicated == 0 and self.unacknowledged == 0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share 0.99 = p99); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _start(log: Path, env: dict[str, str], *arguments: str) -> subprocess.Popen:
    """`txmon ARGUMENTS` of this very installation (whatever is on PATH), run in the log's
    folder with its output in the log."""
    command = [sys.executable, "-c", "from txmon.cli import main; main()", *arguments]
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            env=env,
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return lines[-1][:300] if lines else "(no output)"


def _wait_until_serving(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=5, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TxmonError(f"txmon serve exited at start: {_last_line(log)}")
            try:
                client.get("/health")  # any answer will do: no views exist before a build
                return
            except httpx.TransportError:
                time.sleep(0.2)
    raise TxmonError(f"txmon serve did not answer within {START_TIMEOUT_SECONDS:.0f} s")


def _cycles(log: Path) -> list[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if CYCLE_LINE.search(line)]


def _wait_for_first_cycle(process: subprocess.Popen, log: Path) -> None:
    """Traffic starts once the scheduler has parsed the project and built once, so every
    later cycle, each overlapping the traffic, is an ordinary one."""
    deadline = time.monotonic() + FIRST_CYCLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TxmonError(f"txmon run exited at start: {_last_line(log)}")
        if _cycles(log):
            return
        time.sleep(0.2)
    raise TxmonError(
        f"txmon run finished no cycle within {FIRST_CYCLE_TIMEOUT_SECONDS:.0f} s: {_last_line(log)}"
    )


def _stop(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass(frozen=True)
class RowCheck:
    """The raw table against the ids the API acknowledged."""

    stored: int  # rows in txmon_raw.transactions
    missing: int  # acknowledged ids with no row
    duplicated: int  # ids with more than one row
    unacknowledged: int  # ids stored that no acknowledged batch carried


def check_rows(url: str, accepted: set[str]) -> RowCheck:
    """Count txmon_raw.transactions by transaction_id and compare with `accepted`."""
    with connect(url) as conn:
        rows = conn.execute(
            f"select transaction_id, count(*) from {RAW_SCHEMA}.transactions"
            " group by transaction_id"
        ).fetchall()
    stored = Counter({transaction_id: int(count) for transaction_id, count in rows})
    return RowCheck(
        stored=sum(stored.values()),
        missing=sum(1 for identifier in accepted if identifier not in stored),
        duplicated=sum(1 for count in stored.values() if count > 1),
        unacknowledged=sum(1 for identifier in stored if identifier not in accepted),
    )


def sustained_ingest(
    server_url: str,
    say: Say,
    seconds: float = 300,
    clients: int = 4,
    rate_per_second: float = 20.0,
    scheduler_every: float = 10,
    batch_size: int = 25,
) -> IngestLoadResult:
    """Post `rate_per_second` batches of `batch_size` transactions a second in total, from
    `clients` threads, for `seconds`, to a `txmon serve` while `txmon run --every
    scheduler_every` builds the same scratch database on `server_url`; then check the rows."""
    if not (0 < seconds <= 24 * 3600 and 1 <= clients <= 64 and 0 < rate_per_second <= 10_000):
        raise TxmonError(
            "sustained ingest takes 0 < seconds <= 86400, 1 to 64 clients and a rate above 0 "
            "and up to 10,000 requests a second"
        )
    if not (1 <= batch_size <= 10_000 and 0 < scheduler_every <= 3600):
        raise TxmonError(
            "sustained ingest takes 1 to 10,000 events a batch and a scheduler "
            "period above 0 and up to an hour"
        )
    say(
        f"sustained ingest: {clients} clients, {seconds:g} s at {rate_per_second:g} requests/s "
        f"of {batch_size} transactions, scheduler every {scheduler_every:g} s"
    )
    token = secrets.token_urlsafe(24)
    with (
        scratch_database(server_url, "txmon_ingest_load") as url,
        tempfile.TemporaryDirectory(prefix="txmon-ingest-") as scratch,
    ):
        folder = Path(scratch)
        settings = folder / "txmon.toml"
        # Alerts go to a file: the run measures ingest, not a terminal.
        settings.write_text(f'[[channels]]\ntype = "jsonl"\npath = "{folder / "alerts.jsonl"}"\n')
        env = {
            **os.environ,
            "TXMON_DATABASE_URL": url,
            "TXMON_HOME": str(folder / "home"),
            "TXMON_CONFIG": str(settings),
            "TXMON_API_TOKEN": token,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("TXMON_DATABASE", None)  # the URL above, never a demo database beside it
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        serve_log, run_log = folder / "serve.log", folder / "run.log"
        processes: list[subprocess.Popen] = []
        try:
            server = _start(serve_log, env, "serve", "--host", HOST, "--port", str(port))
            processes.append(server)
            scheduler = _start(run_log, env, "run", "--every", f"{scheduler_every:g}s")
            processes.append(scheduler)
            _wait_until_serving(base_url, server, serve_log)
            _wait_for_first_cycle(scheduler, run_log)
            cycles_before = len(_cycles(run_log))
            tallies, elapsed = post_traffic(
                base_url, token, clients, rate_per_second, batch_size, seconds
            )
            _stop(scheduler, STOP_TIMEOUT_SECONDS)
            _stop(server, 20)
            # The cycles that ran while the clients posted (the last one finished on SIGTERM).
            cycles = _cycles(run_log)[cycles_before:]
        finally:
            for process in processes:
                _stop(process, 20)
        accepted = {identifier for tally in tallies for identifier in tally.accepted_ids}
        check = check_rows(url, accepted)

    latencies = [latency for tally in tallies for latency in tally.latencies]
    result = IngestLoadResult(
        seconds=elapsed,
        clients=clients,
        batch_size=batch_size,
        target_requests_per_second=rate_per_second,
        requests=sum(tally.requests for tally in tallies),
        requests_per_second=sum(tally.requests for tally in tallies) / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=sum(tally.errors for tally in tallies),
        error_samples=tuple(sample for tally in tallies for sample in tally.error_samples),
        rows_accepted=sum(tally.rows_written for tally in tallies),
        rows_per_second=sum(tally.rows_written for tally in tallies) / elapsed,
        rows_stored=check.stored,
        missing=check.missing,
        duplicated=check.duplicated,
        unacknowledged=check.unacknowledged,
        scheduler_cycles=len(cycles),
        scheduler_failed_cycles=sum(1 for line in cycles if "FAILED" in line),
    )
    _report(result, say)
    return result


def _report(result: IngestLoadResult, say: Say) -> None:
    say(
        f"requests per second: {result.requests_per_second:.1f} ({result.requests:,} requests "
        f"in {result.seconds:.1f} s, target {result.target_requests_per_second:g})"
    )
    say(f"latency p50: {result.p50_ms:.1f} ms")
    say(f"latency p99: {result.p99_ms:.1f} ms")
    say(f"errors: {result.errors}")
    for sample in result.error_samples:
        say(f"  error: {sample}")
    say(f"rows accepted: {result.rows_accepted:,} ({result.rows_per_second:,.0f} rows/s)")
    say(f"rows stored: {result.rows_stored:,}")
    say(f"rows missing: {result.missing:,}")
    say(f"rows duplicated: {result.duplicated:,}")
    say(f"rows stored without an acknowledgement: {result.unacknowledged:,}")
    say(
        f"scheduler cycles during the run: {result.scheduler_cycles} "
        f"({result.scheduler_failed_cycles} failed)"
    )
