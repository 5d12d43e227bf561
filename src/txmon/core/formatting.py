"""Small formatters that the terminal tables and the alert messages share: a metric's value
(rates as percentages, counts as numbers) and moments in UTC.

May import: the standard library only.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

NOT_AVAILABLE = "n/a"


def finite(number: float | None) -> float | None:
    """The number as a float, or None when it is missing, NaN or infinite.

    psycopg gives Decimal for numeric columns, and neither JSON nor a person can use NaN.
    """
    if number is None:
        return None
    number = float(number)
    return number if math.isfinite(number) else None


def format_value(metric_name: str, value: float | None) -> str:
    """Rates (stored as fractions) as percentages with 2 decimals; counts as plain numbers."""
    number = finite(value)
    if number is None:
        return NOT_AVAILABLE
    if metric_name.endswith("_rate"):
        return f"{number * 100:.2f}%"
    if number.is_integer():
        return str(int(number))
    return f"{number:.2f}"


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z suffix: `2025-07-15T13:16:00Z`."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def format_minute_label(moment: datetime) -> str:
    """A minute for people to read, in UTC: `2025-07-15 13:16Z`."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%MZ")
