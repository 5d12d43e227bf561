"""The synthetic data generator: calibration, incidents, labels and the two output shapes."""

from __future__ import annotations

import csv
import io
import itertools
import random
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from txmon.core.facts import severity_levels
from txmon.lab import generate, generated_files
from txmon.lab.generate import (
    BASE_SHARES,
    DEFAULT_MAGNITUDES,
    KINDS,
    METRIC_BY_KIND,
    OUTAGE_PAGE_MINUTES,
    PAGE_MINUTES,
    STATUSES,
    GeneratorConfig,
    Incident,
    crisis_scenario,
    data_statuses,
    default_incidents,
    expected_volume,
    minute_counts,
    resolved_incidents,
)
from txmon.lab.generated_files import (
    labels_path,
    write_counts,
    write_counts_csv,
    write_csv,
    write_events,
    write_events_csv,
)

START = datetime(2025, 7, 12, 0, 0)


def at(hours: int, minutes: int = 0) -> datetime:
    return START + timedelta(hours=hours, minutes=minutes)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def share(rows: list[tuple[datetime, dict[str, int]]], status: str) -> float:
    total = sum(sum(counts.values()) for _, counts in rows)
    return sum(counts[status] for _, counts in rows) / total


def volume(counts: dict[str, int]) -> int:
    return sum(counts.values())


# One of each kind on a single quiet day, far enough apart to check each in isolation.
PLANTED = (
    Incident("failed_burst", at(8), 40, 0.2),
    Incident("denied_surge", at(11), 30, 0.3),
    Incident("reversed_surge", at(14), 30, 0.08),
    Incident("volume_drop", at(17), 25, 1.0),
    Incident("approval_collapse", at(20), 30, 5.0),
)


@pytest.fixture(scope="module")
def planted() -> list[tuple[datetime, dict[str, int]]]:
    return list(minute_counts(GeneratorConfig(days=1.0, incidents=PLANTED)))


@pytest.fixture(scope="module")
def quiet_three_days() -> list[tuple[datetime, dict[str, int]]]:
    return list(minute_counts(GeneratorConfig(days=3.0, incidents=())))


def split(
    rows: list[tuple[datetime, dict[str, int]]], incident: Incident
) -> tuple[list[tuple[datetime, dict[str, int]]], list[tuple[datetime, dict[str, int]]]]:
    """The minutes inside the incident, and the quiet minutes (outside every planted one)."""
    inside = [row for row in rows if incident.started_at <= row[0] < incident.ended_at]
    outside = [
        row
        for row in rows
        if not any(other.started_at <= row[0] < other.ended_at for other in PLANTED)
    ]
    return inside, outside


def test_same_seed_gives_the_same_data_and_another_seed_does_not(tmp_path: Path) -> None:
    config = GeneratorConfig(days=0.5)
    assert list(minute_counts(config)) == list(minute_counts(config))
    assert list(minute_counts(config)) != list(minute_counts(GeneratorConfig(days=0.5, seed=1)))
    first = write_counts_csv(tmp_path / "a.csv", GeneratorConfig(days=1.0))
    second = write_counts_csv(tmp_path / "b.csv", GeneratorConfig(days=1.0))
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.labels_path.read_bytes() == second.labels_path.read_bytes()


def test_counts_file_has_every_minute_with_every_status(tmp_path: Path) -> None:
    config = GeneratorConfig(days=0.5, incidents=(Incident("volume_drop", at(2), 10, 1.0),))
    summary = write_counts_csv(tmp_path / "counts.csv", config)
    with summary.path.open(newline="") as handle:
        assert next(csv.reader(handle)) == ["timestamp", "status", "count"]
    rows = read_csv(summary.path)
    assert summary.minutes == 720
    assert summary.rows == len(rows) == 720 * len(STATUSES)
    assert summary.transactions == sum(int(row["count"]) for row in rows)
    by_minute = itertools.groupby(rows, key=lambda row: row["timestamp"])
    for index, (stamp, group) in enumerate(by_minute):
        assert stamp == (START + timedelta(minutes=index)).strftime("%Y-%m-%d %H:%M:%S")
        assert [row["status"] for row in group] == list(STATUSES)
    assert index == 719
    # The outage minutes are still there, with zeros.
    outage = [row for row in rows if row["timestamp"] == "2025-07-12 02:05:00"]
    assert [row["count"] for row in outage] == ["0"] * len(STATUSES)


def test_base_data_match_the_configured_shares_and_volume(quiet_three_days) -> None:
    for status, expected in BASE_SHARES.items():
        # Three days hold ~545k transactions: a few standard errors of each share.
        tolerance = max(0.0002, 0.03 * expected)
        assert share(quiet_three_days, status) == pytest.approx(expected, abs=tolerance), status
    mean_volume = sum(volume(counts) for _, counts in quiet_three_days) / len(quiet_three_days)
    assert mean_volume == pytest.approx(126.0, rel=0.01)


def mean_volume_between(rows, first_hour: int, last_hour: int) -> float:
    volumes = [volume(counts) for minute, counts in rows if first_hour <= minute.hour < last_hour]
    return sum(volumes) / len(volumes)


def test_daily_cycle_is_low_at_night_and_high_in_the_afternoon() -> None:
    cycled = list(minute_counts(GeneratorConfig(days=2.0, daily_cycle=True, incidents=())))
    night = mean_volume_between(cycled, 2, 6)
    afternoon = mean_volume_between(cycled, 14, 18)
    assert night < 0.6 * afternoon
    assert mean_volume_between(cycled, 0, 24) == pytest.approx(126.0, rel=0.02)


def test_without_the_daily_cycle_night_and_afternoon_look_alike(quiet_three_days) -> None:
    night = mean_volume_between(quiet_three_days, 2, 6)
    afternoon = mean_volume_between(quiet_three_days, 14, 18)
    assert night == pytest.approx(afternoon, rel=0.03)


@pytest.mark.parametrize(
    ("incident", "status"),
    [(PLANTED[0], "failed"), (PLANTED[1], "denied"), (PLANTED[2], "reversed")],
    ids=["failed_burst", "denied_surge", "reversed_surge"],
)
def test_share_incidents_raise_their_status_only_while_they_last(
    planted, incident: Incident, status: str
) -> None:
    inside, outside = split(planted, incident)
    assert len(inside) == incident.minutes
    assert share(inside, status) == pytest.approx(incident.magnitude, abs=0.03)
    assert share(outside, status) == pytest.approx(BASE_SHARES[status], abs=0.003)
    # The extra comes out of approved.
    expected_approved = BASE_SHARES["approved"] - (incident.magnitude - BASE_SHARES[status])
    assert share(inside, "approved") == pytest.approx(expected_approved, abs=0.03)
    # The minute just before and the exclusive end minute are ordinary.
    for minute, counts in planted:
        if minute in (incident.started_at - timedelta(minutes=1), incident.ended_at):
            assert counts[status] / volume(counts) < incident.magnitude / 2


def test_volume_drop_empties_exactly_its_minutes(planted) -> None:
    incident = PLANTED[3]
    inside, outside = split(planted, incident)
    assert len(inside) == incident.minutes
    assert all(volume(counts) == 0 for _, counts in inside)
    assert all(volume(counts) > 50 for _, counts in outside)
    partial = GeneratorConfig(days=1.0, incidents=(Incident("volume_drop", at(5), 60, 0.5),))
    rows = list(minute_counts(partial))
    halved = [volume(c) for minute, c in rows if at(5) <= minute < at(6)]
    assert sum(halved) / len(halved) == pytest.approx(63.0, rel=0.1)


def test_approval_collapse_has_no_approvals_and_a_large_volume(planted) -> None:
    incident = PLANTED[4]
    inside, outside = split(planted, incident)
    assert all(counts["approved"] == 0 for _, counts in inside)
    assert all(counts["approved"] > 0 for _, counts in outside)
    normal = sum(volume(counts) for _, counts in outside) / len(outside)
    crisis = sum(volume(counts) for _, counts in inside) / len(inside)
    assert 4.0 * normal < crisis < 6.0 * normal


def test_labels_file_lists_the_incidents(tmp_path: Path) -> None:
    config = GeneratorConfig(days=1.0, incidents=PLANTED)
    summary = write_counts_csv(tmp_path / "day.csv", config)
    assert summary.labels_path == tmp_path / "day.labels.csv" == labels_path(summary.path)
    assert summary.incidents == PLANTED
    # The first four columns are a labels file `txmon eval` reads; kind and magnitude extra.
    assert summary.labels_path.read_text() == (
        "metric,start,minutes,must_page,kind,magnitude\n"
        "failed_rate,2025-07-12 08:00:00,40,true,failed_burst,0.2\n"
        "denied_rate,2025-07-12 11:00:00,30,true,denied_surge,0.3\n"
        "reversed_rate,2025-07-12 14:00:00,30,true,reversed_surge,0.08\n"
        "volume,2025-07-12 17:00:00,25,true,volume_drop,1.0\n"
        "approval_rate,2025-07-12 20:00:00,30,true,approval_collapse,5.0\n"
    )
    quiet = write_counts_csv(tmp_path / "quiet.csv", GeneratorConfig(days=0.1, incidents=()))
    assert quiet.labels_path.read_text() == "metric,start,minutes,must_page,kind,magnitude\n"


def test_must_page_from_the_info_tier_on_and_for_outages_sooner(tmp_path: Path) -> None:
    short = (
        Incident("failed_burst", at(2), 14, 0.05),
        Incident("denied_surge", at(4), 15, 0.3),
        Incident("volume_surge", at(6), 3, 20.0),
        Incident("outage", at(8), 5, 1.0),
        Incident("outage", at(10), 2, 0.95),
    )
    assert [incident.must_page for incident in short] == [False, True, False, True, False]
    info = next(level for level in severity_levels() if level.name == "INFO")
    assert info.min_minutes == PAGE_MINUTES == 15
    assert OUTAGE_PAGE_MINUTES < PAGE_MINUTES
    summary = write_counts_csv(tmp_path / "day.csv", GeneratorConfig(days=0.5, incidents=short))
    rows = read_csv(summary.labels_path)
    assert [(row["metric"], row["minutes"], row["must_page"]) for row in rows] == [
        ("failed_rate", "14", "false"),
        ("denied_rate", "15", "true"),
        ("volume_surge", "3", "false"),
        ("volume", "5", "true"),
        ("volume", "2", "false"),
    ]
    assert [row["kind"] for row in rows] == [incident.kind for incident in short]


def test_default_plan_spreads_detectable_incidents_after_the_warm_up() -> None:
    plan = resolved_incidents(GeneratorConfig(days=3.0))
    assert plan == resolved_incidents(GeneratorConfig(days=3.0))
    assert plan != resolved_incidents(GeneratorConfig(days=3.0, seed=43))
    assert 5 <= len(plan) <= 7
    assert {incident.kind for incident in plan} == set(DEFAULT_MAGNITUDES)
    for incident in plan:
        assert incident.started_at >= at(6)
        assert incident.ended_at <= at(72)
        assert 20 <= incident.minutes <= 60
        low, high = DEFAULT_MAGNITUDES[incident.kind]
        assert low <= incident.magnitude <= high
    for earlier, later in itertools.pairwise(plan):
        assert earlier.ended_at <= later.started_at
    # Too short for anything after the warm-up: no incident at all.
    assert default_incidents(START, 0.2, random.Random(1)) == ()


def test_events_aggregate_exactly_to_the_counts(tmp_path: Path) -> None:
    config = GeneratorConfig(
        days=0.05,
        seed=5,
        incidents=(
            Incident("denied_surge", at(0, 10), 15, 0.3),
            Incident("volume_drop", at(0, 40), 3, 1.0),
        ),
    )
    counts = write_counts_csv(tmp_path / "counts.csv", config)
    events = write_events_csv(tmp_path / "events.csv", config)
    assert events.labels_path == tmp_path / "events.labels.csv"
    assert events.labels_path.read_text() == counts.labels_path.read_text()
    assert events.transactions == counts.transactions == events.rows

    rows = read_csv(events.path)
    assert list(rows[0]) == [
        "transaction_id",
        "created_at",
        "status",
        "amount",
        "channel",
        "product",
        "acquirer",
        "card_type",
        "auth_code",
        "duration_ms",
    ]
    assert len(rows) == events.transactions
    assert len({row["transaction_id"] for row in rows}) == len(rows)
    aggregated = Counter((row["created_at"][:16] + ":00", row["status"]) for row in rows)
    expected = {
        (row["timestamp"], row["status"]): int(row["count"])
        for row in read_csv(counts.path)
        if row["count"] != "0"
    }
    assert dict(aggregated) == expected

    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
    for row in rows:
        assert stamp.match(row["created_at"])
        assert re.fullmatch(r"\d+\.\d\d", row["amount"]) and float(row["amount"]) > 0
        assert row["channel"] in {"pos", "ecommerce", "mobile"}
        assert row["product"] in {"credit", "debit", "pix"}
        assert row["card_type"] in {"visa", "mastercard", "elo"}
        assert row["acquirer"]
        assert int(row["duration_ms"]) > 0
        expected_codes = {"approved": {"00"}, "denied": {"51", "59"}}.get(row["status"], {""})
        assert row["auth_code"] in expected_codes
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)


def test_crisis_scenario_ends_with_an_hour_of_failed_and_denied_blocks() -> None:
    config = crisis_scenario(days=1.0)
    (crisis,) = resolved_incidents(config)
    assert crisis.kind == "approval_collapse"
    assert crisis.minutes == 61
    assert crisis.ended_at == config.start + timedelta(days=1)
    rows = list(minute_counts(config))
    before, last = rows[:-61], rows[-61:]
    assert all(counts["approved"] == 0 for _, counts in last)
    assert share(before, "approved") == pytest.approx(BASE_SHARES["approved"], abs=0.005)

    dominant = [max(("failed", "denied"), key=counts.__getitem__) for _, counts in last]
    for (_, counts), status in zip(last, dominant, strict=True):
        assert counts[status] > volume(counts) / 2
    runs = [len(list(group)) for _, group in itertools.groupby(dominant)]
    assert len(runs) >= 61 // 5
    assert all(1 <= run <= 5 for run in runs)
    assert set(dominant) == {"failed", "denied"}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Incident("meltdown", at(1), 10, 0.2), "unknown incident kind"),
        (lambda: Incident("failed_burst", at(1), 0, 0.2), "minutes must be positive"),
        (lambda: Incident("failed_burst", at(1), -5, 0.2), "minutes must be positive"),
        (lambda: Incident("failed_burst", at(1), 10, 1.5), "magnitude"),
        (lambda: Incident("denied_surge", at(1), 10, 0.0), "magnitude"),
        (lambda: Incident("volume_drop", at(1), 10, float("nan")), "magnitude"),
        (lambda: Incident("approval_collapse", at(1), 10, -1.0), "magnitude"),
        (lambda: Incident("failed_burst", at(1, 0) + timedelta(seconds=5), 10, 0.2), "minute"),
        (
            lambda: GeneratorConfig(
                days=1.0,
                incidents=(Incident("failed_burst", START - timedelta(minutes=1), 10, 0.2),),
            ),
            "outside the data range",
        ),
        (
            lambda: GeneratorConfig(
                days=1.0, incidents=(Incident("failed_burst", at(24), 10, 0.2),)
            ),
            "outside the data range",
        ),
        (
            lambda: GeneratorConfig(
                days=1.0, incidents=(Incident("failed_burst", at(23, 55), 10, 0.2),)
            ),
            "past the end",
        ),
        (lambda: crisis_scenario(days=0.01, crisis_minutes=61), "crisis_minutes"),
        (lambda: GeneratorConfig(shares={"approved": 0.5, "lost": 0.5}), "unknown statuses"),
        (lambda: GeneratorConfig(days=0), "days"),
        (lambda: Incident("outage", at(1), 10, 0.85), r"outage: magnitude must be in \[0\.9, 1\]"),
        (lambda: Incident("outage", at(1), 10, 1.01), "magnitude"),
        (lambda: Incident("volume_surge", at(1), 10, 1.0), r"must be in \(1, 50\]"),
        (lambda: Incident("volume_surge", at(1), 10, 60.0), "magnitude"),
        (lambda: Incident("processing_surge", at(1), 10, 0.0), "magnitude"),
        (lambda: Incident("refunded_surge", at(1), 10, "0.2"), "magnitude"),
        (lambda: GeneratorConfig(cycle_shape="weekly"), "cycle_shape must be one of"),
        (lambda: GeneratorConfig(night_share=0.0), "night_share"),
        (lambda: GeneratorConfig(night_share=0.6), "night_share"),
        (lambda: GeneratorConfig(night_share=float("nan")), "night_share"),
        (lambda: GeneratorConfig(weekend_factor=0.0), "weekend_factor"),
        (lambda: GeneratorConfig(weekend_factor=2.5), "weekend_factor"),
        (lambda: GeneratorConfig(weekend_factor=float("inf")), "weekend_factor"),
    ],
)
def test_invalid_settings_raise_value_error(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("events", [False, True], ids=["counts", "events"])
def test_a_stream_gets_what_a_file_gets(tmp_path: Path, events: bool) -> None:
    config = GeneratorConfig(days=0.02, seed=9)
    stream = io.StringIO()
    tally = (write_events if events else write_counts)(stream, config)
    summary = write_csv(tmp_path / "day.csv", config, events=events)
    assert stream.getvalue() == summary.path.read_text()
    assert (tally.minutes, tally.rows, tally.transactions) == (
        summary.minutes,
        summary.rows,
        summary.transactions,
    )


def test_files_are_kept_unless_overwriting(tmp_path: Path) -> None:
    config = GeneratorConfig(days=0.02, seed=9)
    data = tmp_path / "day.csv"
    for existing in (data, labels_path(data)):
        existing.write_text("mine\n")
        with pytest.raises(FileExistsError) as caught:
            write_csv(data, config, events=False, overwrite=False)
        assert caught.value.filename == str(existing)
        assert existing.read_text() == "mine\n"
        assert sorted(path.name for path in tmp_path.iterdir()) == [existing.name]
        existing.unlink()
    written = write_csv(data, config, events=False, overwrite=False)
    assert written.path.read_text().startswith("timestamp,status,count\n")
    assert write_counts_csv(data, config).path == data  # overwriting is the default


def test_no_folder_is_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_counts_csv(tmp_path / "missing" / "day.csv", GeneratorConfig(days=0.02))
    assert list(tmp_path.iterdir()) == []


# --- The kinds beyond the real data set's ---------------------------------------------------

MORE_KINDS = (
    Incident("refunded_surge", at(3), 30, 0.1),
    Incident("backend_reversed_surge", at(6), 20, 0.05),
    Incident("processing_surge", at(9), 30, 0.2),
    Incident("volume_surge", at(12), 30, 20.0),
    Incident("outage", at(15), 20, 1.0),
    Incident("outage", at(18), 30, 0.95),
)


@pytest.fixture(scope="module")
def more_kinds() -> list[tuple[datetime, dict[str, int]]]:
    return list(minute_counts(GeneratorConfig(days=1.0, incidents=MORE_KINDS)))


def inside(rows, incident: Incident) -> list[tuple[datetime, dict[str, int]]]:
    return [row for row in rows if incident.started_at <= row[0] < incident.ended_at]


def quiet(rows, incidents) -> list[tuple[datetime, dict[str, int]]]:
    return [
        row
        for row in rows
        if not any(other.started_at <= row[0] < other.ended_at for other in incidents)
    ]


def test_every_kind_has_a_metric() -> None:
    assert set(KINDS) == set(METRIC_BY_KIND) >= {incident.kind for incident in MORE_KINDS}
    assert {incident.kind: incident.metric for incident in MORE_KINDS} == {
        "refunded_surge": "refunded_rate",
        "backend_reversed_surge": "backend_reversed_rate",
        "processing_surge": "processing_rate",
        "volume_surge": "volume_surge",
        "outage": "volume",
    }


@pytest.mark.parametrize(
    ("incident", "status"),
    [
        (MORE_KINDS[0], "refunded"),
        (MORE_KINDS[1], "backend_reversed"),
        (MORE_KINDS[2], "processing"),
    ],
    ids=["refunded_surge", "backend_reversed_surge", "processing_surge"],
)
def test_new_share_incidents_raise_their_status(
    more_kinds, incident: Incident, status: str
) -> None:
    during = inside(more_kinds, incident)
    assert len(during) == incident.minutes
    assert share(during, status) == pytest.approx(incident.magnitude, abs=0.02)
    # The rest of the day keeps the real data set's share (none at all for processing).
    assert share(quiet(more_kinds, MORE_KINDS), status) == pytest.approx(
        BASE_SHARES.get(status, 0.0), abs=0.002
    )


def test_processing_exists_only_where_a_config_needs_it(tmp_path: Path, more_kinds) -> None:
    assert data_statuses(GeneratorConfig(days=1.0)) == STATUSES
    with_processing = GeneratorConfig(days=1.0, incidents=MORE_KINDS)
    assert data_statuses(with_processing) == (*STATUSES, "processing")
    assert all(counts["processing"] == 0 for _, counts in quiet(more_kinds, MORE_KINDS))
    summary = write_counts_csv(tmp_path / "day.csv", with_processing)
    rows = read_csv(summary.path)
    assert summary.rows == len(rows) == 1440 * (len(STATUSES) + 1)
    assert [row["status"] for row in rows[:7]] == [*STATUSES, "processing"]
    # Shares may name it too.
    shares = dict(BASE_SHARES, approved=BASE_SHARES["approved"] - 0.1, processing=0.1)
    assert data_statuses(GeneratorConfig(days=0.1, shares=shares))[-1] == "processing"


def test_volume_surge_multiplies_the_volume_in_the_usual_mix(more_kinds) -> None:
    incident = MORE_KINDS[3]
    during = inside(more_kinds, incident)
    normal = quiet(more_kinds, MORE_KINDS)
    mean_during = sum(volume(counts) for _, counts in during) / len(during)
    mean_normal = sum(volume(counts) for _, counts in normal) / len(normal)
    assert mean_during / mean_normal == pytest.approx(20.0, rel=0.02)
    for status in ("approved", "denied"):
        assert share(during, status) == pytest.approx(BASE_SHARES[status], abs=0.01)


def test_outage_takes_its_share_of_the_volume(more_kinds) -> None:
    full, most = MORE_KINDS[4], MORE_KINDS[5]
    assert all(volume(counts) == 0 for _, counts in inside(more_kinds, full))
    left = [volume(counts) for _, counts in inside(more_kinds, most)]
    assert sum(left) / len(left) == pytest.approx(0.05 * 126, rel=0.2)
    # The minutes either side are ordinary.
    for minute, counts in more_kinds:
        if minute in (full.started_at - timedelta(minutes=1), full.ended_at):
            assert volume(counts) > 80


# --- The business cycle ---------------------------------------------------------------------

MONDAY = datetime(2025, 7, 14)


@pytest.fixture(scope="module")
def business_week() -> tuple[GeneratorConfig, list[tuple[datetime, dict[str, int]]]]:
    config = GeneratorConfig(
        days=7.0, start=MONDAY, daily_cycle=True, cycle_shape="business", incidents=()
    )
    return config, list(minute_counts(config))


def mean_of(rows, keep) -> float:
    volumes = [volume(counts) for minute, counts in rows if keep(minute)]
    return sum(volumes) / len(volumes)


def hours_in(minute: datetime, first: float, last: float) -> bool:
    return first <= minute.hour + minute.minute / 60 < last


def test_business_nights_are_a_few_percent_of_the_afternoon_peak(business_week) -> None:
    config, rows = business_week
    weekdays = [row for row in rows if row[0].weekday() < 5]
    peak = mean_of(weekdays, lambda minute: hours_in(minute, 15.5, 16.5))
    night = mean_of(weekdays, lambda minute: hours_in(minute, 1, 7))
    assert 0.01 <= night / peak <= 0.10
    assert night / peak == pytest.approx(config.night_share, rel=0.1)
    assert 300 <= peak <= 500
    # The busiest hour is in the afternoon, the quietest around 04:00 UTC.
    by_hour = {hour: mean_of(weekdays, lambda m, hour=hour: m.hour == hour) for hour in range(24)}
    assert 15 <= max(by_hour, key=by_hour.__getitem__) <= 17
    assert 3 <= min(by_hour, key=by_hour.__getitem__) <= 4
    # A smooth ramp: no hour jumps by more than a third of the peak.
    for hour in range(24):
        assert abs(by_hour[hour] - by_hour[(hour + 1) % 24]) < peak / 3


def test_business_nights_have_minutes_without_any_traffic(business_week) -> None:
    config, rows = business_week
    assert min(expected_volume(config, minute) for minute, _ in rows) < 1
    empty = [minute for minute, counts in rows if volume(counts) == 0]
    assert len(empty) >= 20
    assert all(hours_in(minute, 2, 6) for minute in empty)


def test_business_weekends_are_lower_and_the_week_averages_the_base(business_week) -> None:
    config, rows = business_week
    weekday = mean_of(rows, lambda minute: minute.weekday() == 2)  # a Wednesday
    # A weekend runs from 04:00 on Saturday, where there is almost no traffic to step.
    sunday = mean_of(rows, lambda minute: minute.weekday() == 6)
    assert sunday / weekday == pytest.approx(config.weekend_factor, rel=0.03)
    friday_night = expected_volume(config, datetime(2025, 7, 19, 3, 0))
    saturday_early = expected_volume(config, datetime(2025, 7, 19, 5, 0))
    assert friday_night == pytest.approx(expected_volume(config, datetime(2025, 7, 18, 3, 0)))
    assert saturday_early == pytest.approx(
        config.weekend_factor * expected_volume(config, datetime(2025, 7, 18, 5, 0))
    )
    assert mean_of(rows, lambda minute: True) == pytest.approx(config.base_volume, rel=0.01)


def test_the_cycle_shape_fields_leave_other_configs_alone() -> None:
    cosine = GeneratorConfig(days=0.2, daily_cycle=True)
    assert list(minute_counts(cosine)) == list(
        minute_counts(
            GeneratorConfig(days=0.2, daily_cycle=True, night_share=0.08, weekend_factor=0.9)
        )
    )
    flat = GeneratorConfig(days=0.2, cycle_shape="business")  # daily_cycle off: flat
    assert {expected_volume(flat, minute) for minute, _ in minute_counts(flat)} == {126.0}


def test_an_incident_on_one_acquirer_moves_only_its_transactions() -> None:
    incident = generate.Incident(
        "failed_burst", datetime(2025, 7, 12, 6, 0), 30, 0.4, acquirer="cielo"
    )
    config = generate.GeneratorConfig(days=0.5, seed=5, incidents=(incident,))
    events = io.StringIO()
    generated_files.write_events(events, config)
    during = [
        row
        for row in csv.DictReader(io.StringIO(events.getvalue()))
        if "06:05" <= row["created_at"][11:16] < "06:30"
    ]
    failed_share = {
        name: sum(row["status"] == "failed" for row in rows) / len(rows)
        for name in ("cielo", "rede", "getnet", "stone")
        if (rows := [row for row in during if row["acquirer"] == name])
    }
    assert failed_share["cielo"] > 0.3
    assert all(share < 0.05 for name, share in failed_share.items() if name != "cielo")
    assert incident.series == "failed_rate[acquirer=cielo]"


def test_the_acquirers_counts_add_up_to_the_counts_file() -> None:
    incident = generate.Incident(
        "denied_surge", datetime(2025, 7, 12, 3, 0), 20, 0.3, acquirer="stone"
    )
    config = generate.GeneratorConfig(days=0.25, seed=9, incidents=(incident,))
    counts, by_acquirer = io.StringIO(), io.StringIO()
    generated_files.write_counts(counts, config)
    generated_files.write_acquirer_counts(by_acquirer, config)
    summed: Counter[tuple[str, str]] = Counter()
    for row in csv.DictReader(io.StringIO(by_acquirer.getvalue())):
        summed[(row["timestamp"], row["status"])] += int(row["count"])
    rows = list(csv.DictReader(io.StringIO(counts.getvalue())))
    assert rows and all(
        summed[(row["timestamp"], row["status"])] == int(row["count"]) for row in rows
    )


def test_an_unknown_acquirer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown acquirer 'nubank'; expected one of cielo"):
        generate.Incident("failed_burst", datetime(2025, 7, 12), 30, 0.2, acquirer="nubank")
