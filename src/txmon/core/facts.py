"""Facts the whole package shares, each defined once: schema names, the severities and their
tiers (read from the dbt seed, which is the one place to change them) and the episode id.

May import: the standard library and `txmon.core.paths`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal, get_args

from txmon.core.paths import dbt_project_dir

# Where raw rows land (the dbt var `raw_schema` defaults to the same name).
RAW_SCHEMA = "txmon_raw"
# The views users, the API and Superset read.
PUBLIC_SCHEMA = "monitoring"
# Build state and the alert outbox: txmon's own bookkeeping.
INTERNAL_SCHEMA = "txmon"

HEALTHY = "HEALTHY"
SEVERITY_SEED = "severity_levels.csv"


@dataclass(frozen=True)
class SeverityLevel:
    """One tier: its name, the minutes of persistence that earn it and its rank (0 = HEALTHY)."""

    name: str
    min_minutes: int
    rank: int


@cache
def severity_levels() -> tuple[SeverityLevel, ...]:
    """The tiers from `seeds/severity_levels.csv`, lowest first."""
    path = dbt_project_dir() / "seeds" / SEVERITY_SEED
    with path.open(newline="") as handle:
        levels = [
            SeverityLevel(
                row["severity"], int(row["min_episode_minutes"]), int(row["severity_rank"])
            )
            for row in csv.DictReader(handle)
        ]
    return tuple(sorted(levels, key=lambda level: level.rank))


def severity_order() -> tuple[str, ...]:
    """Severity names from HEALTHY up."""
    return tuple(level.name for level in severity_levels())


def severity_rank(name: str) -> int | None:
    """The rank of a severity name (case-insensitive), None when it is not one."""
    for level in severity_levels():
        if level.name == name.upper():
            return level.rank
    return None


def alerting_severities() -> tuple[str, ...]:
    """The severities that page: every tier above HEALTHY."""
    return tuple(level.name for level in severity_levels() if level.rank > 0)


# The minute an episode started, as it appears in `episode_id` (`<metric>@<minute>`); the dbt
# macro `format_minute` writes the same text.
EPISODE_MINUTE_FORMAT = "%Y-%m-%dT%H:%MZ"


def episode_minute(moment: datetime) -> str:
    """A minute as written in episode ids and alert keys: `2025-07-15T12:47Z`."""
    return moment.astimezone(UTC).strftime(EPISODE_MINUTE_FORMAT)


# Where a notification stands in the outbox (monitoring.alert_log.status).
DeliveryState = Literal["pending", "sent", "failed", "suppressed"]
DELIVERY_STATES: tuple[str, ...] = get_args(DeliveryState)
