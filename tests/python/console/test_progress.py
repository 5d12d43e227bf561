"""Progress of long work: a bar on a terminal, one plain line in a log, nothing for work done
within the second; and the commands that show it (`txmon load`, `generate`)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from txmon.cli import main
from txmon.console import progress as progress_module
from txmon.console.progress import progress
from txmon.ingest import readers

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal(buffer: io.StringIO) -> Console:
    # Wide enough for the long temporary paths a test run may have: a line that does not fit
    # is cut short and the figures at its end are lost.
    return Console(file=buffer, force_terminal=True, width=300, color_system="standard")


def log(buffer: io.StringIO) -> Console:
    return Console(file=buffer, force_terminal=False, width=120)


def shown(buffer: io.StringIO) -> str:
    """What a terminal showed at some point: the frames of the bar without control codes."""
    return ANSI_ESCAPE.sub("", buffer.getvalue()).replace("\r", "\n")


def test_a_bar_on_a_terminal_that_goes_when_the_work_ends() -> None:
    buffer = io.StringIO()
    with progress("dbt build", unit="nodes", console=terminal(buffer), show_after=0) as meter:
        meter.update(0)  # before dbt knows how many nodes it selected
        meter.update(3, 120)
        meter.update(120)
        assert meter.shown and meter.on_terminal
    frames = shown(buffer)
    assert "dbt build" in frames and "0/? nodes" in frames and "120/120 nodes" in frames
    # transient: the last thing written erases the bar's line.
    assert buffer.getvalue().rstrip("\r\n").endswith("\x1b[2K")


def test_bytes_show_as_sizes() -> None:
    buffer = io.StringIO()
    with progress(
        "loading a.csv", total=3_000_000, unit="bytes", console=terminal(buffer)
    ) as meter:
        meter._show_after = 0  # as if a second had passed
        meter.update(1_000_000)
        meter.update(3_000_000)
    assert "1.0/3.0 MB" in shown(buffer)


def test_a_log_gets_one_plain_line_when_the_work_starts() -> None:
    stderr, stdout = io.StringIO(), io.StringIO()
    with progress(
        "loading a.csv", total=100, console=log(stderr), log=log(stdout), show_after=0
    ) as meter:
        for done in range(0, 100, 10):
            meter.update(done)
        assert not meter.on_terminal
    # With the summary that ends the work, which the caller prints.
    assert (stdout.getvalue(), stderr.getvalue()) == ("loading a.csv...\n", "")


@pytest.mark.parametrize("make", [terminal, log])
def test_nothing_for_short_work(make: type) -> None:
    buffer = io.StringIO()
    where = {"console": make(buffer), "log": make(buffer)}
    with progress("quick", total=10, show_after=60, **where) as meter:
        meter.update(5)
        meter.update(10)
    # Work that is done at its first report shows nothing, however long it took to start.
    with progress("quick", total=10, show_after=0, **where) as meter:
        meter.update(10)
    with progress("failed", show_after=0, **where):
        pass
    assert buffer.getvalue() == ""


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture()
def shown_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Progress appears at the first report, as it would after a second of work, and a small
    file is read in several chunks, so a load reports more than once."""
    monkeypatch.setattr(progress_module, "SHOW_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(readers, "READ_CHUNK", 4096)
    yield


def counts_file(folder: Path, minutes: int) -> Path:
    path = folder / "counts.csv"
    lines = [
        f"2025-07-15 {minute // 60:02d}:{minute % 60:02d},approved,{minute % 7}"
        for minute in range(minutes)
    ]
    path.write_text("timestamp,status,count\n" + "\n".join(lines) + "\n")
    return path


def test_load_shows_its_progress_on_a_terminal(
    txmon_env: dict[str, str],
    tmp_path: Path,
    shown_at_once: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(progress_module, "stderr_console", lambda: terminal(buffer))
    path = counts_file(tmp_path, 600)
    result = CliRunner().invoke(main, ["load", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Loaded {path} as load 1")
    frames = shown(buffer)
    size = path.stat().st_size / 1000
    assert f"loading {path}" in frames and f"{size:.1f}/{size:.1f} kB" in frames


def test_load_and_generate_in_a_log_say_when_they_start(
    txmon_env: dict[str, str], tmp_path: Path, shown_at_once: None
) -> None:
    runner = CliRunner()
    data = tmp_path / "day.csv"
    generated = runner.invoke(main, ["generate", str(data), "--days", "0.5"])
    assert generated.exit_code == 0, generated.output
    start, end = generated.stdout.splitlines()
    assert start == f"generating {data}..." and end.startswith("wrote 4,320 rows (720 minutes")
    assert generated.stderr == ""

    loaded = runner.invoke(main, ["load", str(data)])
    assert loaded.exit_code == 0, loaded.output
    start, end = loaded.stdout.splitlines()
    assert start == f"loading {data}..." and "4,320 rows loaded" in end
    assert loaded.stderr == ""

    # Data on stdout stays data: progress goes to stderr.
    piped = runner.invoke(main, ["generate", "-", "--days", "0.01"])
    assert piped.exit_code == 0, piped.output
    assert piped.stdout.splitlines()[0] == "timestamp,status,count"
    assert piped.stderr.startswith("generating...\nwrote ")
