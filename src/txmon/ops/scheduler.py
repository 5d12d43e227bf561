"""`txmon run --every 60s`: build and dispatch on a schedule, and keep going.

Each cycle runs `dbt build` in-process on a project parsed once at start, then the dispatcher,
and logs one line: data lag, build and dispatch seconds, notifications sent. A PostgreSQL
advisory lock, held by a connection of its own, keeps a second scheduler on the same database
from overlapping. SIGTERM and Ctrl-C let the running cycle finish, then the loop exits. A failed
build is logged with the model and the reason and retried with backoff; after
`alert_after_failed_cycles` failures in a row it becomes an alert of its own. A database that
goes away is waited for, and the lock taken again when it comes back.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import psycopg

from txmon.alerting.notification import Channel, Notification
from txmon.alerting.outbox import run_dispatch, system_notification
from txmon.alerting.schema import ensure_alert_tables
from txmon.core.config import Settings
from txmon.core.errors import BuildError, DatabaseUnavailable, TxmonError
from txmon.core.facts import PUBLIC_SCHEMA, episode_minute
from txmon.core.formatting import format_duration
from txmon.db.connection import connect
from txmon.ingest.retention import prune
from txmon.pipeline import dbt as pipeline
from txmon.pipeline.build_state import data_freshness

# The lock's key is part of the database's contract with every txmon version: keep it.
LOCK_SQL = "select pg_try_advisory_lock(hashtext('txmon.scheduler'))"
# What each cycle builds: selectors of the dbt project (selectors.yml), the one definition that
# other schedulers use too. The first cycle builds everything but the unit tests (they check
# the SQL, not the data); later cycles only the tables, the views on them (a table's rebuild
# drops them) and the check of the rows the cycle wrote (seeds and the other views cannot have
# changed: the project is parsed once, at start); every `full_tests_every_minutes` a cycle runs
# every data test as well.
FIRST_CYCLE_ARGUMENTS = ("--selector", "monitor_start")
CYCLE_ARGUMENTS = ("--selector", "monitor_cycle")
FULL_TESTS_ARGUMENTS = ("--selector", "full_tests")
MAX_BACKOFF_SECONDS = 300.0
PRUNE_EVERY = 24 * 3600.0

logger = logging.getLogger(__name__)


def parse_interval(text: str) -> float:
    """'60s', '5m', '1h' or plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise TxmonError(f"--every takes a positive duration such as 60s, 5m or 1h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass(frozen=True)
class CycleReport:
    number: int
    succeeded: bool
    build_seconds: float
    dispatch_seconds: float
    sent: int
    data_lag_seconds: float | None
    error: str | None = None

    def line(self) -> str:
        lag = "-" if self.data_lag_seconds is None else format_duration(self.data_lag_seconds)
        text = (
            f"cycle {self.number}: data lag {lag}, build {format_duration(self.build_seconds)}, "
            f"dispatch {format_duration(self.dispatch_seconds)}, sent {self.sent}"
        )
        return text if self.succeeded else f"{text}, FAILED: {self.error}"


class Scheduler:
    """The loop of `txmon run`: one cycle (build, dispatch, retention) every `every_seconds`."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        channels: Sequence[Channel],
        every_seconds: float,
        *,
        max_cycles: int | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.url = url
        self.settings = settings
        self.channels = channels
        self.every_seconds = every_seconds
        self.max_cycles = max_cycles
        self.say = say
        self.stopping = threading.Event()
        self.lock_connection: psycopg.Connection | None = None
        self.failed_cycles = 0
        self.first_failure_at: datetime | None = None
        self.manifest: Any = None
        self.last_full_tests: float | None = None
        self.last_prune: float | None = None
        # A failed-build alert that could not be written (the database was away), kept until
        # it is: an outage must not swallow the alert about it.
        self.pending_alert: Notification | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if not self.stopping.is_set():
            self.say("stopping after the current cycle")
        self.stopping.set()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._take_lock(first=True)
            self.say(
                f"txmon scheduler: every {self.every_seconds:g}s; Ctrl-C or SIGTERM stops "
                "after the running cycle"
            )
            cycles = 0
            while not self.stopping.is_set():
                started = time.monotonic()
                report = self.cycle(cycles + 1)
                cycles += 1
                self.say(report.line())
                if self.max_cycles is not None and cycles >= self.max_cycles:
                    break
                wait = self._wait_seconds(report, started)
                self.stopping.wait(wait)
            return cycles
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._release_lock()

    def _wait_seconds(self, report: CycleReport, started: float) -> float:
        if report.succeeded:
            return max(self.every_seconds - (time.monotonic() - started), 0)
        # Back off on repeated failures, never slower than the schedule's own period.
        backoff = min(2 ** (self.failed_cycles - 1) * 5, MAX_BACKOFF_SECONDS)
        return min(backoff, max(self.every_seconds, 5))

    # -- the lock ------------------------------------------------------------------------------

    def _take_lock(self, first: bool = False) -> None:
        if self.lock_connection is not None and not self.lock_connection.closed:
            try:
                self.lock_connection.execute("select 1")
                return
            except psycopg.Error:
                self._release_lock()
        try:
            connection = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as error:
            if first:
                raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {error}") from error
            raise
        if not connection.execute(LOCK_SQL).fetchone()[0]:  # type: ignore[index]
            connection.close()
            raise TxmonError("another txmon scheduler is already running on this database")
        self.lock_connection = connection

    def _release_lock(self) -> None:
        if self.lock_connection is not None:
            with contextlib.suppress(psycopg.Error):
                self.lock_connection.close()
            self.lock_connection = None

    # -- one cycle -----------------------------------------------------------------------------

    def cycle(self, number: int) -> CycleReport:
        build_started = time.monotonic()
        started_at = datetime.now(UTC)
        try:
            self._take_lock()
            if self.manifest is None:
                self.manifest = pipeline.parse_project(url=self.url, settings=self.settings)
            pipeline.run_dbt(
                "build",
                self._cycle_arguments(),
                url=self.url,
                quiet=True,
                manifest=self.manifest,
                settings=self.settings,
            )
        except (BuildError, DatabaseUnavailable, psycopg.Error) as error:
            return self._failed(number, started_at, time.monotonic() - build_started, error)
        build_seconds = time.monotonic() - build_started
        self._record_build(started_at, True, build_seconds, None)
        self.failed_cycles = 0
        self.first_failure_at = None
        if self.pending_alert is not None:
            self._send_build_alert(self.pending_alert)
        dispatch_started = time.monotonic()
        try:
            summary = run_dispatch(self.url, self.settings, self.channels)
        except (DatabaseUnavailable, psycopg.Error, TxmonError) as error:
            message = " ".join(str(error).split())
            return CycleReport(
                number,
                False,
                build_seconds,
                time.monotonic() - dispatch_started,
                0,
                None,
                f"dispatch: {message}",
            )
        sent = summary.delivery.sent if summary.delivery else 0
        self._prune_when_due()
        return CycleReport(
            number,
            True,
            build_seconds,
            time.monotonic() - dispatch_started,
            sent,
            self._data_lag_seconds(),
        )

    def _failed(
        self, number: int, started_at: datetime, seconds: float, error: Exception
    ) -> CycleReport:
        message = " ".join(str(error).split())
        if isinstance(error, psycopg.Error):
            message = f"database unavailable: {message}"
        if isinstance(error, psycopg.Error | DatabaseUnavailable):
            # The lock went with the connection; it is taken again when the database is back.
            self._release_lock()
        self.failed_cycles += 1
        self.first_failure_at = self.first_failure_at or started_at
        self._record_build(started_at, False, seconds, message)
        sent = 0
        threshold = self.settings.scheduler.alert_after_failed_cycles
        if threshold and self.failed_cycles >= threshold:
            sent = self._raise_build_alert(message)
        return CycleReport(number, False, seconds, 0.0, sent, None, message)

    def _cycle_arguments(self) -> list[str]:
        if self.last_full_tests is None:
            self.last_full_tests = time.monotonic()
            return list(FIRST_CYCLE_ARGUMENTS)
        every = self.settings.scheduler.full_tests_every_minutes * 60
        if time.monotonic() - self.last_full_tests >= every:
            self.last_full_tests = time.monotonic()
            return list(FULL_TESTS_ARGUMENTS)
        return list(CYCLE_ARGUMENTS)

    def _prune_when_due(self) -> None:
        """Apply [retention] keep_days once a day (and in the first cycle)."""
        keep_days = self.settings.retention.keep_days
        if not keep_days or (
            self.last_prune is not None and time.monotonic() - self.last_prune < PRUNE_EVERY
        ):
            return
        self.last_prune = time.monotonic()
        try:
            with connect(self.url) as conn:
                report = prune(conn, timedelta(days=keep_days))
        except (DatabaseUnavailable, psycopg.Error, TxmonError) as error:
            logger.warning("could not prune the raw tables: %s", error)
            return
        if report.dropped:
            self.say(f"retention: {report.text}")

    def _raise_build_alert(self, message: str) -> int:
        assert self.first_failure_at is not None
        stamp = episode_minute(self.first_failure_at)
        alert = system_notification(
            f"pipeline@{stamp}:BUILD_FAILED",
            "pipeline",
            "BUILD_FAILED",
            self.first_failure_at.replace(second=0, microsecond=0),
            None,
            f"{self.failed_cycles} builds in a row failed since {stamp}: {message}"[:900],
        )
        return self._send_build_alert(alert)

    def _send_build_alert(self, alert: Notification) -> int:
        try:
            summary = run_dispatch(self.url, self.settings, self.channels, extra=[alert])
        except (DatabaseUnavailable, psycopg.Error, TxmonError) as error:
            logger.warning("could not raise the failed-build alert yet: %s", error)
            self.pending_alert = alert
            return 0
        self.pending_alert = None
        return summary.delivery.sent if summary.delivery else 0

    def _record_build(
        self, started_at: datetime, succeeded: bool, seconds: float, error: str | None
    ) -> None:
        try:
            with connect(self.url, autocommit=True) as conn, conn.transaction():
                ensure_alert_tables(conn)
                conn.execute(
                    f"insert into {PUBLIC_SCHEMA}.build_runs"
                    " (started_at, succeeded, seconds, error) values (%s, %s, %s, %s)",
                    (started_at, succeeded, seconds, error),
                )
        except (DatabaseUnavailable, psycopg.Error) as failure:
            logger.warning("could not record the build: %s", failure)

    def _data_lag_seconds(self) -> float | None:
        try:
            with connect(self.url) as conn:
                return data_freshness(conn)[1]
        except (DatabaseUnavailable, psycopg.Error):
            return None
