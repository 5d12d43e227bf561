"""Small formatters that the terminal tables, logs and alert messages share: a metric's value
(rates as percentages, counts as numbers), moments in UTC and durations for people.

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


def series_id(metric_name: str, dimension: str, dimension_value: str) -> str:
    """A series' id, as the models write it (macros/monitoring/series.sql): `failed_rate` for
    all transactions (dimension `all`), `failed_rate[acquirer=stone]` for one acquirer's."""
    return metric_name + _cut(dimension, dimension_value)


def series_label(metric_name: str, dimension: str, dimension_value: str) -> str:
    """How a message names a series, as the models' messages do: `FAILED_RATE [acquirer=stone]`."""
    cut = _cut(dimension, dimension_value)
    return metric_name.upper() + (f" {cut}" if cut else "")


def _cut(dimension: str, dimension_value: str) -> str:
    return "" if dimension == "all" else f"[{dimension}={dimension_value}]"


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z suffix: `2025-07-15T13:16:00Z`."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def format_minute_label(moment: datetime) -> str:
    """A minute for people to read, in UTC: `2025-07-15 13:16Z`."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%MZ")


SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


def format_duration(seconds: float | None) -> str:
    """A duration for people: `0.4 s`, `35 s`, `4 min 10 s`, `2 h 5 min`, `503 days 15 h 6 min`.

    Below a minute it keeps a decimal under ten seconds (build and dispatch times); above, it
    gives the two or three largest whole units, so a lag of months never reads as 43464344s.
    """
    number = finite(seconds)
    if number is None:
        return NOT_AVAILABLE
    sign, number = ("-", -number) if number < 0 else ("", number)
    if round(number, 1) < 10:
        return f"{sign}{number:.1f} s"
    if round(number) < SECONDS_PER_MINUTE:
        return f"{sign}{number:.0f} s"
    whole = round(number)
    days, rest = divmod(whole, SECONDS_PER_DAY)
    hours, rest = divmod(rest, SECONDS_PER_HOUR)
    minutes, secs = divmod(rest, SECONDS_PER_MINUTE)
    if days:
        parts = [(days, " day" if days == 1 else " days"), (hours, " h"), (minutes, " min")]
    elif hours:
        parts = [(hours, " h"), (minutes, " min")]
    else:
        parts = [(minutes, " min"), (secs, " s")]
    return sign + " ".join(f"{amount}{unit}" for amount, unit in parts if amount)


def format_minutes(minutes: float | None) -> str:
    """A number of minutes for people: `50 min`, `1 h 1 min`, `503 days 15 h 6 min`."""
    number = finite(minutes)
    if number is None:
        return NOT_AVAILABLE
    if number == 0:
        return "0 min"  # not 0.0 s: a count of minutes has no tenths of seconds
    return format_duration(number * SECONDS_PER_MINUTE)


def format_minute(moment: datetime) -> str:
    """The prototype's timestamp format, in UTC: 2025-07-15 13:44:00."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")
