"""The option types commands share: times read by one rule, output files with `-` for stdout,
and the monitoring-plugin exit statuses of `status` and `monitor`."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import click
import pytest

from txmon.cli.options import (
    OUTPUT_FILE,
    STDOUT,
    TimeOfDay,
    TimeType,
    refuse_to_overwrite,
    resolve_time,
)
from txmon.cli.views import verdict_exit_code
from txmon.core.errors import TxmonError
from txmon.core.facts import severity_order

LATEST = datetime(2025, 7, 14, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-07-16", datetime(2025, 7, 16, tzinfo=UTC)),
        ("2025-07-16 06:00", datetime(2025, 7, 16, 6, tzinfo=UTC)),
        ("2025-07-16T06:00", datetime(2025, 7, 16, 6, tzinfo=UTC)),
        ("2025-07-16 06:00:30", datetime(2025, 7, 16, 6, 0, 30, tzinfo=UTC)),
        ("2025-07-16T06:00:00Z", datetime(2025, 7, 16, 6, tzinfo=UTC)),
        ("2025-07-16 06:00-03:00", datetime(2025, 7, 16, 9, tzinfo=UTC)),
        (" 2025-07-16 06:00 ", datetime(2025, 7, 16, 6, tzinfo=UTC)),
    ],
)
def test_dates_and_times_with_or_without_seconds_and_offsets(text: str, moment: datetime) -> None:
    value = TimeType().convert(text, None, None)
    assert value == moment and isinstance(value, datetime) and value.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "clock"),
    [("06:00", time(6)), ("6:05", time(6, 5)), ("23:59:30", time(23, 59, 30))],
)
def test_a_time_of_day_alone(text: str, clock: time) -> None:
    assert TimeType().convert(text, None, None) == TimeOfDay(clock)


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "",
        "2030-02-30",
        "2025-13-01",
        "2025-07-16 24:00",
        "25:00",
        "06:60",
        "2025-07-16 06:00+15:00",
        "1969-12-31 23:59",
    ],
)
def test_what_is_not_a_time_is_refused_with_the_forms_taken(text: str) -> None:
    with pytest.raises(click.BadParameter) as caught:
        TimeType().convert(text, None, None)
    message = caught.value.format_message()
    assert f"{text!r} is not a time; give YYYY-MM-DD, YYYY-MM-DD HH:MM" in message
    assert message.endswith("or HH:MM")


def test_a_time_of_day_is_refused_where_a_date_is_needed() -> None:
    with pytest.raises(click.BadParameter) as caught:
        TimeType(time_of_day=False).convert("06:00", None, None)
    assert caught.value.message.endswith("(T or space, optional offset; else UTC)")


def test_a_time_of_day_is_placed_on_the_day_of_the_latest_data() -> None:
    assert resolve_time(TimeOfDay(time(10)), LATEST) == datetime(2025, 7, 14, 10, tzinfo=UTC)
    # An end is the first such minute after its reference: 06:00 after 23:59 is the next day.
    assert resolve_time(TimeOfDay(time(6)), LATEST, after=True) == datetime(
        2025, 7, 15, 6, tzinfo=UTC
    )
    start = datetime(2025, 7, 14, 22, tzinfo=UTC)
    assert resolve_time(TimeOfDay(time(23)), start, after=True) == datetime(
        2025, 7, 14, 23, tzinfo=UTC
    )
    assert resolve_time(TimeOfDay(time(22)), start, after=True) == datetime(
        2025, 7, 15, 22, tzinfo=UTC
    )
    given = datetime(2025, 7, 1, tzinfo=UTC)
    assert resolve_time(given, LATEST, after=True) == given  # a full time is taken as it is


def test_dash_is_stdout_and_dot_dash_is_a_file(tmp_path: Path) -> None:
    assert OUTPUT_FILE.convert("-", None, None) == STDOUT
    assert OUTPUT_FILE.convert(str(tmp_path / "-"), None, None) == tmp_path / "-"


def test_an_output_file_needs_its_folder(tmp_path: Path) -> None:
    with pytest.raises(click.BadParameter) as caught:
        OUTPUT_FILE.convert(str(tmp_path / "missing" / "out.json"), None, None)
    assert caught.value.message == (
        f"the folder {tmp_path / 'missing'} does not exist: create it first"
    )
    assert not (tmp_path / "missing").exists()


def test_existing_outputs_need_force(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "a.labels.csv"
    refuse_to_overwrite(first, second, force=False)  # nothing there yet
    first.write_text("")
    with pytest.raises(TxmonError, match=r"a\.csv already exists: --force overwrites$"):
        refuse_to_overwrite(first, second, force=False)
    second.write_text("")
    with pytest.raises(TxmonError, match=r"a\.labels\.csv already exist: --force"):
        refuse_to_overwrite(first, second, force=False)
    refuse_to_overwrite(first, second, force=True)


def test_verdicts_exit_as_monitoring_plugins_do() -> None:
    codes = {severity: verdict_exit_code(severity) for severity in severity_order()}
    assert codes == {"HEALTHY": 0, "INFO": 1, "WARNING": 1, "CRITICAL": 2, "SEVERE": 2}
