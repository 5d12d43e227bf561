"""`txmon demo`: generate three days of transactions with incidents, load, build, report."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from txmon import generate, loading, monitoring, pipeline
from txmon.database import connect, database_url, describe, is_embedded
from txmon.reporting import episodes_table, status_table
from txmon.scoring import IncidentCheck, match_incidents
from txmon.settings import txmon_home

DEMO_DAYS = 3.0
DEMO_SEED = 2025
# An incident still going on at the end, so the current status shows what an alert looks like.
FINAL_INCIDENT_MINUTES = 50


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
    )
    return replace(base, incidents=(*earlier, final))


def run_demo(say: Callable[[str], None]) -> list[IncidentCheck]:
    started = time.monotonic()

    def step(message: str) -> None:
        say(f"[{time.monotonic() - started:5.1f}s] {message}")

    if is_embedded():
        step(f"Starting the embedded PostgreSQL server (data in {txmon_home() / 'postgres'})")
    url = database_url()
    step(f"Database ready: {describe(url)}")

    data_file = txmon_home() / "demo" / "transactions.csv"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    config = demo_config()
    summary = generate.write_counts_csv(data_file, config)
    step(
        f"Generated {summary.minutes:,} minutes ({summary.transactions:,} transactions, daily "
        f"cycle, {len(summary.incidents)} incidents) in {data_file}; labels in "
        f"{summary.labels_path.name}"
    )

    with connect(url) as conn:
        load = loading.load_file(conn, data_file)
    step(loading.format_summary(load))

    step("Building the dbt project (seeds, models, unit and data tests)")
    result = pipeline.build(url=url, quiet=True)
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
            f"  {check.incident.kind:<17} {check.incident.metric:<14} "
            f"{check.incident.started_at:%Y-%m-%d %H:%M} {check.incident.minutes:>3} min  {mark}"
        )
    say("")
    step("Done.")
    say(_next_steps(data_file))
    return checks


def _next_steps(data_file: Path) -> str:
    return "\n".join(
        [
            "",
            "Try next:",
            "  txmon monitor --json            the prototype's /monitor document",
            "  txmon status                    the current status table",
            "  txmon episodes                  every episode found",
            "  txmon dispatch                  send the alerts (stdout; see txmon.example.toml)",
            "  txmon superset up               the dashboard in Superset, on 127.0.0.1:8088",
            "  txmon build --mode seed         the prototype's model, to compare",
            "  eval \"$(txmon db env)\" && psql -c 'select * from monitoring.current_status'",
            f"  txmon generate {data_file.parent / 'more.csv'} --days 1 --seed 7",
            "  txmon db stop                   stop the embedded server",
        ]
    )
