"""The random draws behind generated traffic: exact totals, zero shares stay zero, incidents
bend a minute's shares without breaking them."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from txmon.lab import traffic
from txmon.lab.generate import BASE_SHARES, STATUSES


@pytest.fixture()
def rng() -> random.Random:
    return random.Random(11)


@pytest.mark.parametrize("total", [0, 1, 7, 126, 5_000])
def test_multinomial_splits_the_whole_total_in_status_order(rng: random.Random, total: int) -> None:
    counts = traffic.multinomial(rng, total, dict(BASE_SHARES))
    assert list(counts) == list(STATUSES)
    assert sum(counts.values()) == total
    assert all(count >= 0 for count in counts.values())


def test_zero_shares_draw_exact_zeros(rng: random.Random) -> None:
    shares = dict.fromkeys(STATUSES, 0.0) | {"approved": 0.5, "failed": 0.5}
    for _ in range(200):
        counts = traffic.multinomial(rng, 50, shares)
        assert {status for status, count in counts.items() if count} <= {"approved", "failed"}


def test_binomial_stays_within_its_trials(rng: random.Random) -> None:
    assert traffic.binomial(rng, 0, 0.3) == 0
    assert traffic.binomial(rng, 10, 0.0) == 0
    assert traffic.binomial(rng, 10, 1.0) == 10
    for p in (0.001, 0.2, 0.7, 0.999):
        draws = [traffic.binomial(rng, 40, p) for _ in range(300)]
        assert all(0 <= draw <= 40 for draw in draws)
        assert sum(draws) / len(draws) == pytest.approx(40 * p, abs=2.0)


def test_poisson_mean(rng: random.Random) -> None:
    assert traffic.poisson(rng, 0) == 0
    for mean in (3.0, 126.0):
        draws = [traffic.poisson(rng, mean) for _ in range(2_000)]
        assert sum(draws) / len(draws) == pytest.approx(mean, rel=0.05)


@pytest.mark.parametrize("target", [0.05, 0.5, 0.99])
def test_a_raised_share_keeps_the_shares_a_distribution(target: float) -> None:
    raised = traffic.raise_share(dict(BASE_SHARES), "failed", target)
    assert raised["failed"] == target
    assert sum(raised.values()) == pytest.approx(1.0)
    assert all(share >= 0 for share in raised.values())


def test_a_collapse_minute_has_no_approvals(rng: random.Random) -> None:
    window = traffic.incident_window("approval_collapse", 5.0, 10, 30, rng)
    assert window.covers(10) and window.covers(39) and not window.covers(40)
    assert set(window.dominant) == {"failed", "denied"} and len(window.dominant) == 30
    shares, volume = traffic.incident_minute(window, 0, BASE_SHARES, BASE_SHARES, 100.0, rng)
    assert shares["approved"] == 0
    assert sum(shares.values()) == pytest.approx(1.0)
    assert 400 <= volume <= 600


def test_the_daily_cycle_is_lowest_at_the_trough_hour() -> None:
    trough = datetime(2025, 7, 12, int(traffic.TROUGH_HOUR))
    peak = trough.replace(hour=(int(traffic.TROUGH_HOUR) + 12) % 24)
    assert traffic.cycle_factor(trough, 0.5) == pytest.approx(0.5)
    assert traffic.cycle_factor(peak, 0.5) == pytest.approx(1.5)


def test_one_row_per_transaction_in_time_order(rng: random.Random) -> None:
    counts = dict.fromkeys(STATUSES, 0) | {"approved": 3, "denied": 2}
    rows = traffic.minute_events(rng, 42, 10, datetime(2025, 7, 12, 9, 30), counts)
    assert [row[0] for row in rows] == [f"tx-42-{number}" for number in range(11, 16)]
    assert [row[1] for row in rows] == sorted(row[1] for row in rows)
    assert all(row[1].startswith("2025-07-12 09:30:") for row in rows)
    assert sorted(row[2] for row in rows) == ["approved"] * 3 + ["denied"] * 2
    assert {row[8] for row in rows if row[2] == "approved"} == {"00"}
    nobody = dict.fromkeys(STATUSES, 0)
    assert traffic.minute_events(rng, 42, 0, datetime(2025, 7, 12), nobody) == []


@pytest.mark.parametrize("shares", [dict(BASE_SHARES), dict(BASE_SHARES, processing=0.0)])
def test_a_status_without_a_share_can_be_raised(shares: dict[str, float]) -> None:
    raised = traffic.raise_share(shares, "processing", 0.2)
    assert list(raised) == [*STATUSES, "processing"]
    assert raised["processing"] == 0.2
    assert raised["approved"] == pytest.approx(BASE_SHARES["approved"] - 0.2)
    assert sum(raised.values()) == pytest.approx(1.0)
    # Even past what approved can give: the others shrink to fit.
    crowded = traffic.raise_share(shares, "processing", 0.99)
    assert crowded["approved"] == 0 and crowded["processing"] == 0.99
    assert sum(crowded.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kind", "magnitude", "expected"),
    [("volume_surge", 20.0, 2000.0), ("outage", 0.95, 5.0), ("outage", 1.0, 0.0)],
)
def test_volume_incidents_scale_the_volume_and_keep_the_shares(
    rng: random.Random, kind: str, magnitude: float, expected: float
) -> None:
    window = traffic.incident_window(kind, magnitude, 0, 10, rng)
    shares, volume = traffic.incident_minute(window, 0, BASE_SHARES, BASE_SHARES, 100.0, rng)
    assert shares == BASE_SHARES
    assert volume == pytest.approx(expected)


def test_the_business_cycle_peaks_in_the_afternoon_and_rests_on_weekends() -> None:
    wednesday, sunday = datetime(2025, 7, 16), datetime(2025, 7, 20)
    day = [wednesday.replace(hour=hour) for hour in range(24)]
    factors = [traffic.business_factor(minute, 0.03, 0.6) for minute in day]
    assert factors.index(max(factors)) == 16
    assert factors.index(min(factors)) == int(traffic.TROUGH_HOUR)
    assert min(factors) == 0.0 < factors[0]
    assert traffic.business_factor(sunday.replace(hour=16), 0.03, 0.6) == pytest.approx(
        0.6 * max(factors)
    )
    # A deeper night is a sharper day: a higher peak for the same mean.
    assert traffic.business_sharpness(0.01) > traffic.business_sharpness(0.1)
    assert traffic.business_factor(day[16], 0.01, 0.6) > max(factors)


def test_weekends_run_from_saturday_to_monday_at_the_trough() -> None:
    assert not traffic.is_weekend(datetime(2025, 7, 19, 3, 59))  # Saturday before 04:00
    assert traffic.is_weekend(datetime(2025, 7, 19, 4, 0))
    assert traffic.is_weekend(datetime(2025, 7, 21, 3, 59))  # Monday before 04:00
    assert not traffic.is_weekend(datetime(2025, 7, 21, 4, 0))
