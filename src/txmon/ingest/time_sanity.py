"""Time sanity: one rule, for files and API batches alike, that refuses timestamps which would
break or bloat the minute grid the models build.

May import: `txmon.ingest.raw_tables`, `txmon.core`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from txmon.core.config import Ingest
from txmon.core.facts import RAW_SCHEMA
from txmon.core.formatting import format_duration
from txmon.ingest.raw_tables import PARTITIONED_RAW_TABLES

# The clock and the first and last time of each data table.
_SPAN = "select clock_timestamp(), " + ", ".join(
    f"(select {end}({column}) from {RAW_SCHEMA}.{table})"
    for table, column in PARTITIONED_RAW_TABLES.items()
    for end in ("min", "max")
)


class TimeSanity:
    """Refuses timestamps far ahead of the clock or far from the other data.

    A time is refused when it is more than `future_horizon_minutes` after the clock (the
    database's), or when it lies more than `max_gap_days` outside the span of the data: the
    minutes already in the raw tables plus the rows of the same file or batch accepted before
    it. A time inside that span, or close enough to it, is accepted and widens the span, so no
    accepted row ever opens a gap longer than the limit. Rows are judged in their order in the
    input; in an empty database the first valid row starts the span. The state is two
    timestamps, so a file of any size is judged in one pass in constant memory.
    """

    AHEAD = "ahead_of_clock"
    GAP = "gap_too_long"

    def __init__(self, conn: psycopg.Connection, rules: Ingest) -> None:
        row = conn.execute(_SPAN).fetchone()
        assert row is not None
        now, *ends = row
        self.horizon = timedelta(minutes=rules.future_horizon_minutes)
        self.max_gap = timedelta(days=rules.max_gap_days)
        self.latest_allowed: datetime = now + self.horizon
        self.now: datetime = now
        stored = [at for at in ends if at is not None]
        self.low: datetime | None = min(stored) if stored else None
        self.high: datetime | None = max(stored) if stored else None

    def accepts_all(self, earliest: datetime, latest: datetime) -> bool:
        """Whether every time in [earliest, latest] is acceptable now; if so, the span takes
        them in. Judging them one by one would accept them all too, since the span only grows:
        a batch inside the span (the usual case) costs two comparisons, not one per row."""
        if self.low is None or self.high is None or latest > self.latest_allowed:
            return False
        if earliest < self.low - self.max_gap or latest > self.high + self.max_gap:
            return False
        self.low, self.high = min(self.low, earliest), max(self.high, latest)
        return True

    def judge(self, at: datetime) -> tuple[str, str] | None:
        """None when `at` is acceptable (the span then includes it), else (code, reason)."""
        if at > self.latest_allowed:
            return self.AHEAD, (
                f"timestamp {_utc_text(at)} is {_duration(at - self.now)} ahead of the clock "
                f"({_utc_text(self.now)}); at most {self.horizon.total_seconds() / 60:,.0f} "
                "minute(s) ahead are accepted ([ingest] future_horizon_minutes)"
            )
        if self.low is None or self.high is None:
            self.low = self.high = at
            return None
        if at < self.low - self.max_gap:
            return self.GAP, self._gap_reason(at, self.low - at, "before the oldest")
        if at > self.high + self.max_gap:
            return self.GAP, self._gap_reason(at, at - self.high, "after the newest")
        self.low, self.high = min(self.low, at), max(self.high, at)
        return None

    def _gap_reason(self, at: datetime, gap: timedelta, where: str) -> str:
        edge = self.low if where.endswith("oldest") else self.high
        assert edge is not None
        return (
            f"timestamp {_utc_text(at)} is {_duration(gap)} {where} data ({_utc_text(edge)}): "
            f"a gap of more than {self.max_gap.days} day(s) is refused ([ingest] max_gap_days)"
        )


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    return format_duration(span.total_seconds())
