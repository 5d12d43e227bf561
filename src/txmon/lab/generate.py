"""Synthetic payment transactions with labelled incidents, to exercise and score the monitor.

The normal traffic is calibrated to a real payments data set: about 126 transactions a minute,
92.5% approved, 5.6% denied, 0.8% reversed, 0.8% refunded, 0.2% reversed by the backend and
0.05% failed. Incidents are injected at known minutes and listed in a labels file beside the
data (`<stem>.labels.csv`, in the shape `txmon eval` reads), so what the monitor finds can be
compared with what was planted. The volume is flat, follows a cosine daily cycle, or a business
cycle (afternoon peak, nights of a few percent of it, quieter weekends).

Two shapes are drawn from the same per-minute draw (`minute_counts`, with the random draws
of `txmon.lab.traffic`): aggregated counts (`timestamp,status,count`) and one row per
transaction. Everything is deterministic from the seed; only the standard library is used.

Over 400 lines: the incident kinds, their placement and the per-minute draw share one
configuration and one draw order. The files are written by `txmon.lab.generated_files`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from txmon.lab import traffic

STATUSES: tuple[str, ...] = (
    "approved",
    "denied",
    "reversed",
    "refunded",
    "backend_reversed",
    "failed",
)
# Statuses the real data set does not have, written only when a config needs them.
OPTIONAL_STATUSES: tuple[str, ...] = ("processing",)
ALL_STATUSES: tuple[str, ...] = STATUSES + OPTIONAL_STATUSES
# Shares measured on the real data set; approved takes the rounding so they sum to 1.
BASE_SHARES: dict[str, float] = {
    "approved": 0.9255,
    "denied": 0.056,
    "reversed": 0.008,
    "refunded": 0.008,
    "backend_reversed": 0.002,
    "failed": 0.0005,
}

# Incident kind -> the monitor metric it should move.
METRIC_BY_KIND: dict[str, str] = {
    "failed_burst": "failed_rate",
    "denied_surge": "denied_rate",
    "reversed_surge": "reversed_rate",
    "volume_drop": "volume",
    "approval_collapse": "approval_rate",
    "refunded_surge": "refunded_rate",
    "backend_reversed_surge": "backend_reversed_rate",
    "processing_surge": "processing_rate",
    "volume_surge": "volume_surge",
    "outage": "volume",
}
KINDS: tuple[str, ...] = tuple(METRIC_BY_KIND)
# Valid magnitudes, low < magnitude <= high (low <= magnitude for the kinds in
# INCLUSIVE_LOW). The *_surge and failed_burst magnitudes are the share their status is raised
# to; volume_drop and outage take that share of the volume away; volume_surge (card testing)
# and approval_collapse multiply the volume.
MAGNITUDE_RANGES: dict[str, tuple[float, float]] = {
    "failed_burst": (0.0, 1.0),
    "denied_surge": (0.0, 1.0),
    "reversed_surge": (0.0, 1.0),
    "volume_drop": (0.0, 1.0),
    "approval_collapse": (0.0, 20.0),
    "refunded_surge": (0.0, 1.0),
    "backend_reversed_surge": (0.0, 1.0),
    "processing_surge": (0.0, 1.0),
    "volume_surge": (1.0, 50.0),
    "outage": (0.9, 1.0),  # nearly everything gone: what tells an outage from a drop
}
INCLUSIVE_LOW: frozenset[str] = frozenset({"outage"})
# Magnitudes the default plan draws from: large enough that a good monitor must see them.
DEFAULT_MAGNITUDES: dict[str, tuple[float, float]] = {
    "failed_burst": (0.05, 0.2),
    "denied_surge": (0.15, 0.35),
    "reversed_surge": (0.05, 0.1),
    "volume_drop": (0.6, 1.0),
}
CRISIS_VOLUME_MULTIPLIER = 5.0
CRISIS_MINUTES = 61  # the real data set's crisis hour
# An incident this long must page: the minutes of persistence of the INFO tier (the
# severity_levels seed). Shorter ones are bursts a monitor may let pass. An outage is no burst:
# the volume gone for a few minutes is already CRITICAL, so outages must page from
# OUTAGE_PAGE_MINUTES on.
PAGE_MINUTES = 15
OUTAGE_PAGE_MINUTES = 3

CycleShape = Literal["cosine", "business"]
CYCLE_SHAPES: tuple[str, ...] = get_args(CycleShape)
MAX_NIGHT_SHARE = 0.5  # a night busier than half the peak is no night
MAX_WEEKEND_FACTOR = 2.0  # weekends may be busier (retail), within reason

MINUTES_PER_DAY = 1440
# Bounds that keep a typo from writing for hours: ten years of minutes, and a hundred thousand
# transactions a minute (a thousand times the default).
MAX_DAYS = 3660
MAX_BASE_VOLUME = 100_000
WARMUP_MINUTES = 6 * 60  # the monitor needs history before the first default incident
INCIDENT_GAP_MINUTES = 60  # quiet time between default incidents so each one ends cleanly


TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Incident:
    """An anomaly planted in the data from `started_at` for `minutes` minutes: in all the
    traffic, or only in one acquirer's transactions."""

    kind: str
    started_at: datetime
    minutes: int
    magnitude: float
    acquirer: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in METRIC_BY_KIND:
            raise ValueError(
                f"unknown incident kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int):
            raise ValueError(f"{self.kind}: minutes must be an integer, got {self.minutes!r}")
        if self.minutes <= 0:
            raise ValueError(f"{self.kind}: minutes must be positive, got {self.minutes}")
        _check_magnitude(self.kind, self.magnitude)
        _check_minute(self.started_at, f"{self.kind}: started_at")
        if self.acquirer is not None and self.acquirer not in traffic.acquirer_weights():
            raise ValueError(
                f"{self.kind}: unknown acquirer {self.acquirer!r}; expected one of"
                f" {', '.join(traffic.acquirer_weights())}"
            )

    @property
    def ended_at(self) -> datetime:
        """The first minute after the incident (exclusive end)."""
        return self.started_at + timedelta(minutes=self.minutes)

    @property
    def metric(self) -> str:
        return METRIC_BY_KIND[self.kind]

    @property
    def series(self) -> str:
        """The series that shows it: the metric, and its acquirer when it has one."""
        if self.acquirer is None:
            return self.metric
        return f"{self.metric}[acquirer={self.acquirer}]"

    @property
    def must_page(self) -> bool:
        """Long enough that a monitor must page for it (the INFO tier's minutes; an outage's
        fewer)."""
        return self.minutes >= (OUTAGE_PAGE_MINUTES if self.kind == "outage" else PAGE_MINUTES)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate; `incidents=None` means the default plan from `default_incidents`.

    With `daily_cycle`, `cycle_shape` picks the day: "cosine" swings `cycle_amplitude` around
    the base volume; "business" peaks at 16:00 UTC, its night (01:00-07:00) averages
    `night_share` of the peak, and Saturday and Sunday carry `weekend_factor` of a weekday's
    traffic. Either way `base_volume` is the mean (a whole week's, for "business")."""

    days: float = 3.0
    start: datetime = datetime(2025, 7, 12, 0, 0)  # naive UTC, on a whole minute
    seed: int = 42
    base_volume: float = 126.0
    daily_cycle: bool = False
    cycle_amplitude: float = 0.5
    shares: dict[str, float] = field(default_factory=lambda: dict(BASE_SHARES))
    incidents: tuple[Incident, ...] | None = None
    cycle_shape: CycleShape = "cosine"
    night_share: float = 0.03
    weekend_factor: float = 0.6

    def __post_init__(self) -> None:
        # Fail at construction, not halfway through writing a file.
        if not (math.isfinite(self.days) and self.days > 0):
            raise ValueError(f"days must be positive, got {self.days!r}")
        if self.days > MAX_DAYS:
            raise ValueError(f"days must be at most {MAX_DAYS} (ten years), got {self.days:g}")
        if total_minutes(self.days) < 1:
            raise ValueError(f"days={self.days!r} is shorter than one minute")
        _check_minute(self.start, "start")
        if datetime.max - self.start < timedelta(minutes=total_minutes(self.days)):
            raise ValueError(
                f"{self.days:g} days from {self.start:{TIMESTAMP_FORMAT}} end after the year 9999"
            )
        if not (math.isfinite(self.base_volume) and 0 <= self.base_volume <= MAX_BASE_VOLUME):
            raise ValueError(
                f"base_volume must be from 0 to {MAX_BASE_VOLUME:,} a minute, "
                f"got {self.base_volume!r}"
            )
        if not 0 <= self.cycle_amplitude <= 1:
            raise ValueError(f"cycle_amplitude must be in [0, 1], got {self.cycle_amplitude!r}")
        self._check_business_cycle()
        _normalised_shares(self.shares, ALL_STATUSES)
        if self.incidents is not None:
            for incident in self.incidents:
                _check_incident_in_range(incident, self)

    def _check_business_cycle(self) -> None:
        if self.cycle_shape not in CYCLE_SHAPES:
            raise ValueError(
                f"cycle_shape must be one of {', '.join(CYCLE_SHAPES)}, got {self.cycle_shape!r}"
            )
        if not (
            isinstance(self.night_share, int | float) and 0 < self.night_share <= MAX_NIGHT_SHARE
        ):
            raise ValueError(
                f"night_share must be in (0, {MAX_NIGHT_SHARE:g}] of the peak, "
                f"got {self.night_share!r}"
            )
        if not (
            isinstance(self.weekend_factor, int | float)
            and 0 < self.weekend_factor <= MAX_WEEKEND_FACTOR
        ):
            raise ValueError(
                f"weekend_factor must be in (0, {MAX_WEEKEND_FACTOR:g}] of a weekday, "
                f"got {self.weekend_factor!r}"
            )


def total_minutes(days: float) -> int:
    return round(days * MINUTES_PER_DAY)


def _check_magnitude(kind: str, magnitude: float) -> None:
    low, high = MAGNITUDE_RANGES[kind]
    inclusive = kind in INCLUSIVE_LOW
    valid = isinstance(magnitude, int | float) and math.isfinite(magnitude)
    if valid:
        valid = (low <= magnitude if inclusive else low < magnitude) and magnitude <= high
    if not valid:
        bracket = "[" if inclusive else "("
        raise ValueError(
            f"{kind}: magnitude must be in {bracket}{low:g}, {high:g}], got {magnitude!r}"
        )


def _check_minute(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        raise ValueError(f"{name} must be a naive UTC datetime, got {value.isoformat()}")
    if value.second or value.microsecond:
        raise ValueError(f"{name} must fall on a whole minute, got {value.isoformat()}")


def _check_incident_in_range(incident: Incident, config: GeneratorConfig) -> None:
    if not isinstance(incident, Incident):
        raise ValueError(f"incidents must be Incident objects, got {incident!r}")
    end = config.start + timedelta(minutes=total_minutes(config.days))
    if not config.start <= incident.started_at < end:
        raise ValueError(
            f"{incident.kind} starting at {incident.started_at:{TIMESTAMP_FORMAT}} is outside "
            f"the data range [{config.start:{TIMESTAMP_FORMAT}}, {end:{TIMESTAMP_FORMAT}})"
        )
    if incident.ended_at > end:
        raise ValueError(
            f"{incident.kind} starting at {incident.started_at:{TIMESTAMP_FORMAT}} runs "
            f"{incident.minutes} minutes, past the end of the data at {end:{TIMESTAMP_FORMAT}}"
        )


def _normalised_shares(shares: dict[str, float], statuses: Sequence[str]) -> dict[str, float]:
    """The shares over `statuses`, in their order, summing to 1."""
    unknown = sorted(set(shares) - set(statuses))
    if unknown:
        raise ValueError(f"unknown statuses in shares: {', '.join(unknown)}")
    values = {status: float(shares.get(status, 0.0)) for status in statuses}
    if any(not math.isfinite(value) or value < 0 for value in values.values()):
        raise ValueError(f"shares must be finite and non-negative, got {shares!r}")
    total = sum(values.values())
    # Tolerate rounding in hand-written shares, not a typo that changes the data.
    if abs(total - 1.0) > 0.01:
        raise ValueError(f"shares must sum to 1, got {total:.4f}")
    return {status: value / total for status, value in values.items()}


# --- Incident plans -------------------------------------------------------------------------


def default_incidents(start: datetime, days: float, rng: random.Random) -> tuple[Incident, ...]:
    """About two incidents a day, 20-60 minutes each, apart, and none in the first 6 hours."""
    minutes = total_minutes(days)
    wanted = round(2 * days)
    # Every kind shows up before any repeats, in a seed-dependent order.
    kinds = list(DEFAULT_MAGNITUDES)
    rng.shuffle(kinds)
    taken: list[tuple[int, int]] = []
    incidents: list[Incident] = []
    for number in range(wanted):
        kind = kinds[number % len(kinds)]
        duration = rng.randint(20, 60)
        offset = _free_offset(rng, taken, duration, minutes)
        if offset is None:
            continue
        taken.append((offset, offset + duration))
        low, high = DEFAULT_MAGNITUDES[kind]
        magnitude = round(rng.uniform(low, high), 3)
        started_at = start + timedelta(minutes=offset)
        incidents.append(Incident(kind, started_at, duration, magnitude))
    return tuple(sorted(incidents, key=lambda incident: incident.started_at))


def _free_offset(
    rng: random.Random, taken: Sequence[tuple[int, int]], duration: int, minutes: int
) -> int | None:
    """A start minute after the warm-up, clear of the taken windows; None if none is found."""
    last = minutes - duration
    if last < WARMUP_MINUTES:
        return None
    for _ in range(200):
        offset = rng.randint(WARMUP_MINUTES, last)
        if all(
            offset + duration + INCIDENT_GAP_MINUTES <= begin
            or offset >= end + INCIDENT_GAP_MINUTES
            for begin, end in taken
        ):
            return offset
    return None


def resolved_incidents(config: GeneratorConfig) -> tuple[Incident, ...]:
    """The incidents planted in `config`'s data: the given ones, or the default plan."""
    if config.incidents is None:
        # A separate stream keeps the plan independent of the traffic draws.
        rng = random.Random(f"txmon-incidents-{config.seed}")
        incidents = default_incidents(config.start, config.days, rng)
    else:
        incidents = tuple(config.incidents)
    for incident in incidents:
        _check_incident_in_range(incident, config)
    return tuple(sorted(incidents, key=lambda incident: incident.started_at))


def data_statuses(config: GeneratorConfig) -> tuple[str, ...]:
    """The statuses written for `config`: the real data set's, plus an optional one only when
    the shares or a planted incident use it (so existing files keep their shape)."""
    raised = {traffic.RAISED_STATUS.get(incident.kind) for incident in resolved_incidents(config)}
    used = {status for status, value in config.shares.items() if value} | raised
    return STATUSES + tuple(status for status in OPTIONAL_STATUSES if status in used)


def crisis_scenario(
    days: float = 3.0, seed: int = 7, crisis_minutes: int = CRISIS_MINUTES, **options: Any
) -> GeneratorConfig:
    """Normal traffic whose last `crisis_minutes` minutes are an approval collapse, as in the
    real data set; no other incident. `options` are further GeneratorConfig fields."""
    base = GeneratorConfig(days=days, seed=seed, incidents=(), **options)
    minutes = total_minutes(days)
    if crisis_minutes < 1:
        raise ValueError(f"crisis_minutes must be positive, got {crisis_minutes}")
    if crisis_minutes > minutes:
        raise ValueError(
            f"a crisis of crisis_minutes={crisis_minutes} needs at least that many minutes of"
            f" data; days={days:g} gives {minutes}"
        )
    crisis = Incident(
        "approval_collapse",
        base.start + timedelta(minutes=minutes - crisis_minutes),
        crisis_minutes,
        CRISIS_VOLUME_MULTIPLIER,
    )
    return replace(base, incidents=(crisis,))


# --- Per-minute traffic ---------------------------------------------------------------------


def expected_volume(config: GeneratorConfig, minute: datetime) -> float:
    """The mean transactions of a minute before any incident: base volume times the cycle."""
    volume = config.base_volume
    if config.daily_cycle:
        if config.cycle_shape == "business":
            volume *= traffic.business_factor(minute, config.night_share, config.weekend_factor)
        else:
            volume *= traffic.cycle_factor(minute, config.cycle_amplitude)
    return volume


# The counts of one minute: by status for all its transactions, and by status for the
# transactions of each acquirer that an incident of its own was planted on (a part of them).
MinuteParts = tuple[datetime, dict[str, int], dict[str, dict[str, int]]]


def minute_counts(config: GeneratorConfig) -> Iterator[tuple[datetime, dict[str, int]]]:
    """Every minute of the data, in order, with the count of each status of `data_statuses`
    (zeros included)."""
    for minute, counts, _ in minute_parts(config):
        yield minute, counts


def minute_parts(config: GeneratorConfig) -> Iterator[MinuteParts]:
    """`minute_counts` with, for each acquirer under an incident of its own that minute, the
    counts of its transactions (included in the minute's). Its share of the traffic is drawn
    apart with the incident's shares, the rest with the minute's; with no such incident the
    draws are the same as without acquirers."""
    base = _normalised_shares(config.shares, data_statuses(config))
    rng = random.Random(config.seed)
    incidents = resolved_incidents(config)
    windows = [
        traffic.incident_window(
            incident.kind,
            incident.magnitude,
            int((incident.started_at - config.start).total_seconds()) // 60,
            incident.minutes,
            rng,
        )
        for incident in incidents
    ]
    weights = traffic.acquirer_weights()
    for index in range(total_minutes(config.days)):
        minute = config.start + timedelta(minutes=index)
        volume = expected_volume(config, minute)
        shares = base
        scoped = []
        for window, incident in zip(windows, incidents, strict=True):
            if not window.covers(index):
                continue
            if incident.acquirer is None:
                shares, volume = traffic.incident_minute(
                    window, index - window.begin, base, shares, volume, rng
                )
            else:
                scoped.append((window, incident.acquirer))
        if not scoped:
            yield minute, traffic.multinomial(rng, traffic.poisson(rng, volume), shares), {}
            continue
        pinned: dict[str, dict[str, int]] = {}
        rest = volume
        for window, acquirer in scoped:
            part = volume * weights[acquirer]
            rest -= part
            part_shares, part = traffic.incident_minute(
                window, index - window.begin, base, shares, part, rng
            )
            pinned[acquirer] = traffic.multinomial(rng, traffic.poisson(rng, part), part_shares)
        counts = traffic.multinomial(rng, traffic.poisson(rng, max(rest, 0.0)), shares)
        for part_counts in pinned.values():
            for status, count in part_counts.items():
                counts[status] += count
        yield minute, counts, pinned
