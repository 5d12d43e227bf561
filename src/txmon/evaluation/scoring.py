"""Scoring the published episodes and alert events against labelled incidents.

The rules, in the terms of the public views:

- A label's window is [start, start + minutes + slack), the slack being the evaluation window
  (10 minutes): a rate judged over the last ten minutes lingers that long after the traffic
  has healed, so an episode starting then is still the incident's.
- An episode matches a label when it is of the label's metric and overlaps its window (an
  episode spans its first anomalous minute up to its recovery, or on while ongoing). The label
  is found when a matching episode paged: it has an ALERT event (it reached INFO). The delay
  is from the label's start to the first such ALERT (negative if it paged before the start).
- A page (ALERT event) is explained by a label of any metric whose window its episode overlaps
  (a denied surge also lowers approval). Pages explained by no must-page label but by a
  not-to-page one are pages from not-to-page labels; pages explained by none are outside
  every labelled window, counted per day of data (the span of the published minutes).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from txmon.core.facts import PUBLIC_SCHEMA, severity_rank
from txmon.core.formatting import format_utc
from txmon.db.connection import dict_rows
from txmon.evaluation.labels import Label
from txmon.pipeline import build_state, views

# The model's evaluation_window_minutes (its default): see the module's docstring.
LABEL_SLACK = timedelta(minutes=10)
PAGE = "ALERT"
# Events that raise an episode's severity; RECOVERY lowers it.
RAISING_EVENTS = ("ALERT", "ESCALATION")
URGENT_SEVERITY = "CRITICAL"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class AlertEvent:
    """An ALERT or ESCALATION of the view alert_events."""

    episode_id: str
    metric_name: str
    minute_at: datetime
    event_type: str
    severity: str


@dataclass(frozen=True)
class LabelScore:
    """What the build made of one label."""

    label: Label
    found: bool
    episode_id: str | None
    delay_minutes: int | None
    peak_severity: str | None
    minutes_to_critical: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.label.line,
            "metric": self.label.metric,
            "start": format_utc(self.label.start),
            "minutes": self.label.minutes,
            "must_page": self.label.must_page,
            "kind": self.label.kind,
            "found": self.found,
            "episode_id": self.episode_id,
            "delay_minutes": self.delay_minutes,
            "peak_severity": self.peak_severity,
            "minutes_to_critical": self.minutes_to_critical,
        }


@dataclass(frozen=True)
class Evaluation:
    """Every label's score and the aggregates."""

    labels: tuple[LabelScore, ...]
    pages: int
    pages_outside_labels: int
    pages_from_not_to_page: int
    data_days: float

    @property
    def must_page(self) -> tuple[LabelScore, ...]:
        return tuple(score for score in self.labels if score.label.must_page)

    @property
    def found(self) -> int:
        return sum(1 for score in self.must_page if score.found)

    @property
    def recall(self) -> float | None:
        """Share of the must-page labels found; None without any."""
        return self.found / len(self.must_page) if self.must_page else None

    @property
    def delays(self) -> list[int]:
        """The delays of the found must-page labels."""
        return [score.delay_minutes for score in self.must_page if score.delay_minutes is not None]

    @property
    def median_delay_minutes(self) -> float | None:
        return float(statistics.median(self.delays)) if self.delays else None

    def outside_per_day(self, days: float = 1.0) -> float | None:
        """Pages outside every labelled window per `days` days of data; None without data."""
        if self.data_days <= 0:
            return None
        return self.pages_outside_labels * days / self.data_days

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": [score.to_json() for score in self.labels],
            "must_page_labels": len(self.must_page),
            "must_page_found": self.found,
            "recall": self.recall,
            "median_delay_minutes": self.median_delay_minutes,
            "pages": self.pages,
            "pages_outside_labels": self.pages_outside_labels,
            "pages_outside_labels_per_day": self.outside_per_day(),
            "pages_from_not_to_page_labels": self.pages_from_not_to_page,
            "data_days": self.data_days,
            "slack_minutes": int(LABEL_SLACK / timedelta(minutes=1)),
        }


def evaluate(conn: psycopg.Connection, labels: Sequence[Label]) -> Evaluation:
    """Score the published views of this database against the labels."""
    return score_labels(labels, views.episodes(conn), raising_events(conn), data_days(conn))


def raising_events(conn: psycopg.Connection) -> list[AlertEvent]:
    """Every ALERT and ESCALATION event, oldest first."""
    rows = dict_rows(
        conn,
        f"""
        select episode_id, metric_name, minute_at, event_type, severity
        from {PUBLIC_SCHEMA}.alert_events
        where event_type = any(%s)
        order by minute_at, metric_name
        """,
        (list(RAISING_EVENTS),),
        missing=build_state.VIEWS_MISSING,
    )
    return [AlertEvent(**row) for row in rows]


def data_days(conn: psycopg.Connection) -> float:
    """Days from the first published minute to the end of the last; 0 without data."""
    rows = dict_rows(
        conn,
        f"select min(minute_at) as first, max(minute_at) as last"
        f" from {PUBLIC_SCHEMA}.metric_minutes",
        missing=build_state.VIEWS_MISSING,
    )
    first, last = rows[0]["first"], rows[0]["last"]
    if first is None or last is None:
        return 0.0
    return (last - first + timedelta(minutes=1)) / DAY


def overlaps(episode: views.Episode, start: datetime, end: datetime) -> bool:
    """Whether the episode (first anomalous minute up to its recovery, or on while ongoing)
    overlaps [start, end); all times aware."""
    return episode.started_at < end and (episode.ended_at is None or episode.ended_at > start)


def _minutes_between(start: datetime, moment: datetime) -> int:
    return int((moment - start) // timedelta(minutes=1))


def _highest(severities: Sequence[str]) -> str | None:
    return max(severities, key=lambda name: severity_rank(name) or 0, default=None)


def score_label(
    label: Label, episodes: Sequence[views.Episode], events: Sequence[AlertEvent]
) -> LabelScore:
    matching = [
        episode
        for episode in episodes
        if episode.subject == label.metric
        and overlaps(episode, label.start, label.end + LABEL_SLACK)
    ]
    ids = {episode.episode_id for episode in matching}
    own = sorted((event for event in events if event.episode_id in ids), key=_minute)
    pages = [event for event in own if event.event_type == PAGE]
    urgent_rank = severity_rank(URGENT_SEVERITY) or 0
    urgent = [event for event in own if (severity_rank(event.severity) or 0) >= urgent_rank]
    first_page = pages[0] if pages else None
    return LabelScore(
        label=label,
        found=first_page is not None,
        episode_id=first_page.episode_id if first_page else None,
        delay_minutes=_minutes_between(label.start, first_page.minute_at) if first_page else None,
        peak_severity=_highest([episode.peak_severity for episode in matching]),
        minutes_to_critical=_minutes_between(label.start, urgent[0].minute_at) if urgent else None,
    )


def _minute(event: AlertEvent) -> datetime:
    return event.minute_at


def score_labels(
    labels: Sequence[Label],
    episodes: Sequence[views.Episode],
    events: Sequence[AlertEvent],
    days: float,
) -> Evaluation:
    """The scores of `labels` given the episodes and raising events of a build."""
    by_id = {episode.episode_id: episode for episode in episodes}
    pages = [event for event in events if event.event_type == PAGE]
    outside = from_not_to_page = 0
    for page in pages:
        explaining = _explaining_labels(page, by_id.get(page.episode_id), labels)
        if not explaining:
            outside += 1
        elif not any(label.must_page for label in explaining):
            from_not_to_page += 1
    return Evaluation(
        labels=tuple(score_label(label, episodes, events) for label in labels),
        pages=len(pages),
        pages_outside_labels=outside,
        pages_from_not_to_page=from_not_to_page,
        data_days=days,
    )


def _explaining_labels(
    page: AlertEvent, episode: views.Episode | None, labels: Sequence[Label]
) -> list[Label]:
    """The labels of any metric whose window (with the slack) the page's episode overlaps."""
    if episode is None:  # not published as an episode: the page's own minute stands for it
        start, end = page.minute_at, page.minute_at + timedelta(minutes=1)
        return [label for label in labels if start < label.end + LABEL_SLACK and end > label.start]
    return [label for label in labels if overlaps(episode, label.start, label.end + LABEL_SLACK)]
