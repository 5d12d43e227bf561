"""The small formatters the terminal tables and the alert messages share."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from txmon.core.formatting import finite, format_minute_label, format_utc, format_value


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
