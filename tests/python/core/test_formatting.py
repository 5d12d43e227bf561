"""The small formatters the terminal tables, logs and alert messages share."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from txmon.core.formatting import (
    finite,
    format_duration,
    format_minute_label,
    format_minutes,
    format_utc,
    format_value,
)


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("failed_rate", 0.0412, "4.12%"),
        ("approval_rate", Decimal("0.9243"), "92.43%"),
        ("volume", 105.0, "105"),
        ("volume", 94.7, "94.70"),
        ("volume", None, "n/a"),
        ("failed_rate", math.nan, "n/a"),
        ("volume", math.inf, "n/a"),
    ],
)
def test_format_value(metric: str, value: float | None, text: str) -> None:
    assert format_value(metric, value) == text


def test_finite_turns_decimals_into_floats() -> None:
    assert finite(Decimal("1.5")) == 1.5
    assert finite(-math.inf) is None


def test_moments_are_written_in_utc() -> None:
    summer = datetime(2025, 7, 15, 15, 16, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(summer) == "2025-07-15T13:16:00Z"
    assert format_utc(datetime(2025, 7, 15, 13, 16)) == "2025-07-15T13:16:00Z"  # naive is UTC
    assert format_minute_label(summer) == "2025-07-15 13:16Z"
    assert format_minute_label(datetime(2025, 7, 15, 13, 16, tzinfo=UTC)) == "2025-07-15 13:16Z"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0.0 s"),
        (0.24, "0.2 s"),
        (1.44, "1.4 s"),
        (9.96, "10 s"),  # rounds up past the one-decimal range
        (35.2, "35 s"),
        (59.6, "1 min"),
        (250, "4 min 10 s"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
        (86_400, "1 day"),
        (90_000, "1 day 1 h"),
        (43_464_344, "503 days 1 h 25 min"),  # a data lag once printed as 43464344s
        (-5, "-5.0 s"),
        (math.nan, "n/a"),
        (math.inf, "n/a"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0 min"),
        (1, "1 min"),
        (50, "50 min"),
        (61, "1 h 1 min"),
        (1440, "1 day"),
        (725_226, "503 days 15 h 6 min"),  # a stale-data alert once said "725226 minutes"
        (None, "n/a"),
    ],
)
def test_format_minutes(minutes: float | None, text: str) -> None:
    assert format_minutes(minutes) == text
