"""Readers never see a hole: public views and the API polled every 50 ms through builds of
every kind (incremental, failing, a changed setting, a full refresh) answer every time, never
empty, and a failed build leaves the published results exactly as they were."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from helpers import TXMON
from pipeline_helpers import PUBLIC_VIEWS, Builder, insert_counts, snapshot
from txmon.core.errors import BuildError
from txmon.db.embedded import free_port
from txmon.lab import generate
from txmon.ops.scheduler import CYCLE_ARGUMENTS

pytestmark = pytest.mark.slow
pytest_plugins = ["pipeline_fixtures"]

POLL_SECONDS = 0.05
# Builds like the scheduler's later cycles: the tables and the check of the rows they wrote.
CYCLE = CYCLE_ARGUMENTS


class Poller:
    """Reads every public view and two API routes every 50 ms in a thread of its own."""

    def __init__(self, url: str, api_url: str) -> None:
        self.url = url
        self.api_url = api_url
        self.outcomes: Counter[str] = Counter()
        self.problems: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(30)

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn, httpx.Client(timeout=30) as http:
            while not self.stopping.is_set():
                for view in PUBLIC_VIEWS:
                    self._read_view(conn, view)
                for route in ("/status", "/monitor"):
                    self._read_route(http, route)
                self.stopping.wait(POLL_SECONDS)

    def _read_view(self, conn: psycopg.Connection, view: str) -> None:
        try:
            count = conn.execute(f"select count(*) from monitoring.{view}").fetchone()[0]  # type: ignore[index]
        except psycopg.Error as error:
            self._problem(f"{view}: {error}")
            return
        self.outcomes["view reads"] += 1
        if not count:
            self._problem(f"{view}: empty")

    def _read_route(self, http: httpx.Client, route: str) -> None:
        try:
            response = http.get(self.api_url + route)
        except httpx.HTTPError as error:
            self._problem(f"{route}: {error}")
            return
        self.outcomes["api reads"] += 1
        body: Any = response.json() if response.status_code == 200 else None
        if response.status_code != 200:
            self._problem(f"{route}: HTTP {response.status_code}")
        elif not body:
            self._problem(f"{route}: empty")

    def _problem(self, text: str) -> None:
        self.outcomes["problems"] += 1
        self.problems.append(text)


def test_readers_never_see_a_hole(
    database_url: str, txmon_env: dict[str, str], builder: Builder
) -> None:
    config = generate.GeneratorConfig(days=1.0, seed=8)
    minutes = list(generate.minute_counts(config))
    first = len(minutes) - 40
    insert_counts(database_url, minutes[:first])
    builder.run(command="build")

    port = free_port()
    api = subprocess.Popen(
        [TXMON, "serve", "--port", str(port)],
        env=txmon_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    api_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(api_url + "/health", timeout=5).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "txmon serve did not start"
            time.sleep(0.2)

        builds = 0
        with Poller(database_url, api_url) as poller:
            for step in range(20):
                insert_counts(database_url, minutes[first + step : first + step + 1])
                if step == 7:
                    before = snapshot(database_url)
                    # An unknown model mode fails fct_metric_minutes, after the intermediate
                    # models of the same build have run.
                    with pytest.raises(BuildError, match="fct_metric_minutes"):
                        builder.run(*CYCLE, "--vars", "{baseline_mode: bogus}", command="build")
                    assert snapshot(database_url) == before
                elif step == 12:
                    builder.run("--vars", "{threshold_sigmas: 4}", *CYCLE, command="build")
                elif step == 16:
                    builder.run("--full-refresh", *CYCLE, command="build")
                else:
                    builder.run(*CYCLE, command="build")
                builds += 1
            time.sleep(0.5)
    finally:
        api.terminate()
        api.wait(10)

    print(f"builds: {builds + 1}, polling outcomes: {dict(poller.outcomes)}")
    assert poller.problems == []
    assert poller.outcomes["view reads"] > 20 * len(PUBLIC_VIEWS)
    assert poller.outcomes["api reads"] > 20
