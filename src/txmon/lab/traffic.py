"""The random draws behind one minute of generated traffic: how many transactions, how they
split over the statuses, how the daily (and weekly) cycle shapes the volume, how an incident
bends that minute, and the details of each transaction. `txmon.lab.generate` decides what to
generate and writes it; only the standard library is used, and every draw comes from the
`random.Random` it is given.

Shares are dicts ordered by status; the counts come back in the same order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

TROUGH_HOUR = 4.0  # daily cycle: lowest at 04:00 UTC, highest twelve hours later
# The business cycle's night: the six hours around the trough, whose mean volume is the
# configured share of the peak.
NIGHT_HOURS = (TROUGH_HOUR - 3.0, TROUGH_HOUR + 3.0)
WEEKEND_DAYS = (5, 6)  # Saturday and Sunday (datetime.weekday)
# Incident kinds whose magnitude is the share that one status is raised to.
RAISED_STATUS: dict[str, str] = {
    "failed_burst": "failed",
    "denied_surge": "denied",
    "reversed_surge": "reversed",
    "refunded_surge": "refunded",
    "backend_reversed_surge": "backend_reversed",
    "processing_surge": "processing",
}
COLLAPSE_STATUSES = ("failed", "denied")
MINOR_STATUSES = ("reversed", "refunded", "backend_reversed")

# Attribute mixes of the raw events (cumulative weights for `random.choices`).
CHANNELS = (("pos", "ecommerce", "mobile"), (0.55, 0.85, 1.0))
PRODUCTS = (("credit", "debit", "pix"), (0.5, 0.8, 1.0))
ACQUIRERS = (("cielo", "rede", "getnet", "stone"), (0.35, 0.65, 0.85, 1.0))
CARD_TYPES = (("visa", "mastercard", "elo"), (0.45, 0.85, 1.0))
DENIED_CODES = (("51", "59"), (0.7, 1.0))  # insufficient funds, suspected fraud


@cache
def acquirer_weights() -> dict[str, float]:
    """Each acquirer's share of the transactions (ACQUIRERS holds cumulative weights)."""
    names, cumulative = ACQUIRERS
    return {
        name: weight - previous
        for name, weight, previous in zip(names, cumulative, (0.0, *cumulative), strict=False)
    }


# --- Random draws ---------------------------------------------------------------------------


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean < 30:
        # Knuth: exact, and cheap while the mean is small.
        limit = math.exp(-mean)
        count = 0
        product = rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def binomial(rng: random.Random, trials: int, p: float) -> int:
    if trials <= 0 or p <= 0:
        return 0
    if p >= 1:
        return trials
    if p > 0.5:
        # Draw the rarer outcome: keeps the inversion loop short and q**n far from underflow.
        return trials - binomial(rng, trials, 1 - p)
    mean = trials * p
    if mean >= 10:
        spread = math.sqrt(mean * (1 - p))
        return min(trials, max(0, round(rng.gauss(mean, spread))))
    # Inversion: walk the pmf until the uniform draw is used up (few steps, mean < 10).
    q = 1 - p
    ratio = p / q
    scale = (trials + 1) * ratio
    mass = q**trials
    draw = rng.random()
    count = 0
    while draw > mass and count < trials:
        draw -= mass
        count += 1
        mass *= scale / count - ratio
    return count


def multinomial(rng: random.Random, total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split `total` over the statuses with sequential binomials; exact zeros for zero shares."""
    counts = dict.fromkeys(shares, 0)
    active = [status for status in shares if shares[status] > 0]
    remaining = total
    remaining_share = sum(shares[status] for status in active)
    for status in active[:-1]:
        if remaining == 0:
            break
        share = shares[status]
        p = share / remaining_share if remaining_share > share else 1.0
        drawn = binomial(rng, remaining, p)
        counts[status] = drawn
        remaining -= drawn
        remaining_share -= share
    if active:
        counts[active[-1]] += remaining
    return counts


# --- Incidents, minute by minute ------------------------------------------------------------


@dataclass(frozen=True)
class IncidentWindow:
    """An incident in minute offsets from the start of the data, with the failed/denied
    pattern of a collapse."""

    kind: str
    magnitude: float
    begin: int
    end: int
    dominant: tuple[str, ...] = ()

    def covers(self, index: int) -> bool:
        return self.begin <= index < self.end


def incident_window(
    kind: str, magnitude: float, begin: int, minutes: int, rng: random.Random
) -> IncidentWindow:
    dominant = collapse_pattern(rng, minutes) if kind == "approval_collapse" else ()
    return IncidentWindow(kind, magnitude, begin, begin + minutes, dominant)


def collapse_pattern(rng: random.Random, minutes: int) -> tuple[str, ...]:
    """Failed and denied take turns dominating, in random blocks of 1 to 5 minutes."""
    pattern: list[str] = []
    status = rng.choice(COLLAPSE_STATUSES)
    while len(pattern) < minutes:
        pattern.extend([status] * rng.randint(1, 5))
        status = "denied" if status == "failed" else "failed"
    return tuple(pattern[:minutes])


def raise_share(shares: dict[str, float], status: str, target: float) -> dict[str, float]:
    """Set one status's share; the difference comes out of (or goes back to) approved. A
    status with no share yet (or none at all) can be raised too: it joins at the end."""
    raised = dict(shares)
    raised.setdefault(status, 0.0)
    raised["approved"] -= target - raised[status]
    raised[status] = target
    if raised["approved"] < 0:
        # Approved cannot cover it all: shrink the other statuses to fit beside the target.
        raised["approved"] = 0.0
        others = [other for other in shares if other != status]
        rest = sum(raised[other] for other in others)
        for other in others:
            raised[other] = raised[other] * (1 - target) / rest if rest > 0 else 0.0
    return raised


def collapse_shares(base: dict[str, float], dominant: str, rng: random.Random) -> dict[str, float]:
    """No approvals; one of failed/denied takes most of the minute, the other most of the rest."""
    top = rng.uniform(0.8, 0.95)
    runner_up = "denied" if dominant == "failed" else "failed"
    minor_base = sum(base[status] for status in MINOR_STATUSES)
    leftover = 1 - top
    shares = dict.fromkeys(base, 0.0)
    shares[dominant] = top
    shares[runner_up] = leftover * (0.8 if minor_base > 0 else 1.0)
    if minor_base > 0:
        for status in MINOR_STATUSES:
            shares[status] = leftover * 0.2 * base[status] / minor_base
    return shares


def cycle_factor(minute: datetime, amplitude: float) -> float:
    """The daily cycle's multiple of the base volume at this minute."""
    hours = minute.hour + minute.minute / 60
    return 1.0 - amplitude * math.cos(2 * math.pi * (hours - TROUGH_HOUR) / 24)


# --- The business cycle ---------------------------------------------------------------------
# A raised cosine (0 at the 04:00 trough, 1 at 16:00) to a power: the higher the power, the
# deeper and wider the night. The power is chosen so that the night's mean is the asked share
# of the peak; the trough itself falls below one transaction a minute, as real nights do.


def _raised_cosine(hours: float) -> float:
    return (1.0 - math.cos(2 * math.pi * (hours - TROUGH_HOUR) / 24)) / 2


def _day_shape(hours: float, sharpness: float) -> float:
    return _raised_cosine(hours) ** sharpness


def _mean_shape(sharpness: float, first_hour: float, last_hour: float) -> float:
    """Mean of the shape over the whole minutes of [first_hour, last_hour)."""
    first, last = round(first_hour * 60), round(last_hour * 60)
    return sum(_day_shape(m / 60, sharpness) for m in range(first, last)) / (last - first)


@cache
def business_sharpness(night_share: float) -> float:
    """The power whose night mean is `night_share` of the peak (bisection: the night mean
    falls as the power grows)."""
    low, high = 0.01, 100.0
    for _ in range(60):
        middle = math.sqrt(low * high)
        if _mean_shape(middle, *NIGHT_HOURS) > night_share:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


@cache
def _business_scale(night_share: float, weekend_factor: float) -> float:
    """Peak over the base volume: makes a whole week average the base volume."""
    day_mean = _mean_shape(business_sharpness(night_share), 0.0, 24.0)
    week_mean = (5 + 2 * weekend_factor) / 7
    return 1.0 / (day_mean * week_mean)


def is_weekend(minute: datetime) -> bool:
    """Saturday and Sunday, counted from trough to trough (04:00 Saturday to 04:00 Monday):
    the step to and from the weekend falls where there is almost no traffic to step."""
    return (minute - timedelta(hours=TROUGH_HOUR)).weekday() in WEEKEND_DAYS


def business_factor(minute: datetime, night_share: float, weekend_factor: float) -> float:
    """The business cycle's multiple of the base volume at this minute: afternoon peak,
    deep nights, quieter weekends; a whole week averages 1."""
    hours = minute.hour + minute.minute / 60
    factor = _business_scale(night_share, weekend_factor) * _day_shape(
        hours, business_sharpness(night_share)
    )
    return factor * weekend_factor if is_weekend(minute) else factor


def incident_minute(
    window: IncidentWindow,
    offset: int,
    base: dict[str, float],
    shares: dict[str, float],
    volume: float,
    rng: random.Random,
) -> tuple[dict[str, float], float]:
    """The shares and expected volume of one minute inside an incident."""
    if window.kind in RAISED_STATUS:
        return raise_share(shares, RAISED_STATUS[window.kind], window.magnitude), volume
    if window.kind in ("volume_drop", "outage"):
        return shares, volume * (1 - window.magnitude)
    if window.kind == "volume_surge":
        # Card testing: many more attempts, in the usual mix.
        return shares, volume * window.magnitude
    # approval_collapse: a jittered multiple of the volume, like the real crisis hour.
    jitter = rng.uniform(0.8, 1.2)
    shares = collapse_shares(base, window.dominant[offset], rng)
    return shares, volume * window.magnitude * jitter


# --- One row per transaction ----------------------------------------------------------------


def minute_events(
    rng: random.Random,
    seed: int,
    first_number: int,
    minute: datetime,
    counts: dict[str, int],
    pinned: dict[str, dict[str, int]] | None = None,
) -> list[tuple[object, ...]]:
    """The rows of one minute, in time order; statuses shuffled over the minute. `pinned`
    holds the counts of acquirers under an incident of their own: those transactions get that
    acquirer, the others one of the rest."""
    if pinned:
        return _pinned_minute_events(rng, seed, first_number, minute, counts, pinned)
    statuses = [status for status in counts for _ in range(counts[status])]
    size = len(statuses)
    if size == 0:
        return []
    rng.shuffle(statuses)
    random_ = rng.random
    offsets = sorted(int(random_() * 60_000) for _ in range(size))
    channels = rng.choices(CHANNELS[0], cum_weights=CHANNELS[1], k=size)
    products = rng.choices(PRODUCTS[0], cum_weights=PRODUCTS[1], k=size)
    acquirers = rng.choices(ACQUIRERS[0], cum_weights=ACQUIRERS[1], k=size)
    return _rows(rng, seed, first_number, minute, statuses, offsets, acquirers, channels, products)


def _pinned_minute_events(
    rng: random.Random,
    seed: int,
    first_number: int,
    minute: datetime,
    counts: dict[str, int],
    pinned: dict[str, dict[str, int]],
) -> list[tuple[object, ...]]:
    others = {name: weight for name, weight in acquirer_weights().items() if name not in pinned}
    pairs: list[tuple[str, str | None]] = []
    for status, count in counts.items():
        left = count - sum(part.get(status, 0) for part in pinned.values())
        pairs.extend((status, None) for _ in range(left))
    for name, part in pinned.items():
        pairs.extend((status, name) for status, count in part.items() for _ in range(count))
    size = len(pairs)
    if size == 0:
        return []
    rng.shuffle(pairs)
    offsets = sorted(int(rng.random() * 60_000) for _ in range(size))
    channels = rng.choices(CHANNELS[0], cum_weights=CHANNELS[1], k=size)
    products = rng.choices(PRODUCTS[0], cum_weights=PRODUCTS[1], k=size)
    drawn = rng.choices(list(others), weights=list(others.values()), k=size)
    acquirers = [name or other for (_, name), other in zip(pairs, drawn, strict=True)]
    statuses = [status for status, _ in pairs]
    return _rows(rng, seed, first_number, minute, statuses, offsets, acquirers, channels, products)


def _rows(
    rng: random.Random,
    seed: int,
    first_number: int,
    minute: datetime,
    statuses: list[str],
    offsets: list[int],
    acquirers: list[str],
    channels: list[str],
    products: list[str],
) -> list[tuple[object, ...]]:
    size = len(statuses)
    cards = rng.choices(CARD_TYPES[0], cum_weights=CARD_TYPES[1], k=size)
    prefix = minute.strftime("%Y-%m-%d %H:%M")
    rows = []
    for position in range(size):
        status = statuses[position]
        millis = offsets[position]
        # Log-normal amounts: most purchases small, a long tail of large ones.
        amount = max(1.0, math.exp(rng.gauss(4.2, 0.9)))
        duration = min(5_000, max(80, round(rng.gauss(600, 150))))
        rows.append(
            (
                f"tx-{seed}-{first_number + position + 1}",
                f"{prefix}:{millis // 1000:02d}.{millis % 1000:03d}",
                status,
                f"{amount:.2f}",
                channels[position],
                products[position],
                acquirers[position],
                cards[position],
                auth_code(rng, status),
                duration,
            )
        )
    return rows


def auth_code(rng: random.Random, status: str) -> str:
    if status == "approved":
        return "00"
    if status == "denied":
        return rng.choices(DENIED_CODES[0], cum_weights=DENIED_CODES[1])[0]
    return ""
