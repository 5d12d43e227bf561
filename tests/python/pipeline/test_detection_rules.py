"""The detection rules end to end on a real server: generated traffic with planted incidents,
loaded and built, then judged by what monitoring.anomaly_episodes, alert_events and
current_status say.

Each data set plants many incidents (at least two hours apart, so each is judged on its own)
and is built once for all the tests that read it (module-scoped fixtures):

- bursts under the INFO tier's 15 minutes are seen but never page, on any metric;
- lasting shifts page within 17 minutes of their start, the long ones at CRITICAL or above;
- two weeks of business-cycle traffic open no episode, and incidents at night and at the peak
  are found;
- an outage is CRITICAL within five minutes and recovers once, after the traffic returns;
  data that simply stop are STALE (the alerting side), never an outage;
- a status first seen on day two gets its own rate, whose surge pages;
- a card-testing surge pages on volume_surge.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO_ROOT, drop_database, make_database
from helpers import rows
from txmon.core.config import Rules
from txmon.db.connection import connect
from txmon.ingest.files import load_file
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline

pytestmark = pytest.mark.slow

START = datetime(2025, 7, 14)  # a Monday
WARMUP = timedelta(hours=6)  # history the flat data sets give the monitor before the first one
GAP = timedelta(hours=2)  # quiet time between the end of an incident and the next one
WINDOW = timedelta(minutes=10)  # evaluation_window_minutes: a window lingers this long after
PAGE_DELAY = timedelta(minutes=17)  # a lasting shift pages within this of its start
OUTAGE_DELAY = timedelta(minutes=4)  # an outage is CRITICAL by its fifth minute

# The amplitude of each status's bursts and shifts (the share the status is raised to).
AMPLITUDES: dict[str, float] = {
    "denied_surge": 0.3,
    "reversed_surge": 0.1,
    "failed_burst": 0.05,
    "backend_reversed_surge": 0.05,
}
BURST_MINUTES = range(3, 15)
SHIFT_MINUTES = (15, 30, 45, 60)
HIGH_SEVERITIES = {"CRITICAL", "SEVERE"}

NEW_STATUS = "chargeback"
NEW_STATUS_SHARE = 0.003  # of all transactions once it appears
NEW_STATUS_SURGE_SHARE = 0.1


@dataclass(frozen=True)
class Planted:
    """An incident planted on one metric, from `started_at` for `minutes` minutes."""

    metric: str
    started_at: datetime
    minutes: int
    label: str = ""

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        return f"{self.label or self.metric} {self.started_at:%Y-%m-%d %H:%M} {self.minutes} min"


def planted(incident: generate.Incident) -> Planted:
    label = f"{incident.kind} x{incident.magnitude:g}"
    return Planted(incident.metric, incident.started_at, incident.minutes, label)


@dataclass(frozen=True)
class Episode:
    episode_id: str
    metric: str
    started_at: datetime
    ended_at: datetime | None  # None while ongoing
    peak_severity: str
    minutes: int

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.started_at < end and (self.ended_at is None or self.ended_at > start)


@dataclass(frozen=True)
class Event:
    episode_id: str
    metric: str
    minute_at: datetime
    event_type: str
    severity: str


@dataclass(frozen=True)
class Built:
    """A built test database and what was planted in it."""

    url: str
    incidents: tuple[Planted, ...]
    last_minute: datetime

    def episodes(self) -> list[Episode]:
        found = rows(
            self.url,
            "select episode_id, metric_name, started_at at time zone 'UTC',"
            " ended_at at time zone 'UTC', peak_severity, minutes"
            " from monitoring.anomaly_episodes order by started_at, metric_name",
        )
        return [Episode(*row) for row in found]

    def events(self) -> list[Event]:
        found = rows(
            self.url,
            "select episode_id, metric_name, minute_at at time zone 'UTC', event_type, severity"
            " from monitoring.alert_events order by minute_at, metric_name",
        )
        return [Event(*row) for row in found]

    def episodes_during(self, incident: Planted, after: timedelta = WINDOW) -> list[Episode]:
        """Episodes (of any metric) overlapping the incident or the window lingering after it."""
        end = incident.ended_at + after
        return [e for e in self.episodes() if e.overlaps(incident.started_at, end)]

    def anomalous_minutes(self, incident: Planted) -> int:
        """Anomalous minutes of the incident's metric while it or its window lasted."""
        ((count,),) = rows(
            self.url,
            "select count(*) filter (where is_anomalous) from monitoring.metric_minutes"
            " where metric_name = %s and minute_at at time zone 'UTC' >= %s"
            " and minute_at at time zone 'UTC' < %s",
            (incident.metric, incident.started_at, incident.ended_at + WINDOW),
        )
        return int(count)


def described(built: Built, incident: Planted, paged: datetime | None) -> str:
    """What the monitor made of an incident: its first page and its metric's episodes."""
    page = "no ALERT" if paged is None else f"ALERT at {paged:%H:%M}"
    episodes = [
        f"{e.started_at:%H:%M} {e.minutes} min {e.peak_severity}"
        for e in built.episodes_during(incident)
        if e.metric == incident.metric
    ]
    return f"{page}; episodes: {', '.join(episodes) or 'none'}"


# --- Building the data sets ---------------------------------------------------------------


def write_minutes(path: Path, minutes: Iterable[tuple[datetime, dict[str, int]]]) -> None:
    """Per-minute counts in the shape `txmon load` reads (timestamp,status,count)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(generated_files.COUNTS_HEADER)
        for minute, counts in minutes:
            stamp = minute.strftime(generate.TIMESTAMP_FORMAT)
            writer.writerows((stamp, status, count) for status, count in counts.items())


@pytest.fixture(scope="module")
def build_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """txmon's files (dbt's target and logs) for the builds of this module."""
    home = tmp_path_factory.mktemp("detection-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TXMON_HOME", str(home))
        patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
        patch.delenv("TXMON_DATABASE", raising=False)
        yield home


def built(
    server_url: str,
    data: Path,
    incidents: Iterable[Planted],
    last_minute: datetime,
) -> Iterator[Built]:
    """Load `data` into a fresh database, build it, and drop it when the module is done."""
    url = make_database(server_url)
    try:
        with connect(url) as conn:
            summary = load_file(conn, data)
        assert summary.rows_rejected == 0
        pipeline.build(url=url, quiet=True)
        yield Built(url, tuple(incidents), last_minute)
    finally:
        drop_database(server_url, url)


def built_config(
    server_url: str, folder: Path, config: generate.GeneratorConfig
) -> Iterator[Built]:
    data = folder / "data.csv"
    generated_files.write_counts_csv(data, config)
    incidents = [planted(incident) for incident in generate.resolved_incidents(config)]
    last = config.start + timedelta(minutes=generate.total_minutes(config.days) - 1)
    yield from built(server_url, data, incidents, last)


def spaced(
    items: Iterable[tuple[str, int]], first: datetime, longest: int
) -> tuple[generate.Incident, ...]:
    """(kind, minutes) incidents one after the other, each start `longest` minutes plus the
    gap after the previous one's."""
    step = timedelta(minutes=longest) + GAP
    return tuple(
        generate.Incident(kind, first + number * step, minutes, AMPLITUDES[kind])
        for number, (kind, minutes) in enumerate(items)
    )


def flat(
    days: float, seed: int, incidents: tuple[generate.Incident, ...]
) -> generate.GeneratorConfig:
    return generate.GeneratorConfig(days=days, start=START, seed=seed, incidents=incidents)


def business(
    days: float, seed: int, incidents: tuple[generate.Incident, ...]
) -> generate.GeneratorConfig:
    return generate.GeneratorConfig(
        days=days,
        start=START,
        seed=seed,
        incidents=incidents,
        daily_cycle=True,
        cycle_shape="business",
        night_share=0.03,
        weekend_factor=0.6,
    )


def days_for(incidents: tuple[generate.Incident, ...], tail: timedelta = GAP) -> float:
    """Days of data from START through the last incident and `tail` after it."""
    end = max(incident.ended_at for incident in incidents) + tail
    return -(-(end - START) // timedelta(hours=6)) / 4  # whole quarter days


# --- Bursts and shifts --------------------------------------------------------------------


def every_burst() -> tuple[generate.Incident, ...]:
    """Every burst length at every amplitude, the kinds turning so that no length keeps to
    one time of day."""
    kinds = list(AMPLITUDES)
    plan = [
        (kinds[(number + minutes) % len(kinds)], minutes)
        for number in range(len(kinds))
        for minutes in BURST_MINUTES
    ]
    return spaced(plan, START + WARMUP, max(BURST_MINUTES))


def every_shift() -> tuple[generate.Incident, ...]:
    kinds = list(AMPLITUDES)
    plan = [
        (kinds[(number + index) % len(kinds)], minutes)
        for number in range(len(kinds))
        for index, minutes in enumerate(SHIFT_MINUTES)
    ]
    return spaced(plan, START + WARMUP, max(SHIFT_MINUTES))


@pytest.fixture(scope="module")
def bursts(
    server_url: str, build_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    incidents = every_burst()
    config = flat(days_for(incidents), seed=31, incidents=incidents)
    yield from built_config(server_url, tmp_path_factory.mktemp("bursts"), config)


@pytest.fixture(scope="module")
def shifts(
    server_url: str, build_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    incidents = every_shift()
    config = flat(days_for(incidents), seed=32, incidents=incidents)
    yield from built_config(server_url, tmp_path_factory.mktemp("shifts"), config)


def test_the_plans_cover_every_length_at_every_amplitude() -> None:
    for plan, lengths in ((every_burst(), BURST_MINUTES), (every_shift(), SHIFT_MINUTES)):
        assert {(i.kind, i.minutes) for i in plan} == {
            (kind, minutes) for kind in AMPLITUDES for minutes in lengths
        }
        assert all(i.magnitude == AMPLITUDES[i.kind] for i in plan)
        assert all(b.started_at - a.ended_at >= GAP for a, b in itertools.pairwise(plan))


def test_bursts_are_seen(bursts: Built) -> None:
    """The monitor notices every burst (anomalous minutes), so not paging is its choice."""
    unseen = [
        str(incident) for incident in bursts.incidents if not bursts.anomalous_minutes(incident)
    ]
    assert unseen == [], unseen


def test_bursts_never_page(bursts: Built) -> None:
    """No episode reaches INFO around a burst, on its metric or any other (a denied burst also
    lowers approval_rate)."""
    paged = {
        str(incident): [
            f"{e.metric} from {e.started_at:%H:%M} {e.minutes} min {e.peak_severity}"
            for e in bursts.episodes_during(incident)
        ]
        for incident in bursts.incidents
    }
    failing = {incident: found for incident, found in paged.items() if found}
    assert failing == {}, failing
    alerts = [e for e in bursts.events() if e.event_type == "ALERT"]
    assert alerts == [], "alerts on flat traffic with bursts only"


def test_shifts_page_within_17_minutes(shifts: Built) -> None:
    events = shifts.events()
    late = {}
    for incident in shifts.incidents:
        alerts = [
            e.minute_at
            for e in events
            if e.metric == incident.metric
            and e.event_type == "ALERT"
            and incident.started_at <= e.minute_at < incident.ended_at + WINDOW
        ]
        if not alerts or min(alerts) > incident.started_at + PAGE_DELAY:
            late[str(incident)] = described(shifts, incident, min(alerts, default=None))
    assert late == {}, late


def test_long_shifts_reach_critical(shifts: Built) -> None:
    peaks = {}
    for incident in shifts.incidents:
        if incident.minutes < 45:
            continue
        own = [
            e.peak_severity for e in shifts.episodes_during(incident) if e.metric == incident.metric
        ]
        peaks[str(incident)] = own or [described(shifts, incident, None)]
    weak = {name: found for name, found in peaks.items() if not HIGH_SEVERITIES & set(found)}
    assert peaks and weak == {}, weak


# --- The business cycle -------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet_business(
    server_url: str, build_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    config = business(14.0, seed=41, incidents=())
    yield from built_config(server_url, tmp_path_factory.mktemp("quiet"), config)


def test_two_quiet_business_weeks_open_no_episode(quiet_business: Built) -> None:
    found = [
        f"{e.metric} {e.started_at:%a %Y-%m-%d %H:%M} {e.minutes} min {e.peak_severity}"
        for e in quiet_business.episodes()
    ]
    assert found == [], found


def first_fit(
    config: generate.GeneratorConfig,
    day: datetime,
    hours: tuple[float, float],
    minutes: int,
    min_volume: float,
) -> datetime:
    """The first minute of `day` in `hours` from which `minutes` minutes all expect at least
    `min_volume` transactions a minute."""
    first, last = (day + timedelta(hours=hour) for hour in hours)
    minute = first
    while minute < last:
        if all(
            generate.expected_volume(config, minute + timedelta(minutes=step)) >= min_volume
            for step in range(minutes)
        ):
            return minute
        minute += timedelta(minutes=1)
    raise AssertionError(f"no {minutes} minutes of {min_volume:g}/min on {day:%Y-%m-%d} in {hours}")


# Per day after two days of warm-up (Monday and Tuesday): one incident at night, where the
# night still has ten transactions a minute, and two at the afternoon peak.
NIGHT_HOURS = (1.0, 6.0)
NIGHT_MIN_VOLUME = 10.0
PEAK_STARTS = (timedelta(hours=15), timedelta(hours=17, minutes=30))
OUTAGE_MIN_VOLUME = 50.0
NIGHT_AND_PEAK = (
    (("denied_surge", 30, 0.5), ("denied_surge", 30, 0.3), ("outage", 10, 1.0)),
    (("failed_burst", 20, 0.2), ("volume_drop", 30, 0.6), ("failed_burst", 45, 0.05)),
    (
        ("reversed_surge", 30, 0.1),
        ("backend_reversed_surge", 30, 0.05),
        ("approval_collapse", 30, 1.0),
    ),
)


def night_and_peak_incidents(config: generate.GeneratorConfig) -> tuple[generate.Incident, ...]:
    incidents = []
    for number, (night, *peaks) in enumerate(NIGHT_AND_PEAK):
        day = START + timedelta(days=2 + number)
        kind, minutes, magnitude = night
        start = first_fit(config, day, NIGHT_HOURS, minutes, NIGHT_MIN_VOLUME)
        incidents.append(generate.Incident(kind, start, minutes, magnitude))
        for offset, (kind, minutes, magnitude) in zip(PEAK_STARTS, peaks, strict=True):
            minimum = OUTAGE_MIN_VOLUME if kind == "outage" else 0.0
            start = day + offset
            assert first_fit(config, start, (0.0, 0.1), minutes, minimum) == start
            incidents.append(generate.Incident(kind, start, minutes, magnitude))
    return tuple(incidents)


@pytest.fixture(scope="module")
def night_and_peak(
    server_url: str, build_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    config = business(5.0, seed=42, incidents=())
    config = replace(config, incidents=night_and_peak_incidents(config))
    yield from built_config(server_url, tmp_path_factory.mktemp("night"), config)


def first_alert(
    built: Built, incident: Planted, severities: set[str] | None = None
) -> datetime | None:
    """The first ALERT (or escalation to one of `severities`) on the incident's metric while
    it lasted or its window lingered."""
    found = [
        e.minute_at
        for e in built.events()
        if e.metric == incident.metric
        and e.event_type != "RECOVERY"
        and (e.event_type == "ALERT" if severities is None else e.severity in severities)
        and incident.started_at <= e.minute_at < incident.ended_at + WINDOW
    ]
    return min(found, default=None)


def test_night_and_peak_incidents_are_found(night_and_peak: Built) -> None:
    late = {}
    for incident in night_and_peak.incidents:
        if incident.label.startswith("outage"):
            paged = first_alert(night_and_peak, incident, HIGH_SEVERITIES)
            allowed = incident.started_at + OUTAGE_DELAY
        else:
            paged = first_alert(night_and_peak, incident)
            allowed = incident.started_at + PAGE_DELAY
        if paged is None or paged > allowed:
            late[str(incident)] = described(night_and_peak, incident, paged)
    assert late == {}, late


# --- Outages, stale data, a new status, a volume surge -------------------------------------


# Flat traffic with an outage, a card-testing surge, and a status that appears on day two and
# surges on day three; the data stop mid-afternoon on day three, at full traffic.
OUTAGE = generate.Incident("outage", START + timedelta(hours=34), 10, 1.0)
VOLUME_SURGE = generate.Incident("volume_surge", START + timedelta(hours=40), 60, 20.0)
NEW_STATUS_FROM = START + timedelta(days=1, hours=2)
NEW_STATUS_SURGE = Planted(
    f"{NEW_STATUS}_rate", START + timedelta(hours=52), 30, f"{NEW_STATUS} surge"
)
EVENTS_DAYS = 2.6  # ends at 14:23 on day three


def with_new_status(
    minutes: Iterable[tuple[datetime, dict[str, int]]], seed: int
) -> Iterator[tuple[datetime, dict[str, int]]]:
    """The generated minutes with some approvals turned into the new status from its first
    minute on (more of them during its surge): the volume stays as generated."""
    rng = random.Random(seed)
    surge = NEW_STATUS_SURGE
    for minute, counts in minutes:
        if minute >= NEW_STATUS_FROM:
            share = (
                NEW_STATUS_SURGE_SHARE
                if surge.started_at <= minute < surge.ended_at
                else NEW_STATUS_SHARE
            )
            total = sum(counts.values())
            moved = min(counts["approved"], sum(rng.random() < share for _ in range(total)))
            if minute == NEW_STATUS_FROM:
                moved = max(moved, 1)  # seen from exactly this minute
            counts = {**counts, "approved": counts["approved"] - moved, NEW_STATUS: moved}
        yield minute, counts


@pytest.fixture(scope="module")
def events(
    server_url: str, build_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    config = flat(EVENTS_DAYS, seed=51, incidents=(OUTAGE, VOLUME_SURGE))
    data = tmp_path_factory.mktemp("events") / "data.csv"
    write_minutes(data, with_new_status(generate.minute_counts(config), seed=52))
    incidents = [planted(OUTAGE), planted(VOLUME_SURGE), NEW_STATUS_SURGE]
    last = config.start + timedelta(minutes=generate.total_minutes(config.days) - 1)
    yield from built(server_url, data, incidents, last)


def test_an_outage_is_critical_within_five_minutes_and_recovers_once(events: Built) -> None:
    outage = planted(OUTAGE)
    assert outage.metric == "volume"
    critical = first_alert(events, outage, HIGH_SEVERITIES)
    assert critical is not None and critical <= outage.started_at + OUTAGE_DELAY, critical
    episodes = [e for e in events.episodes_during(outage, after=GAP) if e.metric == "volume"]
    assert len(episodes) == 1, episodes
    recoveries = [
        e
        for e in events.events()
        if e.episode_id == episodes[0].episode_id and e.event_type == "RECOVERY"
    ]
    assert len(recoveries) == 1, recoveries
    # The traffic returns at the outage's end: not recovered before that.
    assert recoveries[0].minute_at >= outage.ended_at


def test_data_that_stop_are_stale_not_an_outage(events: Built) -> None:
    """The data end at full traffic: no volume episode at the end, and the alerting side's
    STALE alert is what tells that nothing arrives."""
    from txmon.alerting.outbox import stale_notification

    ((latest, volume_severity),) = rows(
        events.url,
        "select current_minute_at at time zone 'UTC', severity from monitoring.current_status"
        " where metric_name = 'volume'",
    )
    assert latest == events.last_minute
    assert volume_severity == "HEALTHY"
    near_the_end = events.last_minute - timedelta(hours=1)
    assert [
        e for e in events.episodes() if e.metric == "volume" and e.overlaps(near_the_end, latest)
    ] == []
    later = latest + timedelta(minutes=30)
    stale = stale_notification(latest, later, Rules())
    assert stale is not None and stale.event_type == "STALE"


def test_a_new_status_gets_a_rate_and_its_surge_pages(events: Built) -> None:
    metric = NEW_STATUS_SURGE.metric
    current = {
        name for (name,) in rows(events.url, "select metric_name from monitoring.current_status")
    }
    assert metric in current
    ((first_minute,),) = rows(
        events.url,
        "select min(minute_at) at time zone 'UTC' from monitoring.metric_minutes"
        " where metric_name = %s",
        (metric,),
    )
    assert first_minute == NEW_STATUS_FROM
    paged = first_alert(events, NEW_STATUS_SURGE)
    assert paged is not None and paged <= NEW_STATUS_SURGE.started_at + PAGE_DELAY, paged


def test_a_volume_surge_pages(events: Built) -> None:
    surge = planted(VOLUME_SURGE)
    assert surge.metric == "volume_surge"
    paged = first_alert(events, surge)
    assert paged is not None and paged <= surge.started_at + PAGE_DELAY, paged


def test_nothing_else_pages(events: Built) -> None:
    """Every episode belongs to a planted incident (the new status's surge takes approvals)."""
    expected = {
        "volume": {"volume"},
        "volume_surge": {"volume_surge"},
        f"{NEW_STATUS}_rate": {f"{NEW_STATUS}_rate", "approval_rate"},
    }
    unexplained = [
        f"{e.metric} {e.started_at:%Y-%m-%d %H:%M} {e.minutes} min {e.peak_severity}"
        for e in events.episodes()
        if not any(
            e.metric in expected[incident.metric]
            and e.overlaps(incident.started_at, incident.ended_at + WINDOW)
            for incident in events.incidents
        )
    ]
    assert unexplained == [], unexplained
