"""The episodes txmon found against the incidents planted in generated data, for the demo and
the pipeline's tests; labelled incidents in general are `txmon.evaluation`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from txmon.core.formatting import as_utc
from txmon.evaluation.scoring import overlaps
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


def _overlaps(episode: Episode, incident: Incident, slack: timedelta = timedelta(0)) -> bool:
    """Incidents are planted in naive UTC; episodes come from the database aware."""
    return overlaps(episode, as_utc(incident.started_at), as_utc(incident.ended_at + slack))


def match_incidents(
    incidents: Sequence[Incident], episodes: Sequence[Episode]
) -> list[IncidentCheck]:
    """Each incident with the first episode of its series (the metric, and the acquirer of an
    incident planted on one) that overlaps it, and the delay."""
    checks = []
    for incident in incidents:
        matches = [
            episode
            for episode in episodes
            if episode.subject == incident.series and _overlaps(episode, incident)
        ]
        first = min(matches, key=lambda episode: episode.started_at, default=None)
        delay = None
        if first is not None:
            started: datetime = as_utc(first.started_at)
            delay = max((started - as_utc(incident.started_at)).total_seconds() / 60, 0.0)
        checks.append(IncidentCheck(incident, first, delay))
    return checks


def unexplained_episodes(incidents: Sequence[Incident], episodes: Sequence[Episode]) -> int:
    """Episodes that overlap no incident of any metric (a denied surge also lowers approval)."""
    return sum(
        1
        for episode in episodes
        if not any(_overlaps(episode, incident, EXPLAINING_SLACK) for incident in incidents)
    )
