"""Comparing the episodes txmon found with the incidents planted in generated data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from txmon.lab.generate import Incident
from txmon.pipeline.views import Episode

# An episode that starts this soon after an incident ends is still explained by it: a rate
# judged over a trailing window lingers after the traffic has healed.
EXPLAINING_SLACK = timedelta(minutes=15)


@dataclass(frozen=True)
class IncidentCheck:
    incident: Incident
    episode: Episode | None
    delay_minutes: float | None


def _naive_utc(moment: datetime | None) -> datetime | None:
    """Incidents are labelled in naive UTC; episodes come from the database aware."""
    return moment.replace(tzinfo=None) if moment else None


def overlap_minutes(episode: Episode, started_at: datetime, ended_at: datetime) -> int:
    """Minutes of [started_at, ended_at) inside the episode (ongoing episodes never end)."""
    start = max(started_at, _naive_utc(episode.started_at) or started_at)
    end = min(ended_at, _naive_utc(episode.ended_at) or ended_at)
    return max(int((end - start).total_seconds() // 60), 0)


def match_incidents(
    incidents: Sequence[Incident], episodes: Sequence[Episode]
) -> list[IncidentCheck]:
    """Each incident with the first episode of its metric that overlaps it, and the delay."""
    checks = []
    for incident in incidents:
        matches = [
            episode
            for episode in episodes
            if episode.metric_name == incident.metric
            and overlap_minutes(episode, incident.started_at, incident.ended_at) > 0
        ]
        first = min(matches, key=lambda episode: episode.started_at, default=None)
        delay = None
        if first is not None:
            started = _naive_utc(first.started_at) or incident.started_at
            delay = max((started - incident.started_at).total_seconds() / 60, 0.0)
        checks.append(IncidentCheck(incident, first, delay))
    return checks


def coverage(incidents: Sequence[Incident], episodes: Sequence[Episode]) -> float:
    """Share of the planted incident minutes inside an episode of the right metric."""
    planted = sum(incident.minutes for incident in incidents)
    covered = sum(
        overlap_minutes(episode, incident.started_at, incident.ended_at)
        for incident in incidents
        for episode in episodes
        if episode.metric_name == incident.metric
    )
    return covered / planted if planted else 1.0


def unexplained_episodes(incidents: Sequence[Incident], episodes: Sequence[Episode]) -> int:
    """Episodes that overlap no incident of any metric (a denied surge also lowers approval)."""
    return sum(
        1
        for episode in episodes
        if not any(
            overlap_minutes(episode, incident.started_at, incident.ended_at + EXPLAINING_SLACK)
            for incident in incidents
        )
    )
