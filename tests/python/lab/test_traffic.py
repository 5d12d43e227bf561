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
