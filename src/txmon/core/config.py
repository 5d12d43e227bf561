"""txmon's settings file (TOML): the model's dbt vars, alerting rules, delivery, the scheduler,
ingest time sanity, retention and the channels.

Looked up in this order: the --config option, `TXMON_CONFIG`, `./txmon.toml`. Without a file
the defaults apply: the prototype's tiers (from the severity_levels seed), recovery after 5
healthy minutes, no reminders, stale after 10 minutes, and one channel printing to stdout.

Each section is a pydantic model that refuses unknown keys; a bad file is one line naming the
file, the section and the key. The channels are passed on as given: `txmon.alerting` checks them.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from txmon.core.errors import TxmonError
from txmon.core.paths import dbt_project_dir

CONFIG_VARIABLE = "TXMON_CONFIG"
DEFAULT_FILE = "txmon.toml"

# The largest number any setting takes (minutes, seconds or attempts): nan, inf and numbers
# past it are typos that would overflow timers.
MAX_SETTING = 10_000_000
MAX_FUTURE_HORIZON_MINUTES = 366 * 24 * 60
MAX_GAP_DAYS = 3660
MAX_KEEP_DAYS = 100 * 366

Count = Annotated[int, Field(ge=0, le=MAX_SETTING)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SETTING, allow_inf_nan=False)]


class Section(BaseModel):
    """One table of the settings file: typed, immutable, unknown keys refused. Strict, so that
    `true` or `2.5` is not taken for a count, while a whole number is a valid float."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Rules(Section):
    # Older spelling of [model] recovery_minutes, still accepted.
    recovery_minutes: Count | None = None
    # Reminders for an episode still at CRITICAL or above, every this many minutes; 0 = off.
    repeat_interval_minutes: Count = 0
    # The latest minute older than this (against the clock) is stale: its own alert.
    stale_after_minutes: Count = 10
    # Events older than this (against the latest minute) are logged but never sent: a first
    # dispatch on old data, or a rebuild that rewrites history, must not page anyone.
    max_event_age_minutes: Count = 120
    # One page per incident (monitoring.incident_events: overlapping episodes grouped) or, as
    # before incidents existed, one per episode (monitoring.alert_events).
    notify_per: Literal["incident", "episode"] = "incident"


class Delivery(Section):
    max_attempts: Count = 5
    retry_base_seconds: Seconds = 2.0
    retry_max_seconds: Seconds = 300.0
    # How long one `txmon dispatch` waits for retries that are due soon before it exits.
    max_wait_seconds: Seconds = 60.0

    @field_validator("max_attempts")
    @classmethod
    def _at_least_one_attempt(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value


class SchedulerRules(Section):
    # Failed build cycles in a row before the scheduler raises its own alert; 0 = never.
    alert_after_failed_cycles: Count = 3
    # Every data test (over all history) runs in one cycle this often; other cycles run one
    # check of the rows they wrote. 0 = every cycle.
    full_tests_every_minutes: Count = 60


class Ingest(Section):
    """Time sanity for `txmon load` and POST /transactions (txmon.ingest.time_sanity.TimeSanity)."""

    # Rows stamped more than this many minutes after the clock are refused: a wrong time zone
    # or a typo, never a transaction that happened.
    future_horizon_minutes: Count = 10
    # A row that would open a gap of more than this many days between the data already stored
    # (plus the rows accepted before it) and itself is refused: the minute grid never spans it.
    max_gap_days: Count = 7

    @field_validator("future_horizon_minutes")
    @classmethod
    def _within_a_year(cls, value: int) -> int:
        if value > MAX_FUTURE_HORIZON_MINUTES:
            raise ValueError(f"must be at most {MAX_FUTURE_HORIZON_MINUTES} (a year)")
        return value

    @field_validator("max_gap_days")
    @classmethod
    def _gap_in_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_GAP_DAYS:
            raise ValueError(f"must be from 1 to {MAX_GAP_DAYS}")
        return value


class Retention(Section):
    # Days of raw data kept back from the newest minute, applied once a day by the scheduler
    # (`txmon prune`); 0 = keep everything. Whole days go, never minutes an open episode or
    # the baseline's warm-up still needs.
    keep_days: Count = 0

    @field_validator("keep_days")
    @classmethod
    def _at_most_a_century(cls, value: int) -> int:
        if value > MAX_KEEP_DAYS:
            raise ValueError(f"must be at most {MAX_KEEP_DAYS}")
        return value


def model_var_names() -> tuple[str, ...]:
    """The model's knobs, which [model] may set: the keys of setting_defaults() in the dbt
    project's macros/settings.sql, where their defaults are defined."""
    text = (dbt_project_dir() / "macros" / "settings.sql").read_text()
    defaults = text[text.index("setting_defaults()") : text.index("endmacro")]
    return tuple(re.findall(r"'(\w+)':", defaults))


class Settings(Section):
    rules: Rules = Rules()
    delivery: Delivery = Delivery()
    scheduler: SchedulerRules = SchedulerRules()
    ingest: Ingest = Ingest()
    retention: Retention = Retention()
    # [[channels]] tables as written; txmon.alerting.channels validates them.
    channels: tuple[dict[str, Any], ...] = ({"type": "stdout"},)
    # The model's knobs ([model]), passed to dbt; their defaults live in macros/settings.sql.
    model: dict[str, Any] = {}

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_tables(cls, value: Any) -> tuple[dict[str, Any], ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(i, dict) for i in value):
            raise ValueError("channels must be [[channels]] tables")
        return tuple(value)

    @field_validator("model", mode="before")
    @classmethod
    def _model_knobs(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic says it is not a table
        known = model_var_names()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(
                f"unknown key(s) in [model]: {', '.join(unknown)} (known: {', '.join(known)})"
            )
        for key, knob in value.items():
            if not isinstance(knob, bool | int | float | str):
                raise ValueError(f"[model] {key} must be a number or a string")
        return value

    @model_validator(mode="after")
    def _one_recovery_setting(self) -> Settings:
        if "recovery_minutes" in self.model and self.rules.recovery_minutes is not None:
            raise ValueError("recovery_minutes is set in [model] and in [rules]; keep [model]")
        return self


_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "finite_number"}


def _error_line(path: Path, errors: list[ErrorDetails]) -> str:
    """The one line that says what is wrong in the file: unknown sections first, then section
    by section in the order Settings lists them, unknown keys before bad values."""
    unknown_sections = sorted(
        str(error["loc"][0])
        for error in errors
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1
    )
    if unknown_sections:
        return f"{path}: unknown section(s): {', '.join(unknown_sections)}"
    for section in [*Settings.model_fields, None]:
        found = [error for error in errors if (error["loc"][:1] or (None,))[0] == section]
        if not found:
            continue
        unknown_keys = [str(e["loc"][1]) for e in found if e["type"] == "extra_forbidden"]
        if unknown_keys:
            return f"{path}: unknown key(s) in [{section}]: {', '.join(sorted(unknown_keys))}"
        return f"{path}: {_describe(found[0])}"
    return f"{path}: {errors[0]['msg']}"


def _describe(error: ErrorDetails) -> str:
    location = [str(part) for part in error["loc"]]
    reason = str(error.get("ctx", {}).get("error", error["msg"]))
    if len(location) < 2:
        if error["type"] == "value_error":  # the checks of channels, [model] or the whole file
            return reason
        return f"[{location[0]}] must be a table"  # a section written as a plain value
    section, key = location[0], location[1]
    if error["type"] == "value_error":
        return f"[{section}] {key} {reason}"
    if error["type"] in _RANGE_ERRORS:
        return f"[{section}] {key} must be from 0 to {MAX_SETTING:,}"
    kind = "float" if error["type"].startswith("float") else "int"
    return f"[{section}] {key} must be a non-negative {kind}"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The settings from `path`, else $TXMON_CONFIG, else ./txmon.toml; the defaults without
    any of them. A bad file raises TxmonError with one line naming the file and the key."""
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
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise TxmonError(_error_line(config_path, error.errors())) from None
