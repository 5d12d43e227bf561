"""`txmon demo`: generate three days of transactions with incidents, load, build, report.

The demo has a database of its own beside the user's (`txmon_demo` on the embedded server,
`<name>_demo` next to TXMON_DATABASE_URL's), so demo data never mix with real data.
`txmon --database demo ...` (or TXMON_DATABASE=demo) points every other command at it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from txmon.console.progress import progress
from txmon.console.tables import episodes_table, status_table
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.core.paths import txmon_home
from txmon.db.connection import (
    connect,
    demo_database_url,
    describe,
    is_embedded,
    libpq_environment,
    main_database_url,
)
from txmon.ingest.files import load_file
from txmon.ingest.loads import format_summary
from txmon.lab import generate, generated_files
from txmon.lab.scoring import IncidentCheck, match_incidents
from txmon.pipeline import dbt as pipeline
from txmon.pipeline import views as monitoring

DEMO_DAYS = 3.0
DEMO_SEED = 2025
# An incident still going on at the end, so the current status shows what an alert looks like.
FINAL_INCIDENT_MINUTES = 50
# An acquirer failing on its own on the second afternoon, found on that acquirer's series.
ACQUIRER_INCIDENT = ("getnet", timedelta(days=1, hours=15), 45, 0.25)
VOLUME_METRICS = ("volume", "volume_surge")
ONE_DAY = timedelta(days=1)


def demo_config() -> generate.GeneratorConfig:
    base = generate.GeneratorConfig(days=DEMO_DAYS, seed=DEMO_SEED, daily_cycle=True)
    last_minute = base.start + timedelta(minutes=generate.total_minutes(base.days) - 1)
    final = generate.Incident(
        kind="failed_burst",
        started_at=last_minute - timedelta(minutes=FINAL_INCIDENT_MINUTES - 1),
        minutes=FINAL_INCIDENT_MINUTES,
        magnitude=0.12,
    )
    planned = generate.default_incidents(base.start, base.days, random.Random(DEMO_SEED))
    earlier = tuple(
        incident
        for incident in planned
        if incident.ended_at + timedelta(minutes=generate.INCIDENT_GAP_MINUTES) <= final.started_at
        # A volume is judged once a past day shows its daily shape (README, "How it decides").
        and not (incident.metric in VOLUME_METRICS and incident.started_at < base.start + ONE_DAY)
    )
    acquirer, offset, minutes, magnitude = ACQUIRER_INCIDENT
    on_acquirer = generate.Incident(
        "failed_burst", base.start + offset, minutes, magnitude, acquirer=acquirer
    )
    clear = tuple(
        incident
        for incident in earlier
        if incident.ended_at + timedelta(minutes=generate.INCIDENT_GAP_MINUTES)
        <= on_acquirer.started_at
        or on_acquirer.ended_at + timedelta(minutes=generate.INCIDENT_GAP_MINUTES)
        <= incident.started_at
    )
    return replace(base, incidents=(*clear, on_acquirer, final))


def run_demo(say: Callable[[str], None]) -> list[IncidentCheck]:
    started = time.monotonic()

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {message}")

    if is_embedded():
        step(f"Starting the embedded PostgreSQL server (data in {txmon_home() / 'postgres'})")
    main_url = main_database_url()
    url = demo_database_url(main_url)
    created = ensure_database(main_url, url)
    step(
        f"Demo database {'created' if created else 'ready'}: {describe(url)} "
        f"(apart from {libpq_environment(main_url)['PGDATABASE']}, which the demo never touches)"
    )

    data_file = txmon_home() / "demo" / "transactions.csv"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    config = demo_config()
    with progress("generating", total=generate.total_minutes(config.days), unit="minutes") as meter:
        summary = generated_files.write_csv(data_file, config, events=False, on_minute=meter.update)
    step(
        f"Generated {summary.minutes:,} minutes ({summary.transactions:,} transactions, daily "
        f"cycle, {len(summary.incidents)} incidents) in {data_file}; labels in "
        f"{summary.labels_path.name}"
    )

    # The same transactions by acquirer: the acquirers' series, and where it breaks.
    acquirer_file = data_file.with_name("acquirers.csv")
    with (
        progress("generating", total=summary.minutes, unit="minutes") as meter,
        acquirer_file.open("w", newline="", encoding="utf-8") as handle,
    ):
        generated_files.write_acquirer_counts(handle, config, on_minute=meter.update)
    step(f"Generated the same transactions by acquirer in {acquirer_file}")

    for path in (data_file, acquirer_file):
        size = path.stat().st_size
        with connect(url) as conn, progress("loading", total=size, unit="bytes") as meter:
            load = load_file(conn, path, on_read=meter.update)
        step(format_summary(load))

    step("Building the dbt project (seeds, models, unit and data tests)")
    with progress("dbt build", unit="nodes") as meter:
        result = pipeline.build(url=url, quiet=True, on_progress=meter.update)
    step(f"Build passed: {result.nodes_run} dbt nodes")

    with connect(url) as conn:
        statuses = monitoring.current_status(conn)
        episodes = monitoring.episodes(conn)
    say("")
    say(status_table(statuses))
    say("")
    say(f"Episodes found ({len(episodes)}):")
    say(episodes_table(episodes))
    checks = match_incidents(summary.incidents, episodes)
    found = sum(1 for check in checks if check.episode is not None)
    say("")
    say(f"Planted incidents detected: {found} of {len(checks)}")
    for check in checks:
        mark = f"found as {check.episode.episode_id}" if check.episode else "MISSED"
        say(
            f"  {check.incident.kind:<17} {check.incident.series:<28} "
            f"{check.incident.started_at:%Y-%m-%d %H:%M} {check.incident.minutes:>3} min  {mark}"
        )
    say("")
    step("Done.")
    say(_next_steps(data_file, libpq_environment(url)["PGDATABASE"]))
    return checks


def ensure_database(main_url: str, url: str) -> bool:
    """Create the database `url` names beside `main_url`'s when missing; True if created."""
    name = libpq_environment(url)["PGDATABASE"]
    # CREATE DATABASE works from any database: use the user's, which is known to be reachable.
    with connect(main_url, autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another demo created it meanwhile
        except psycopg.errors.InsufficientPrivilege as error:
            raise TxmonError(
                f"cannot create the demo's database {name} on {describe(main_url)}: "
                f"{str(error).strip()}; create it once (createdb {name}) or use a role with "
                "CREATEDB"
            ) from error
    return True


def _next_steps(data_file: Path, database: str) -> str:
    described = [
        ("txmon --database demo status", "the current status table"),
        ("txmon --database demo monitor --json", "the prototype's /monitor document"),
        ("txmon --database demo episodes", "every episode found"),
        ("txmon --database demo superset up", "the dashboard, on 127.0.0.1:8088"),
        ("txmon --database demo serve", "the API on 127.0.0.1:8000"),
        ("txmon --database demo dispatch", "send the alerts (stdout)"),
        ("txmon --database demo build --mode prototype", "the prototype's model, to compare"),
        ("export TXMON_DATABASE=demo", "the same for every command in this shell"),
        ("txmon db stop", "stop the embedded server"),
    ]
    width = max(len(command) for command, _ in described) + 2
    lines = [f"  {command:<{width}}{what}" for command, what in described]
    # Two lines too long to carry a description, before the last one.
    lines[-1:-1] = [
        '  eval "$(txmon --database demo db env)"'
        f" && psql -c 'table {PUBLIC_SCHEMA}.current_status'",
        f"  txmon generate {data_file.parent / 'more.csv'} --days 1 --seed 7",
    ]
    header = f"The demo's results are in database {database}; --database demo reads them:"
    return "\n".join(["", header, *lines])
