"""One page per incident, end to end: episodes that page at overlapping times form one incident
(monitoring.incidents), the dispatcher pages it once per change, `[rules] notify_per =
"episode"` still pages every episode, and `txmon incidents` lists them."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import TXMON, built_database, rows
from txmon.alerting.channels.config import build_channels
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Rules, Settings
from txmon.core.facts import PUBLIC_SCHEMA, severity_rank
from txmon.db.connection import connect
from txmon.lab import generate

START = datetime(2025, 7, 12)
# A failure burst (the failed rate rises, the approval rate falls) and, hours later, a surge of
# denials (the denied rate rises, the approval rate falls): two incidents of two episodes each.
INCIDENTS = (
    generate.Incident("failed_burst", START + timedelta(minutes=600), 50, 0.2),
    generate.Incident("denied_surge", START + timedelta(minutes=1000), 50, 0.3),
)


@pytest.fixture(scope="module")
def incidents_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = generate.GeneratorConfig(days=1.0, seed=8, start=START, incidents=INCIDENTS)
    with built_database(server_url, tmp_path_factory.mktemp("incidents-data"), config) as url:
        yield url


def dispatch_to_file(
    url: str, sink: Path, notify_per: str, repeat_interval_minutes: int = 0
) -> list[dict[str, Any]]:
    rules = Rules(
        stale_after_minutes=0,
        max_event_age_minutes=10**7,
        notify_per=notify_per,
        repeat_interval_minutes=repeat_interval_minutes,
    )
    settings = Settings(rules=rules, channels=({"type": "jsonl", "path": str(sink)},))
    with_log_emptied(url)
    run_dispatch(url, settings, build_channels(settings.channels))
    again = run_dispatch(url, settings, build_channels(settings.channels))
    assert again.queue.queued == 0
    return [json.loads(line) for line in sink.read_text().splitlines()]


def with_log_emptied(url: str) -> None:
    with connect(url) as conn:
        conn.execute(
            f"drop table if exists {PUBLIC_SCHEMA}.alert_log, {PUBLIC_SCHEMA}.dispatch_runs"
        )


def paged_episodes(url: str) -> set[str]:
    found = rows(
        url, f"select episode_id from {PUBLIC_SCHEMA}.alert_events where event_type = 'ALERT'"
    )
    return {episode_id for (episode_id,) in found}


def test_episodes_paging_together_form_one_incident(incidents_url: str) -> None:
    members = rows(incidents_url, f"select episode_id from {PUBLIC_SCHEMA}.incident_episodes")
    assert {episode_id for (episode_id,) in members} == paged_episodes(incidents_url)
    incidents = rows(
        incidents_url,
        f"select opened_at, member_count, is_open, members from {PUBLIC_SCHEMA}.incidents"
        " order by opened_at",
    )
    assert len(incidents) == len(INCIDENTS)
    for (opened_at, count, is_open, listed), planted in zip(incidents, INCIDENTS, strict=True):
        assert (
            planted.started_at
            <= opened_at.replace(tzinfo=None)
            < planted.started_at + (timedelta(minutes=planted.minutes))
        )
        assert count >= 2 and "approval_rate" in listed and not is_open
    assert len(paged_episodes(incidents_url)) > len(INCIDENTS)


def test_an_incident_pages_once_per_change(incidents_url: str, tmp_path: Path) -> None:
    grouped = dispatch_to_file(incidents_url, tmp_path / "incidents.jsonl", "incident")
    events = Counter(line["event_type"] for line in grouped)
    assert events["ALERT"] == events["RECOVERY"] == len(INCIDENTS)
    for incident in {line["episode_id"] for line in grouped}:
        own = [line for line in grouped if line["episode_id"] == incident]
        assert incident.startswith("incident@")
        assert own[0]["event_type"] == "ALERT"
        assert own[-1]["event_type"] == "RECOVERY" and "approval_rate" in own[-1]["message"]
        raised = [
            severity_rank(line["severity"]) for line in own if line["event_type"] != "RECOVERY"
        ]
        assert raised == sorted(set(raised))
    per_episode = dispatch_to_file(incidents_url, tmp_path / "episodes.jsonl", "episode")
    alerts = [line for line in per_episode if line["event_type"] == "ALERT"]
    assert {line["episode_id"] for line in alerts} == paged_episodes(incidents_url)
    assert len(per_episode) > len(grouped)


def test_reminders_come_once_per_incident(incidents_url: str, tmp_path: Path) -> None:
    """Both members of each incident reach CRITICAL together: per incident one reminder each
    interval, where per episode each member has its own."""

    def reminders(notify_per: str) -> list[dict[str, Any]]:
        sink = tmp_path / f"{notify_per}.jsonl"
        lines = dispatch_to_file(incidents_url, sink, notify_per, repeat_interval_minutes=2)
        return [line for line in lines if line["event_type"] == "REMINDER"]

    grouped = reminders("incident")
    assert grouped and all(line["episode_id"].startswith("incident@") for line in grouped)
    assert len({(line["episode_id"], line["minute_at"]) for line in grouped}) == len(grouped)
    assert len(reminders("episode")) > len(grouped)


def test_txmon_incidents_lists_them(incidents_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TXMON_DATABASE_URL": incidents_url, "TXMON_HOME": str(tmp_path)}
    listed = subprocess.run(
        [TXMON, "incidents"], capture_output=True, text=True, env=env, check=True
    ).stdout
    ids = rows(incidents_url, f"select incident_id from {PUBLIC_SCHEMA}.incidents")
    assert all(incident_id in listed for (incident_id,) in ids)
    still_open = subprocess.run(
        [TXMON, "incidents", "--open"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert still_open.startswith("No incidents")
    bad = subprocess.run(
        [TXMON, "incidents", "--since", "yesterday-ish"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
