"""Facts the whole package shares, each defined once: schema names, the severities and their
tiers (read from the dbt seed, which is the one place to change them) and the episode id.

May import: the standard library, `txmon.core.errors` and `txmon.core.paths`.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from txmon.core.errors import TxmonError
from txmon.core.paths import dbt_project_dir

# Where raw rows land (the dbt var `raw_schema` defaults to the same name).
RAW_SCHEMA = "txmon_raw"
# Build state, the intermediate and fact tables, the seeds: the schema of the dbt target that
# txmon builds and reads (`prod` in profiles.yml).
INTERNAL_SCHEMA = "txmon"

# The views users, the API and Superset read, and the alert tables beside them. The one place
# to change it is this variable: txmon reads it here, and dbt through dbt_project.yml (the var
# public_schema defaults to it; `txmon db env` exports it for plain dbt).
PUBLIC_SCHEMA_VARIABLE = "TXMON_PUBLIC_SCHEMA"
DEFAULT_PUBLIC_SCHEMA = "monitoring"
# An unquoted PostgreSQL identifier that stays as written (no folding, no truncation); dbt's
# generate_schema_name checks the same rule.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Names the public schema must not take: the reader role would see everything in them.
_RESERVED_SCHEMAS = {RAW_SCHEMA, INTERNAL_SCHEMA, "information_schema"}


def check_public_schema(name: str) -> str:
    """`name` if the public views can live in a schema of that name, else a one-line error."""
    if not _SCHEMA_NAME.fullmatch(name) or name.startswith("pg_") or name in _RESERVED_SCHEMAS:
        raise TxmonError(
            f"{PUBLIC_SCHEMA_VARIABLE}={name!r} is not a usable schema name: use lower-case "
            "letters, digits and _ (at most 63, not starting with a digit or pg_), other than "
            f"{', '.join(sorted(_RESERVED_SCHEMAS))}"
        )
    return name


@cache
def public_schema() -> str:
    """The public schema's name: $TXMON_PUBLIC_SCHEMA, else `monitoring`."""
    configured = os.environ.get(PUBLIC_SCHEMA_VARIABLE, "").strip()
    return check_public_schema(configured or DEFAULT_PUBLIC_SCHEMA)


def __getattr__(name: str) -> str:
    # PUBLIC_SCHEMA is looked up when first imported, not when this module loads: a bad name
    # is then a one-line error of the command that reads the views, never a traceback of
    # `txmon --help`.
    if name == "PUBLIC_SCHEMA":
        return public_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


DIMENSIONS_SEED = "monitored_dimensions.csv"


def monitored_dimensions() -> tuple[str, ...]:
    """The dimensions of `seeds/monitored_dimensions.csv`: the names a counts file's dimension
    column and an API item's `dimension` may have. Read again when the seed was edited."""
    path = dbt_project_dir() / "seeds" / DIMENSIONS_SEED
    return _dimensions_in(path, path.stat().st_mtime_ns)


@cache
def _dimensions_in(path: Path, modified_ns: int) -> tuple[str, ...]:
    with path.open(newline="") as handle:
        return tuple(sorted(row["dimension_name"] for row in csv.DictReader(handle)))


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
