"""The detection benchmark's scenarios: what each plants, where, and that the plans hold for
the full two weeks and for a short run."""

from __future__ import annotations

import csv
import itertools
import math
from datetime import timedelta
from pathlib import Path

import pytest

from txmon.lab.generate import (
    KINDS,
    GeneratorConfig,
    Incident,
    expected_volume,
    minute_counts,
    resolved_incidents,
    total_minutes,
)
from txmon.lab.generated_files import (
    write_counts_csv,
)
from txmon.lab.scenarios import (
    BURST_MINUTES,
    SCENARIO_NAMES,
    SHIFT_MINUTES,
    STATUS_AMPLITUDES,
    detection_scenarios,
    pick_scenarios,
)

WARMUP = timedelta(days=2)
GAP = timedelta(hours=2)


@pytest.fixture(scope="module")
def two_weeks() -> dict[str, GeneratorConfig]:
    return dict(detection_scenarios())


@pytest.fixture(scope="module")
def three_days() -> dict[str, GeneratorConfig]:
    return dict(detection_scenarios(days=3))


def planted(config: GeneratorConfig) -> tuple[Incident, ...]:
    return resolved_incidents(config)


def lowest_volume(config: GeneratorConfig, incident: Incident) -> float:
    return min(
        expected_volume(config, incident.started_at + timedelta(minutes=step))
        for step in range(incident.minutes)
    )


def test_the_scenarios_are_named_once_each(two_weeks) -> None:
    assert len(SCENARIO_NAMES) >= 8
    assert len(set(SCENARIO_NAMES)) == len(SCENARIO_NAMES)
    assert list(two_weeks) == list(SCENARIO_NAMES)
    assert set(SCENARIO_NAMES) >= {
        "quiet-business",
        "bursts",
        "shifts",
        "night-and-peak",
        "outages",
        "surges",
        "all-statuses",
        "crisis",
        "long",
    }


@pytest.mark.parametrize("days", [14.0, 3.0, 2.5])
def test_incidents_fall_after_the_warm_up_inside_the_period_and_apart(days: float) -> None:
    for name, config in detection_scenarios(days):
        assert config.days == days, name
        end = config.start + timedelta(minutes=total_minutes(days))
        incidents = planted(config)
        if name != "quiet-business":
            assert incidents, name
        for incident in incidents:
            assert config.start + WARMUP <= incident.started_at, (name, incident)
            assert incident.ended_at <= end, (name, incident)
        for earlier, later in itertools.pairwise(incidents):
            assert earlier.ended_at + GAP <= later.started_at, (name, earlier, later)


def test_two_days_or_less_are_all_warm_up() -> None:
    for days in (2.0, 0.5):
        scenarios = detection_scenarios(days)
        assert [name for name, _ in scenarios] == list(SCENARIO_NAMES)
        assert all(planted(config) == () for _, config in scenarios)


def test_two_weeks_by_default_from_a_monday(two_weeks) -> None:
    for config in two_weeks.values():
        assert config.days == 14.0
        assert total_minutes(config.days) == 14 * 1440
        assert config.start.weekday() == 0


def test_every_kind_is_planted_somewhere(two_weeks) -> None:
    kinds = {incident.kind for config in two_weeks.values() for incident in planted(config)}
    assert kinds == set(KINDS)


def test_the_scenarios_are_the_same_every_time(tmp_path: Path) -> None:
    assert detection_scenarios() == detection_scenarios()
    assert detection_scenarios(3) == detection_scenarios(3)
    # Built twice from scratch: equal configs, and equal bytes written from them.
    ((_, first),) = pick_scenarios(["night-and-peak"], 3)
    ((_, second),) = pick_scenarios(["night-and-peak"], 3)
    assert first is not second and planted(first)
    assert list(minute_counts(first)) == list(minute_counts(second))
    one = write_counts_csv(tmp_path / "one.csv", first)
    two = write_counts_csv(tmp_path / "two.csv", second)
    assert one.path.read_bytes() == two.path.read_bytes()
    assert one.labels_path.read_bytes() == two.labels_path.read_bytes()


def test_quiet_business_plants_nothing_on_the_business_cycle(two_weeks) -> None:
    config = two_weeks["quiet-business"]
    assert planted(config) == ()
    assert config.daily_cycle and config.cycle_shape == "business"
    assert 0.01 <= config.night_share <= 0.10
    assert config.weekend_factor < 1
    peak = max(expected_volume(config, config.start + timedelta(minutes=m)) for m in range(1440))
    assert 300 <= peak <= 500
    deepest = min(expected_volume(config, config.start + timedelta(minutes=m)) for m in range(1440))
    assert deepest < 1


def test_bursts_cover_every_length_on_every_status_and_do_not_page(two_weeks) -> None:
    incidents = planted(two_weeks["bursts"])
    assert {(incident.kind, incident.minutes) for incident in incidents} == {
        (kind, minutes) for kind in STATUS_AMPLITUDES for minutes in range(3, 15)
    }
    assert set(BURST_MINUTES) == set(range(3, 15))
    assert not any(incident.must_page for incident in incidents)
    for incident in incidents:
        assert incident.magnitude == STATUS_AMPLITUDES[incident.kind]


def test_a_short_run_keeps_one_burst_of_each_length_first(three_days) -> None:
    lengths = [incident.minutes for incident in planted(three_days["bursts"])]
    assert len(set(lengths)) == len(lengths) >= 10


def test_shifts_last_and_page_at_the_bursts_amplitudes(two_weeks) -> None:
    incidents = planted(two_weeks["shifts"])
    assert {(incident.kind, incident.minutes) for incident in incidents} == {
        (kind, minutes) for kind in STATUS_AMPLITUDES for minutes in SHIFT_MINUTES
    }
    assert SHIFT_MINUTES == (15, 30, 45, 60)
    assert all(incident.must_page for incident in incidents)
    for incident in incidents:
        assert incident.magnitude == STATUS_AMPLITUDES[incident.kind]


def test_night_incidents_only_where_the_night_still_has_traffic(two_weeks) -> None:
    config = two_weeks["night-and-peak"]
    assert config.cycle_shape == "business"
    incidents = planted(config)
    night = [incident for incident in incidents if incident.started_at.hour < 6]
    peak = [incident for incident in incidents if 15 <= incident.started_at.hour < 18]
    assert len(night) + len(peak) == len(incidents) >= 20
    assert len(night) == len(peak)
    for incident in night:
        assert incident.kind in {"denied_surge", "failed_burst"}
        assert lowest_volume(config, incident) >= 10
    assert {incident.kind for incident in peak} == {
        "denied_surge",
        "failed_burst",
        "volume_drop",
        "outage",
    }
    assert {incident.started_at.weekday() for incident in incidents} == set(range(7))


def test_outages_strike_where_traffic_is_steady(two_weeks) -> None:
    config = two_weeks["outages"]
    incidents = planted(config)
    outages = [incident for incident in incidents if incident.kind == "outage"]
    assert {incident.magnitude for incident in outages} == {1.0, 0.95}
    assert all(5 <= incident.minutes <= 30 for incident in outages)
    assert {5, 30} <= {incident.minutes for incident in outages}
    assert all(lowest_volume(config, incident) >= 50 for incident in outages)
    assert all(incident.must_page for incident in outages)  # even the 5-minute ones
    drops = [(i.kind, i.minutes, i.magnitude) for i in incidents if i.kind == "volume_drop"]
    assert drops == [("volume_drop", 30, 0.6)]


def test_surges_include_card_testing(two_weeks) -> None:
    surges = {(i.magnitude, i.minutes) for i in planted(two_weeks["surges"])}
    assert {(20.0, 60), (5.0, 30), (3.0, 20)} <= surges


def test_all_statuses_raises_the_other_statuses_long_enough_to_page(two_weeks) -> None:
    incidents = planted(two_weeks["all-statuses"])
    assert {incident.kind for incident in incidents} == {
        "refunded_surge",
        "backend_reversed_surge",
        "processing_surge",
        "reversed_surge",
    }
    assert all(incident.minutes >= 15 and incident.must_page for incident in incidents)


def test_the_crisis_ends_the_period(two_weeks, three_days) -> None:
    for config in (two_weeks["crisis"], three_days["crisis"]):
        (crisis,) = planted(config)
        assert crisis.kind == "approval_collapse"
        assert crisis.ended_at == config.start + timedelta(minutes=total_minutes(config.days))


def test_long_degradations_last_hours_on_the_cosine_cycle(two_weeks) -> None:
    config = two_weeks["long"]
    assert config.daily_cycle and config.cycle_shape == "cosine"
    lasting = {(i.kind, i.minutes, i.magnitude) for i in planted(config)}
    assert lasting == {
        ("failed_burst", 360, 0.05),
        ("denied_surge", 240, 0.15),
        ("volume_drop", 180, 0.4),
    }


def test_a_scenario_file_gets_labels_txmon_eval_reads(tmp_path: Path, three_days) -> None:
    config = three_days["all-statuses"]
    summary = write_counts_csv(tmp_path / "all-statuses.csv", config)
    with summary.labels_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["metric", "start", "minutes", "must_page", "kind", "magnitude"]
    assert [row["metric"] for row in rows] == [incident.metric for incident in planted(config)]
    assert {row["must_page"] for row in rows} == {"true"}
    statuses = {line.split(",")[1] for line in summary.path.read_text().splitlines()[1:8]}
    assert "processing" in statuses


def test_a_subset_by_name_in_the_order_given() -> None:
    picked = pick_scenarios(["surges", "crisis", "surges"], days=3)
    assert [name for name, _ in picked] == ["surges", "crisis"]
    assert picked[0][1] == dict(detection_scenarios(3))["surges"]


@pytest.mark.parametrize(
    ("names", "days", "message"),
    [
        (["surges", "meltdown"], 14.0, "unknown scenario 'meltdown'; known: quiet-business, "),
        (["x", "y"], 14.0, "unknown scenarios 'x', 'y'; known: "),
        ([], 14.0, "no scenario named; known: quiet-business"),
        (["surges"], 0.02, "at least 61 minutes"),
        (["surges"], 0.0, "days must be positive"),
        (["surges"], math.nan, "days must be positive"),
        (["surges"], 5000.0, "days must be at most"),
        (["surges"], "14", "days must be a number"),
        (["surges"], True, "days must be a number"),
    ],
)
def test_bad_picks_name_what_is_known(names: list[str], days: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pick_scenarios(names, days)
