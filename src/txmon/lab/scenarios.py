"""The detection benchmark's scenarios: named generator configs that plant every kind of
incident a payments risk team cares about, on realistic traffic.

Each scenario covers `days` days (14 by default) from a Monday. Its incidents start after a
warm-up of two days (the monitor learns daily profiles from past days) and are at least two
hours apart, spread evenly over the rest of the period (see `place`); those that must fall at
a time of day (night, peak) or need a minimum of traffic take the first such time after their
turn. The plans are fixed and the times within a turn come from a stream seeded by the
scenario, so the same `days` always give the same configs.

Fewer days mean fewer incidents: an incident that does not fit before the end is left out, in
plan order, so the first ones of each plan are the ones a short run keeps (the plans put one
of each length or kind first). From three days on every scenario has incidents; with 2.5 to 3
days some plans keep only a few, and two days or less are all warm-up: no incident at all
(not even the crisis), which still serves to time a run or check a name.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from txmon.lab.generate import (
    CRISIS_MINUTES,
    MINUTES_PER_DAY,
    GeneratorConfig,
    Incident,
    crisis_scenario,
    expected_volume,
    total_minutes,
)

SCENARIO_START = datetime(2025, 7, 14)  # a Monday: the warm-up is two ordinary weekdays
DEFAULT_DAYS = 14.0
WARMUP_DAYS = 2.0
GAP_MINUTES = 120  # quiet time between incidents, so each one is judged on its own
MAX_JITTER_MINUTES = 45  # keeps incidents bound to hours off the hour where there is room
BASE_VOLUME = 126.0  # the real data set's transactions a minute

# The same amplitude per status for bursts (under 15 minutes) and lasting shifts.
STATUS_AMPLITUDES: dict[str, float] = {
    "denied_surge": 0.3,
    "reversed_surge": 0.1,
    "failed_burst": 0.05,
    "backend_reversed_surge": 0.05,
}
BURST_MINUTES = tuple(range(3, 15))
SHIFT_MINUTES = (15, 30, 45, 60)
ANY_HOUR = (0.0, 24.0)
NIGHT_START_HOURS = (1.0, 6.0)  # UTC hours a night incident may start in
PEAK_START_HOURS = (15.0, 18.0)  # the business cycle peaks at 16:00 UTC
NIGHT_MIN_VOLUME = 10.0  # below this a share at night is noise, not an incident
OUTAGE_MIN_VOLUME = 50.0  # an outage is only plain where traffic is normally steady


@dataclass(frozen=True)
class Planned:
    """An incident still to place: what it is, and when it may start."""

    kind: str
    minutes: int
    magnitude: float
    hours: tuple[float, float] = ANY_HOUR  # UTC hours of the day its start may fall in
    min_volume: float = 0.0  # expected transactions a minute it needs throughout


# --- Placement ------------------------------------------------------------------------------


def place(config: GeneratorConfig, plan: Sequence[Planned]) -> tuple[Incident, ...]:
    """The plan's incidents in `config`'s period, after the warm-up and apart by the gap.

    The period after the warm-up is cut in equal turns, one per incident. An incident free to
    start at any hour starts at a random time of its turn (so a plan does not keep to one time
    of day); one bound to hours takes the first time that suits it from its turn on, a few
    minutes later where that suits too. One that no longer fits before the end is left out."""
    first = round(WARMUP_DAYS * MINUTES_PER_DAY)
    last = total_minutes(config.days)
    if not plan or last <= first:
        return ()
    turn = (last - first) / len(plan)
    rng = random.Random(f"txmon-scenario-{config.seed}")
    cursor = first
    placed: list[Incident] = []
    for number, item in enumerate(plan):
        room = max(0, int(turn) - item.minutes - GAP_MINUTES)
        spread, jitter = rng.randint(0, room), rng.randint(0, min(MAX_JITTER_MINUTES, room))
        bound = item.hours != ANY_HOUR
        earliest = max(cursor, first + round(number * turn) + (0 if bound else spread))
        offset = _first_fit(config, item, earliest, last)
        if offset is None:
            continue
        if bound and _fits(config, item, offset + jitter, last):
            offset += jitter
        started_at = config.start + timedelta(minutes=offset)
        placed.append(Incident(item.kind, started_at, item.minutes, item.magnitude))
        cursor = offset + item.minutes + GAP_MINUTES
    return tuple(placed)


def _first_fit(config: GeneratorConfig, item: Planned, earliest: int, last: int) -> int | None:
    """The first start minute from `earliest` that suits the item; None if there is none."""
    for offset in range(earliest, last - item.minutes + 1):
        if _fits(config, item, offset, last):
            return offset
    return None


def _fits(config: GeneratorConfig, item: Planned, offset: int, last: int) -> bool:
    """Whether the item may start `offset` minutes in: in its hours, with enough traffic
    throughout, over by `last`."""
    if offset + item.minutes > last:
        return False
    minute = config.start + timedelta(minutes=offset)
    low, high = item.hours
    if not low <= minute.hour + minute.minute / 60 < high:
        return False
    return not item.min_volume or all(
        expected_volume(config, minute + timedelta(minutes=step)) >= item.min_volume
        for step in range(item.minutes)
    )


def _planned(config: GeneratorConfig, plan: Sequence[Planned]) -> GeneratorConfig:
    return replace(config, incidents=place(config, plan))


# --- Traffic --------------------------------------------------------------------------------


def _flat(days: float, seed: int) -> GeneratorConfig:
    return GeneratorConfig(
        days=days, start=SCENARIO_START, seed=seed, base_volume=BASE_VOLUME, incidents=()
    )


def _cosine(days: float, seed: int) -> GeneratorConfig:
    """Half the mean at 04:00 UTC, one and a half times it at 16:00: never under 60 a minute."""
    return replace(_flat(days, seed), daily_cycle=True, cycle_amplitude=0.5)


def _business(days: float, seed: int) -> GeneratorConfig:
    """Afternoon peak of about 300 a minute, nights of 3 % of it (under one transaction a
    minute around 04:00 UTC), weekends at 60 % of a weekday."""
    return replace(
        _flat(days, seed),
        daily_cycle=True,
        cycle_shape="business",
        night_share=0.03,
        weekend_factor=0.6,
    )


# --- The scenarios --------------------------------------------------------------------------


def quiet_business(days: float) -> GeneratorConfig:
    """Nothing planted: a good monitor opens no episode at all."""
    return _business(days, seed=201)


def bursts(days: float) -> GeneratorConfig:
    """Every burst length from 3 to 14 minutes on each of four statuses; none must page.
    Each round of twelve has every length once, the kinds turning."""
    kinds = tuple(STATUS_AMPLITUDES)
    plan = []
    for number in range(len(BURST_MINUTES) * len(kinds)):
        length = number % len(BURST_MINUTES)
        kind = kinds[(length + number // len(BURST_MINUTES)) % len(kinds)]
        plan.append(Planned(kind, BURST_MINUTES[length], STATUS_AMPLITUDES[kind]))
    return _planned(_cosine(days, seed=202), plan)


def shifts(days: float) -> GeneratorConfig:
    """Lasting shifts of 15 to 60 minutes at the bursts' amplitudes; every one must page."""
    kinds = tuple(STATUS_AMPLITUDES)
    plan = []
    for number in range(len(SHIFT_MINUTES) * len(kinds)):
        length = number % len(SHIFT_MINUTES)
        kind = kinds[(length + number // len(SHIFT_MINUTES)) % len(kinds)]
        plan.append(Planned(kind, SHIFT_MINUTES[length], STATUS_AMPLITUDES[kind]))
    return _planned(_cosine(days, seed=203), plan)


NIGHT_PLAN = (
    Planned("denied_surge", 30, 0.5, NIGHT_START_HOURS, NIGHT_MIN_VOLUME),
    Planned("failed_burst", 20, 0.2, NIGHT_START_HOURS, NIGHT_MIN_VOLUME),
    Planned("denied_surge", 10, 0.5, NIGHT_START_HOURS, NIGHT_MIN_VOLUME),
)
PEAK_PLAN = (
    Planned("denied_surge", 30, 0.3, PEAK_START_HOURS),
    Planned("outage", 10, 1.0, PEAK_START_HOURS, OUTAGE_MIN_VOLUME),
    Planned("failed_burst", 10, 0.1, PEAK_START_HOURS),
    Planned("volume_drop", 30, 0.6, PEAK_START_HOURS),
    Planned("failed_burst", 45, 0.05, PEAK_START_HOURS),
    Planned("outage", 20, 0.95, PEAK_START_HOURS, OUTAGE_MIN_VOLUME),
)


def night_and_peak(days: float) -> GeneratorConfig:
    """A night incident (where the night still has 10 transactions a minute) and a peak one
    each day after the warm-up, on the business cycle."""
    days_after_warmup = max(1, math.floor(days - WARMUP_DAYS))
    plan = []
    for day in range(days_after_warmup):
        plan.append(NIGHT_PLAN[day % len(NIGHT_PLAN)])
        plan.append(PEAK_PLAN[day % len(PEAK_PLAN)])
    return _planned(_business(days, seed=204), plan)


def outages(days: float) -> GeneratorConfig:
    """Outages of 5 to 30 minutes (all traffic, or 95 % of it) where at least 50 a minute is
    normal, and one lasting drop to 40 %."""
    plan = [
        Planned("outage", 5, 1.0, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 30, 0.95, min_volume=OUTAGE_MIN_VOLUME),
        Planned("volume_drop", 30, 0.6),
        Planned("outage", 10, 1.0, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 20, 0.95, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 15, 1.0, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 5, 0.95, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 30, 1.0, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 10, 0.95, min_volume=OUTAGE_MIN_VOLUME),
        Planned("outage", 25, 1.0, min_volume=OUTAGE_MIN_VOLUME),
    ]
    return _planned(_cosine(days, seed=205), plan)


def surges(days: float) -> GeneratorConfig:
    """Card testing: twenty times the traffic for an hour, then smaller and shorter surges."""
    plan = [
        Planned("volume_surge", 60, 20.0),
        Planned("volume_surge", 30, 5.0),
        Planned("volume_surge", 20, 3.0),
        Planned("volume_surge", 45, 10.0),
        Planned("volume_surge", 15, 4.0),
        Planned("volume_surge", 30, 2.0),
    ]
    return _planned(_cosine(days, seed=206), plan)


def all_statuses(days: float) -> GeneratorConfig:
    """The statuses the other scenarios leave alone, each raised for 15 minutes or more
    (processing is a status the normal traffic does not have)."""
    plan = [
        Planned("refunded_surge", 30, 0.1),
        Planned("backend_reversed_surge", 30, 0.05),
        Planned("processing_surge", 30, 0.05),
        Planned("reversed_surge", 30, 0.1),
        Planned("refunded_surge", 60, 0.05),
        Planned("backend_reversed_surge", 15, 0.03),
        Planned("processing_surge", 15, 0.2),
        Planned("reversed_surge", 60, 0.05),
    ]
    return _planned(_cosine(days, seed=207), plan)


def crisis(days: float) -> GeneratorConfig:
    """The real data set's approval collapse: its last 61 minutes, on flat traffic (none when
    they would fall in the warm-up)."""
    config = crisis_scenario(days=days, seed=7, start=SCENARIO_START, base_volume=BASE_VOLUME)
    warmup_end = config.start + timedelta(days=WARMUP_DAYS)
    if any(incident.started_at < warmup_end for incident in config.incidents or ()):
        return replace(config, incidents=())
    return config


LONG_PLAN = (
    Planned("failed_burst", 360, 0.05),
    Planned("denied_surge", 240, 0.15),
    Planned("volume_drop", 180, 0.4),
)


def long_degradations(days: float) -> GeneratorConfig:
    """Hours-long degradations, twice at different times of day: a monitor must keep paging,
    not learn them as normal within the hour."""
    plan = [*LONG_PLAN, *LONG_PLAN[2:], *LONG_PLAN[:2]]
    return _planned(_cosine(days, seed=77), plan)


SCENARIOS: dict[str, Callable[[float], GeneratorConfig]] = {
    "quiet-business": quiet_business,
    "bursts": bursts,
    "shifts": shifts,
    "night-and-peak": night_and_peak,
    "outages": outages,
    "surges": surges,
    "all-statuses": all_statuses,
    "crisis": crisis,
    "long": long_degradations,
}
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)


def detection_scenarios(days: float = DEFAULT_DAYS) -> list[tuple[str, GeneratorConfig]]:
    """Every scenario, by name, each `days` days long."""
    return pick_scenarios(SCENARIO_NAMES, days)


def pick_scenarios(
    names: Iterable[str], days: float = DEFAULT_DAYS
) -> list[tuple[str, GeneratorConfig]]:
    """The named scenarios in the order given (each once), each `days` days long."""
    _check_days(days)
    chosen = list(dict.fromkeys(name.strip() for name in names))
    if not chosen:
        raise ValueError(f"no scenario named; known: {', '.join(SCENARIO_NAMES)}")
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))};"
            f" known: {', '.join(SCENARIO_NAMES)}"
        )
    return [(name, SCENARIOS[name](float(days))) for name in chosen]


def _check_days(days: float) -> None:
    """A number the generator takes (it names the limits), and long enough for a crisis."""
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise ValueError(f"days must be a number of days, got {days!r}")
    GeneratorConfig(days=float(days), start=SCENARIO_START, incidents=())
    if total_minutes(days) < CRISIS_MINUTES:
        raise ValueError(f"scenarios need at least {CRISIS_MINUTES} minutes, got days={days:g}")
