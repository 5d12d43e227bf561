"""The settings file: where it is found, the defaults, and one line naming the file, the
section and the key for anything wrong in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pydantic
import pytest

from conftest import REPO_ROOT
from txmon.core.config import (
    Delivery,
    Ingest,
    Retention,
    Rules,
    SchedulerRules,
    Settings,
    load_settings,
    model_var_names,
)
from txmon.core.errors import TxmonError

SECTIONS = {
    "rules": Rules,
    "delivery": Delivery,
    "scheduler": SchedulerRules,
    "ingest": Ingest,
    "retention": Retention,
}
EXAMPLE = REPO_ROOT / "txmon.example.toml"


@pytest.fixture()
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a test writes its txmon.toml; no TXMON_CONFIG of the machine's, no checkout around."""
    monkeypatch.delenv("TXMON_CONFIG", raising=False)
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "txmon.toml"


def test_without_a_file_the_defaults_apply(settings_file: Path) -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.channels == ({"type": "stdout"},)
    assert settings.model == {} and settings.rules.recovery_minutes is None


def test_the_file_is_found_by_option_then_variable_then_folder(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file.write_text("[rules]\nstale_after_minutes = 1\n")
    assert load_settings().rules.stale_after_minutes == 1
    variable = settings_file.with_name("from-variable.toml")
    variable.write_text("[rules]\nstale_after_minutes = 2\n")
    monkeypatch.setenv("TXMON_CONFIG", str(variable))
    assert load_settings().rules.stale_after_minutes == 2
    option = settings_file.with_name("from-option.toml")
    option.write_text("[rules]\nstale_after_minutes = 3\n")
    assert load_settings(option).rules.stale_after_minutes == 3


def test_the_example_file_lists_every_key_with_its_default() -> None:
    example = tomllib.loads(EXAMPLE.read_text())
    for name, section in SECTIONS.items():
        # [rules] recovery_minutes is an older spelling of [model]'s, not advertised.
        expected = {
            key: field.default
            for key, field in section.model_fields.items()
            if (name, key) != ("rules", "recovery_minutes")
        }
        assert example[name] == expected, name
    assert example["channels"] == [{"type": "stdout"}]
    # The model's knobs are commented out: their defaults live in macros/settings.sql.
    model_part = EXAMPLE.read_text().split("[model]")[1].split("[rules]")[0]
    assert re.findall(r"^# (\w+) = ", model_part, flags=re.MULTILINE) == list(model_var_names())
    assert load_settings(EXAMPLE) == Settings()


def test_whole_numbers_are_floats_but_not_counts(settings_file: Path) -> None:
    settings_file.write_text("[delivery]\nretry_base_seconds = 3\nmax_attempts = 7\n")
    delivery = load_settings(settings_file).delivery
    assert delivery.retry_base_seconds == 3.0 and isinstance(delivery.retry_base_seconds, float)
    assert delivery.max_attempts == 7


def test_model_knobs_and_channels_are_passed_on_as_written(settings_file: Path) -> None:
    settings_file.write_text(
        '[model]\nbaseline_mode = "prototype"\nthreshold_sigmas = 4.5\n'
        '[[channels]]\ntype = "jsonl"\npath = "a.jsonl"\n[[channels]]\ntype = "stdout"\n'
    )
    settings = load_settings(settings_file)
    assert settings.model == {"baseline_mode": "prototype", "threshold_sigmas": 4.5}
    assert settings.channels == ({"type": "jsonl", "path": "a.jsonl"}, {"type": "stdout"})


# (id, the file's text, the message after "<file>: ").
BAD_FILES = [
    ("unknown-section", "[bogus]\nx = 1\n[rules]\ny = 2\n", "unknown section(s): bogus"),
    (
        "unknown-keys",
        "[ingest]\nmax_gap = 3\nzeta = 1\n",
        "unknown key(s) in [ingest]: max_gap, zeta",
    ),
    (
        "unknown-keys-first",
        "[delivery]\nmax_attempts = 0\nbogus = 1\n",
        "unknown key(s) in [delivery]: bogus",
    ),
    ("section-order", "[delivery]\nx = 1\n[rules]\ny = 1\n", "unknown key(s) in [rules]: y"),
    ("not-a-table", "rules = 3\n", "[rules] must be a table"),
    ("model-not-a-table", "model = 3\n", "[model] must be a table"),
    (
        "negative",
        "[rules]\nrecovery_minutes = -3\n",
        "[rules] recovery_minutes must be from 0 to 10,000,000",
    ),
    (
        "huge",
        "[rules]\nstale_after_minutes = 99999999999999999999\n",
        "[rules] stale_after_minutes must be from 0 to 10,000,000",
    ),
    (
        "nan",
        "[delivery]\nretry_base_seconds = nan\n",
        "[delivery] retry_base_seconds must be from 0 to 10,000,000",
    ),
    (
        "inf",
        "[delivery]\nmax_wait_seconds = inf\n",
        "[delivery] max_wait_seconds must be from 0 to 10,000,000",
    ),
    (
        "bool",
        "[rules]\nstale_after_minutes = true\n",
        "[rules] stale_after_minutes must be a non-negative int",
    ),
    (
        "fraction",
        "[scheduler]\nfull_tests_every_minutes = 2.5\n",
        "[scheduler] full_tests_every_minutes must be a non-negative int",
    ),
    (
        "text",
        '[delivery]\nretry_base_seconds = "2s"\n',
        "[delivery] retry_base_seconds must be a non-negative float",
    ),
    ("no-attempts", "[delivery]\nmax_attempts = 0\n", "[delivery] max_attempts must be at least 1"),
    ("gap-zero", "[ingest]\nmax_gap_days = 0\n", "[ingest] max_gap_days must be from 1 to 3660"),
    ("gap-huge", "[ingest]\nmax_gap_days = 3661\n", "[ingest] max_gap_days must be from 1 to 3660"),
    (
        "horizon",
        "[ingest]\nfuture_horizon_minutes = 600000\n",
        "[ingest] future_horizon_minutes must be at most 527040 (a year)",
    ),
    ("keep", "[retention]\nkeep_days = 40000\n", "[retention] keep_days must be at most 36600"),
    ("channels-not-tables", "channels = 3\n", "channels must be [[channels]] tables"),
    ("channels-a-table", '[channels]\ntype = "stdout"\n', "channels must be [[channels]] tables"),
    (
        "model-unknown",
        "[model]\nthreshold_sigma = 4\n",
        "unknown key(s) in [model]: threshold_sigma (known: baseline_mode, threshold_sigmas,",
    ),
    (
        "model-list",
        "[model]\nthreshold_sigmas = [4]\n",
        "[model] threshold_sigmas must be a number or a string",
    ),
    (
        "recovery-twice",
        "[model]\nrecovery_minutes = 1\n[rules]\nrecovery_minutes = 2\n",
        "recovery_minutes is set in [model] and in [rules]; keep [model]",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_a_bad_file_is_one_line_naming_file_section_and_key(
    settings_file: Path, text: str, message: str
) -> None:
    settings_file.write_text(text)
    with pytest.raises(TxmonError) as raised:
        load_settings(settings_file)
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith(f"{settings_file}: {message}"), line


def test_a_file_that_cannot_be_read_as_toml(settings_file: Path) -> None:
    missing = settings_file.with_name("nope.toml")
    with pytest.raises(TxmonError, match=re.escape(f"config file {missing} does not exist")):
        load_settings(missing)
    settings_file.write_text("[rules\n")
    with pytest.raises(TxmonError, match=re.escape("txmon.toml is not valid TOML: Expected ']'")):
        load_settings(settings_file)
    settings_file.write_bytes(b"[rules]\nx = '\xff'\n")
    with pytest.raises(TxmonError, match="is not valid TOML"):
        load_settings(settings_file)


def test_settings_made_in_code_are_checked_and_immutable() -> None:
    with pytest.raises(pydantic.ValidationError):
        Rules(stale_after_minutes=-1)
    with pytest.raises(pydantic.ValidationError):
        Settings(rules=Rules(recovery_minutes=1), model={"recovery_minutes": 2})
    rules = Rules(stale_after_minutes=0)
    with pytest.raises(pydantic.ValidationError):
        rules.stale_after_minutes = 5  # type: ignore[misc]
