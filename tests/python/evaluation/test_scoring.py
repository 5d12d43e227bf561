"""Scoring a real build against labels: found, delay and severities per label, and the
aggregates, on a day and a half of flat traffic with a denied surge and a short failed burst.

The models change; these tests check the rules of scoring, not exact delays."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pytest

from evaluation_helpers import BURST, LABELS_HEADER, START, SURGE, Built, label_line
from helpers import rows
from txmon.core.facts import severity_rank
from txmon.db.connection import connect
from txmon.evaluation import LABEL_SLACK, Evaluation, evaluate, read_labels

pytest_plugins = ["evaluation_fixtures"]


def score(built: Built, path: Path) -> Evaluation:
    with connect(built.url) as conn:
        return evaluate(conn, read_labels(path))


def test_the_surge_pages_within_its_minutes(built_traffic: Built) -> None:
    result = score(built_traffic, built_traffic.labels)
    surge, burst = result.labels
    assert surge.found and surge.label.must_page
    assert surge.episode_id is not None and surge.episode_id.startswith("denied_rate@")
    assert surge.delay_minutes is not None and 0 <= surge.delay_minutes < SURGE.minutes
    peak = severity_rank(surge.peak_severity or "")
    assert peak is not None and peak >= 1
    # CRITICAL is reported exactly when the episode got there, and never before its page.
    critical = severity_rank("CRITICAL") or 0
    if peak >= critical:
        assert surge.minutes_to_critical is not None
        assert surge.minutes_to_critical >= surge.delay_minutes
    else:
        assert surge.minutes_to_critical is None
    # The page is an ALERT event of that episode, at the delay's minute.
    pages = rows(
        built_traffic.url,
        "select minute_at from monitoring.alert_events where episode_id = %s"
        " and event_type = 'ALERT'",
        (surge.episode_id,),
    )
    assert [page[0] - surge.label.start for page in pages] == [
        timedelta(minutes=surge.delay_minutes)
    ]
    assert not burst.label.must_page
    assert burst.found == (burst.episode_id is not None)
    assert (result.recall, result.found, len(result.must_page)) == (1.0, 1, 1)
    assert result.median_delay_minutes == surge.delay_minutes


def test_every_page_is_counted_once(built_traffic: Built) -> None:
    result = score(built_traffic, built_traffic.labels)
    (total,) = rows(
        built_traffic.url, "select count(*) from monitoring.alert_events where event_type = 'ALERT'"
    )[0]
    assert result.pages == total >= 1
    assert result.pages_outside_labels + result.pages_from_not_to_page < result.pages
    # A day and a half of minutes, from the first published to the end of the last.
    assert result.data_days == pytest.approx(1.5)
    assert result.outside_per_day(7) == pytest.approx(result.pages_outside_labels * 7 / 1.5)


def test_a_page_explained_only_by_not_to_page_labels(built_traffic: Built, tmp_path: Path) -> None:
    """The same labels with the surge not to page: its pages move from explained to
    not-to-page, and the pages outside every window stay as they were."""
    both = score(built_traffic, built_traffic.labels)
    path = tmp_path / "relaxed.csv"
    path.write_text(LABELS_HEADER + label_line(SURGE, False) + label_line(BURST, False))
    relaxed = score(built_traffic, path)
    assert relaxed.recall is None and relaxed.median_delay_minutes is None
    assert relaxed.labels[0].found  # found still says whether it paged
    assert relaxed.pages_from_not_to_page >= both.pages_from_not_to_page + 1
    assert relaxed.pages_outside_labels == both.pages_outside_labels
    assert relaxed.pages == both.pages


def test_a_label_where_nothing_is_judged_explains_no_page(
    built_traffic: Built, tmp_path: Path
) -> None:
    """The first minute of data: no minute is judged before an hour of history, so no episode
    can overlap the label even with its slack, and every page is outside the labels."""
    path = tmp_path / "quiet.csv"
    path.write_text(f"metric,start,minutes,must_page\nfailed_rate,{START:%Y-%m-%d %H:%M},1,true\n")
    assert timedelta(hours=1) > LABEL_SLACK
    quiet = score(built_traffic, path)
    (label,) = quiet.labels
    assert not label.found
    assert (label.episode_id, label.delay_minutes, label.peak_severity) == (None, None, None)
    assert label.minutes_to_critical is None
    assert (quiet.recall, quiet.median_delay_minutes) == (0.0, None)
    assert quiet.pages_outside_labels == quiet.pages
    assert quiet.pages_from_not_to_page == 0


def test_the_slack_reaches_an_episode_that_starts_after_the_label(
    built_traffic: Built, tmp_path: Path
) -> None:
    """A label that ends just before the surge's episode starts still finds it, within the
    slack; one that ends a minute more before does not."""
    surge = score(built_traffic, built_traffic.labels).labels[0]
    assert surge.episode_id is not None
    (started,) = rows(
        built_traffic.url,
        "select started_at from monitoring.anomaly_episodes where episode_id = %s",
        (surge.episode_id,),
    )[0]
    slack = int(LABEL_SLACK / timedelta(minutes=1))
    # Five-minute labels: the window of the first ends a minute after the episode starts, the
    # second's as it starts.
    inside = started.astimezone(UTC) - timedelta(minutes=slack + 4)
    outside = inside - timedelta(minutes=1)
    path = tmp_path / "early.csv"
    path.write_text(
        "metric,start,minutes,must_page\n"
        f"denied_rate,{inside:%Y-%m-%d %H:%M},5,true\n"
        f"denied_rate,{outside:%Y-%m-%d %H:%M},5,true\n"
    )
    early, too_early = score(built_traffic, path).labels
    assert early.found and early.episode_id == surge.episode_id
    assert not too_early.found or too_early.episode_id != surge.episode_id
