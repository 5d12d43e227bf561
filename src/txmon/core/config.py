"""txmon's settings file (TOML): the model's dbt vars, alerting rules, delivery and channels.

Looked up in this order: the --config option, `TXMON_CONFIG`, `./txmon.toml`. Without a file
the defaults apply: the prototype's tiers (from the severity_levels seed), recovery after 5
healthy minutes, no reminders, stale after 10 minutes, and one channel printing to stdout.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txmon.core.errors import TxmonError
from txmon.core.paths import dbt_project_dir

CONFIG_VARIABLE = "TXMON_CONFIG"
DEFAULT_FILE = "txmon.toml"


@dataclass(frozen=True)
class Rules:
    # Older spelling of [model] recovery_minutes, still accepted.
    recovery_minutes: int | None = None
    # Reminders for an episode still at CRITICAL or above, every this many minutes; 0 = off.
    repeat_interval_minutes: int = 0
    # The latest minute older than this (against the clock) is stale: its own alert.
    stale_after_minutes: int = 10
    # Events older than this (against the latest minute) are logged but never sent: a first
    # dispatch on old data, or a rebuild that rewrites history, must not page anyone.
    max_event_age_minutes: int = 120


@dataclass(frozen=True)
class Delivery:
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    # How long one `txmon dispatch` waits for retries that are due soon before it exits.
    max_wait_seconds: float = 60.0


@dataclass(frozen=True)
class SchedulerRules:
    # Failed build cycles in a row before the scheduler raises its own alert; 0 = never.
    alert_after_failed_cycles: int = 3
    # Every data test (over all history) runs in one cycle this often; other cycles run one
    # check of the rows they wrote. 0 = every cycle.
    full_tests_every_minutes: int = 60


@dataclass(frozen=True)
class Ingest:
    """Time sanity for `txmon load` and POST /transactions (txmon.ingest.loading.TimeSanity)."""

    # Rows stamped more than this many minutes after the clock are refused: a wrong time zone
    # or a typo, never a transaction that happened.
    future_horizon_minutes: int = 10
    # A row that would open a gap of more than this many days between the data already stored
    # (plus the rows accepted before it) and itself is refused: the minute grid never spans it.
    max_gap_days: int = 7


MAX_FUTURE_HORIZON_MINUTES = 366 * 24 * 60
MAX_GAP_DAYS = 3660


@dataclass(frozen=True)
class Retention:
    # Days of raw data kept back from the newest minute, applied once a day by the scheduler
    # (`txmon prune`); 0 = keep everything. Whole days go, never minutes an open episode or
    # the baseline's warm-up still needs.
    keep_days: int = 0


MAX_KEEP_DAYS = 100 * 366


@dataclass(frozen=True)
class Settings:
    rules: Rules = field(default_factory=Rules)
    delivery: Delivery = field(default_factory=Delivery)
    scheduler: SchedulerRules = field(default_factory=SchedulerRules)
    ingest: Ingest = field(default_factory=Ingest)
    retention: Retention = field(default_factory=Retention)
    channels: tuple[dict[str, Any], ...] = ({"type": "stdout"},)
    # The model's knobs ([model]), passed to dbt; their defaults live in macros/settings.sql.
    model: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# The largest number any setting takes (minutes, seconds or attempts).
MAX_SETTING = 10_000_000


def _section(data: dict[str, Any], name: str, kind: type, path: Path) -> Any:
    values = data.get(name, {})
    if not isinstance(values, dict):
        raise TxmonError(f"{path}: [{name}] must be a table")
    known = set(kind.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise TxmonError(f"{path}: unknown key(s) in [{name}]: {', '.join(unknown)}")
    defaults = kind()
    checked: dict[str, Any] = {}
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        if getattr(defaults, key) is None:
            expected = int
        # nan, inf and numbers past any sensible setting are typos that overflow timers.
        if isinstance(value, int | float) and not 0 <= value <= MAX_SETTING:
            raise TxmonError(f"{path}: [{name}] {key} must be from 0 to {MAX_SETTING:,}")
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) or value < 0:
            raise TxmonError(f"{path}: [{name}] {key} must be a non-negative {expected.__name__}")
        checked[key] = value
    return kind(**checked)


def _checked_ingest(ingest: Ingest, path: Path) -> Ingest:
    if not 1 <= ingest.max_gap_days <= MAX_GAP_DAYS:
        raise TxmonError(f"{path}: [ingest] max_gap_days must be from 1 to {MAX_GAP_DAYS}")
    if ingest.future_horizon_minutes > MAX_FUTURE_HORIZON_MINUTES:
        raise TxmonError(
            f"{path}: [ingest] future_horizon_minutes must be at most "
            f"{MAX_FUTURE_HORIZON_MINUTES} (a year)"
        )
    return ingest


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    chosen = path or os.environ.get(CONFIG_VARIABLE)
    if chosen is None:
        default = Path.cwd() / DEFAULT_FILE
        if not default.exists():
            return Settings()
        chosen = default
    config_path = Path(chosen)
    if not config_path.is_file():
        raise TxmonError(f"config file {config_path} does not exist")
    try:
        data = tomllib.loads(config_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TxmonError(f"{config_path} is not valid TOML: {error}") from error
    sections = {"model", "rules", "delivery", "scheduler", "ingest", "retention", "channels"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise TxmonError(f"{config_path}: unknown section(s): {', '.join(unknown)}")
    channels = data.get("channels", [{"type": "stdout"}])
    if not isinstance(channels, list) or not all(isinstance(item, dict) for item in channels):
        raise TxmonError(f"{config_path}: channels must be [[channels]] tables")
    settings = Settings(
        rules=_section(data, "rules", Rules, config_path),
        delivery=_section(data, "delivery", Delivery, config_path),
        scheduler=_section(data, "scheduler", SchedulerRules, config_path),
        ingest=_checked_ingest(_section(data, "ingest", Ingest, config_path), config_path),
        retention=_section(data, "retention", Retention, config_path),
        channels=tuple(channels),
        model=_model_section(data, config_path),
        path=config_path,
    )
    if "recovery_minutes" in settings.model and settings.rules.recovery_minutes is not None:
        raise TxmonError(
            f"{config_path}: recovery_minutes is set in [model] and in [rules]; keep [model]"
        )
    if settings.retention.keep_days > MAX_KEEP_DAYS:
        raise TxmonError(f"{config_path}: [retention] keep_days must be at most {MAX_KEEP_DAYS}")
    if settings.delivery.max_attempts < 1:
        raise TxmonError(f"{config_path}: [delivery] max_attempts must be at least 1")
    return settings


def model_var_names() -> tuple[str, ...]:
    """The model's knobs, which [model] may set: the keys of setting_defaults() in the dbt
    project's macros/settings.sql, where their defaults are defined."""
    import re

    text = (dbt_project_dir() / "macros" / "settings.sql").read_text()
    defaults = text[text.index("setting_defaults()") : text.index("endmacro")]
    return tuple(re.findall(r"'(\w+)':", defaults))


def _model_section(data: dict[str, Any], path: Path) -> dict[str, Any]:
    values = data.get("model", {})
    if not isinstance(values, dict):
        raise TxmonError(f"{path}: [model] must be a table")
    known = model_var_names()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TxmonError(
            f"{path}: unknown key(s) in [model]: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    for key, value in values.items():
        if not isinstance(value, bool | int | float | str):
            raise TxmonError(f"{path}: [model] {key} must be a number or a string")
    return dict(values)


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The dbt vars that the settings file decides: [model], and the older [rules] spelling."""
    chosen = dict(settings.model)
    if settings.rules.recovery_minutes is not None:
        chosen["recovery_minutes"] = settings.rules.recovery_minutes
    return chosen
