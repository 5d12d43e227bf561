"""Check txmon against the public reference data set, when it is present beside the checkout.

    python scripts/check_reference_data.py [FOLDER]

FOLDER holds transactions.csv and transactions_anomaly.csv, and may hold
transactions_auth_codes.csv (default: ../shared/data/cloudwalk).
The data are never committed and the test suite does not need them; this script is the
acceptance check that CI runs when they are there. It exits 1 on a mismatch.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from txmon.alerting.channels.config import build_channels
from txmon.alerting.history import replay_history
from txmon.core import formatting
from txmon.core.config import Rules, Settings
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.db.connection import connect, database_url, scratch_database
from txmon.ingest.files import load_file
from txmon.ingest.loads import format_summary
from txmon.lab import prototype
from txmon.pipeline import dbt as pipeline
from txmon.pipeline import views as monitoring

# What the prototype's own code prints for transactions_anomaly.csv.
PROTOTYPE_FIGURES = {
    "current_minute": "2025-07-15 13:44:00",
    "thresholds": {
        "failed": 0.2826865352002397,
        "denied": 0.3003039373633661,
        "reversed": 0.03174767527889623,
    },
    "persistence_analysis": {
        "failed": {"consecutive_minutes": 17, "severity": "INFO"},
        "denied": {"consecutive_minutes": 0, "severity": "HEALTHY"},
        "reversed": {"consecutive_minutes": 0, "severity": "HEALTHY"},
    },
}


def check(condition: bool, message: str, failures: list[str]) -> None:
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        failures.append(message)


def build_and_read(url: str, mode: str) -> tuple[dict, list[monitoring.Episode], float]:
    started = time.monotonic()
    pipeline.build(pipeline.with_vars([], {"baseline_mode": mode}), url=url, quiet=True)
    seconds = time.monotonic() - started
    with connect(url) as conn:
        return monitoring.monitor_document(conn), monitoring.episodes(conn), seconds


def check_anomaly_file(server: str, path: Path, failures: list[str]) -> None:
    with scratch_database(server) as url:
        with connect(url) as conn:
            summary = load_file(conn, path)
        print(format_summary(summary))

        document, _, seconds = build_and_read(url, "prototype")
        print(f"prototype mode build: {seconds:.2f}s")
        check(
            document["current_minute"] == PROTOTYPE_FIGURES["current_minute"],
            "prototype current_minute",
            failures,
        )
        for metric, expected in PROTOTYPE_FIGURES["thresholds"].items():
            actual = document["thresholds"][metric]
            check(
                abs(actual - expected) < 1e-9, f"prototype threshold {metric} {actual!r}", failures
            )
        for metric, expected in PROTOTYPE_FIGURES["persistence_analysis"].items():
            actual = document["persistence_analysis"][metric]
            check(actual == expected, f"prototype persistence {metric} {actual}", failures)

        document, episodes, seconds = build_and_read(url, "trailing")
        print(f"trailing mode build: {seconds:.2f}s")
        persistence = document["persistence_analysis"]
        print("trailing persistence:", persistence)
        approval = persistence["approval"]
        check(
            approval["severity"] == "SEVERE" and approval["consecutive_minutes"] >= 60,
            f"trailing approval_rate SEVERE for the whole crisis {approval}",
            failures,
        )
        # The failed share alternates between about 95 % and 0 in blocks of 1 to 5 minutes:
        # persistence counts the minutes it was out (and gaps of up to 2 minutes), which earns
        # CRITICAL before the file ends.
        failed = persistence["failed"]
        check(
            failed["severity"] in {"CRITICAL", "SEVERE"} and failed["consecutive_minutes"] >= 45,
            f"trailing failed_rate CRITICAL from its first failing minute (12:47) {failed}",
            failures,
        )
        denied = [
            episode
            for episode in episodes
            if episode.metric_name == "denied_rate"
            and formatting.format_minute(episode.started_at) == "2025-07-15 12:44:00"
        ]
        check(bool(denied), "trailing denied_rate surge seen from 12:44", failures)


# Notifications per episode on transactions.csv before incidents existed; paging per incident
# must send at least 40 % fewer.
NOTIFICATIONS_PER_EPISODE_BEFORE = 85
INCIDENT_SAVING = 0.4


def replay_counts(url: str, notify_per: str) -> dict[str, int]:
    """Notifications a live dispatcher would have sent over the whole file (one channel)."""
    settings = Settings(rules=Rules(stale_after_minutes=0, notify_per=notify_per))
    replay = replay_history(url, settings, build_channels(settings.channels))
    return dict(sorted(Counter(row.notification.event_type for row in replay.to_send).items()))


def report_normal_file(server: str, path: Path, failures: list[str]) -> None:
    with scratch_database(server) as url:
        with connect(url) as conn:
            load_file(conn, path)
        _, episodes, seconds = build_and_read(url, "trailing")
        with connect(url) as conn:
            incidents = monitoring.incidents(conn)
            grouped = conn.execute(
                f"select count(*) from {PUBLIC_SCHEMA}.incident_episodes"
            ).fetchone()
        per_incident = replay_counts(url, "incident")
        per_episode = replay_counts(url, "episode")
    theirs = prototype.summarise(prototype.replay_alerts(path))
    print(
        f"{path.name}: trailing build {seconds:.2f}s, {len(episodes)} episodes,"
        f" {len(incidents)} incidents"
    )
    print(
        f"  replayed notifications: txmon per incident {sum(per_incident.values())}"
        f" {per_incident}, per episode {sum(per_episode.values())} {per_episode},"
        f" the prototype's rules {sum(theirs.values())} {theirs}"
    )
    if path.name == "transactions.csv":
        most = NOTIFICATIONS_PER_EPISODE_BEFORE * (1 - INCIDENT_SAVING)
        check(
            sum(per_incident.values()) <= most,
            f"transactions.csv: at most {most:.0f} notifications per incident",
            failures,
        )
        check(
            grouped == (len(episodes),),
            "transactions.csv: every episode belongs to an incident",
            failures,
        )
    for episode in episodes:
        ended = formatting.format_minute(episode.ended_at) if episode.ended_at else "ongoing"
        print(
            f"  {episode.metric_name:<14} {formatting.format_minute(episode.started_at)} -> {ended}"
            f"  {episode.minutes:>3} min  {episode.peak_severity}"
        )


def report_auth_code_file(server: str, path: Path, failures: list[str]) -> None:
    """Counts by auth code load whole and each code is monitored by its share."""
    with scratch_database(server) as url:
        with connect(url) as conn:
            summary = load_file(conn, path)
        print(f"{path.name}: {format_summary(summary)}")
        check(summary.rows_rejected == 0, f"{path.name}: every row loaded", failures)
        _, episodes, seconds = build_and_read(url, "trailing")
        with connect(url) as conn:
            codes = [
                row[0]
                for row in conn.execute(
                    f"select dimension_value from {PUBLIC_SCHEMA}.current_status"
                    " where dimension = 'auth_code' and metric_name = 'share' order by 1"
                ).fetchall()
            ]
    print(f"  trailing build {seconds:.2f}s, shares of the codes {', '.join(codes)}")
    check("59" in codes, f"{path.name}: the share of code 59 is monitored", failures)
    for episode in episodes:
        ended = formatting.format_minute(episode.ended_at) if episode.ended_at else "ongoing"
        print(
            f"  {episode.episode_id.split('@')[0]:<24}"
            f" {formatting.format_minute(episode.started_at)} -> {ended}"
            f"  {episode.minutes:>3} min  {episode.peak_severity}"
        )


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/cloudwalk")
    anomaly = folder / "transactions_anomaly.csv"
    if not anomaly.exists():
        print(f"reference data not found in {folder}: nothing to check")
        return 0
    failures: list[str] = []
    server = database_url()
    check_anomaly_file(server, anomaly, failures)
    for name in ("transactions.csv", "transactions_anomaly.csv"):
        if (folder / name).exists():
            report_normal_file(server, folder / name, failures)
    if (folder / "transactions_auth_codes.csv").exists():
        report_auth_code_file(server, folder / "transactions_auth_codes.csv", failures)
    print("reference check: " + ("FAILED: " + "; ".join(failures) if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
