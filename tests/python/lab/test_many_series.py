"""The many-series case of `txmon bench`, on a short history: its project monitors every value
it writes, and the figures it prints come from a real build and real cycles."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from txmon.core.facts import DIMENSIONS_SEED
from txmon.lab.many_series import (
    METRIC_KINDS,
    STATUSES,
    VALUES,
    bench_project,
    report_many_series,
)
from txmon.pipeline.views import METRIC_SEED


def test_the_bench_project_monitors_every_value(tmp_path: Path) -> None:
    project = bench_project(tmp_path)
    with (project / "seeds" / DIMENSIONS_SEED).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["dimension_name"]: int(row["max_values"]) for row in rows} == VALUES
    assert {row["metric_kinds"] for row in rows} == {METRIC_KINDS}
    with (project / "seeds" / METRIC_SEED).open(newline="") as handle:
        metrics = list(csv.DictReader(handle))
    assert sorted(row["numerator_statuses"] for row in metrics if row["metric_kind"] == "rate") == (
        sorted(STATUSES)
    )
    assert len(metrics) == 6


def test_the_figures_come_from_a_build_and_its_cycles(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "home"))
    lines: list[str] = []
    # Half an hour of history: every value of the smaller dimensions is drawn.
    result = report_many_series(server_url, 0.02, 2, tmp_path, lines.append)
    # All transactions and each value drawn: six metrics each (four rates, two volumes).
    assert result.series % 6 == 0
    assert 6 * (1 + VALUES["channel"]) < result.series <= 6 * (1 + sum(VALUES.values()))
    assert result.full_build_seconds > result.cycle_seconds > 0
    assert result.series_per_minute == int(60 / (result.cycle_seconds / result.series))
    assert lines[0].startswith("many series: 0.02 days")
    assert f"{result.series:,} series" in lines[1]
    assert f"about {result.series_per_minute:,} series" in lines[1]
