"""`txmon benchmark`'s targets and a short scenario run end to end with both models."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from txmon.lab import generate
from txmon.lab.detection import ModelTotals, comparison_line, run_benchmark, target_lines


def figures(**changes: object) -> ModelTotals:
    good = {
        "model": "default",
        "must_page": 4,
        "found": 4,
        "delays": (14, 15, 16, 30),
        "burst_pages": 0,
        "outside_pages": 1,
        "days": 7.0,
        "outage_minutes": (2, 5),
    }
    return ModelTotals(**{**good, **changes})  # type: ignore[arg-type]


def verdicts(totals: ModelTotals) -> list[str]:
    return [line.split()[0] for line in target_lines(totals)]


def test_targets_at_their_bounds_pass() -> None:
    assert verdicts(figures()) == ["PASS"] * 5


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"found": 3}, 0),
        ({"delays": (14, 17, 17, 30)}, 1),
        ({"burst_pages": 1}, 2),
        ({"outside_pages": 2}, 3),
        ({"outage_minutes": (2, 6)}, 4),
        ({"outage_minutes": (2, None)}, 4),
    ],
)
def test_each_target_fails_on_its_own(changes: dict[str, object], failing: int) -> None:
    expected = ["PASS"] * 5
    expected[failing] = "FAIL"
    assert verdicts(figures(**changes)) == expected


def test_targets_without_anything_to_judge() -> None:
    empty = figures(must_page=0, found=0, delays=(), outage_minutes=(), outside_pages=0)
    assert verdicts(empty) == ["n/a", "n/a", "PASS", "PASS", "n/a"]
    assert "no outage labels" in target_lines(empty)[4]


def test_the_comparison_line() -> None:
    line = comparison_line(
        figures(), figures(model="prototype", found=2, delays=(20, 40), burst_pages=3)
    )
    assert line == (
        "default vs prototype: recall 100% vs 50%, median delay 15.5 min vs 30 min, "
        "burst pages 0 vs 3, false pages per 7 days 1.00 vs 1.00"
    )


@pytest.mark.slow
def test_a_short_scenario_with_both_models(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
    start = datetime(2025, 7, 12)
    config = generate.GeneratorConfig(
        days=2.0,
        seed=21,
        start=start,
        incidents=(
            generate.Incident("denied_surge", start + timedelta(hours=26), 40, 0.35),
            generate.Incident("failed_burst", start + timedelta(hours=34), 6, 0.2),
        ),
    )
    said: list[str] = []
    runs = run_benchmark(said.append, [("short", config)], ("default", "prototype"), server_url)
    lines = "\n".join(said).splitlines()
    assert [(run.scenario, run.model, run.minutes) for run in runs] == [
        ("short", "default", 2880),
        ("short", "prototype", 2880),
    ]
    for run in runs:
        scored = run.evaluation
        assert [score.label.kind for score in scored.labels] == ["denied_surge", "failed_burst"]
        assert [score.label.must_page for score in scored.labels] == [True, False]
        assert scored.data_days == pytest.approx(2.0)
    table = [line for line in lines if line.startswith("short ")]
    assert len(table) == 2 and "default" in table[0] and "prototype" in table[1]
    for model in ("default", "prototype"):
        heading = lines.index(f"Targets, {model} model (2.0 days of traffic):")
        verdicts = [line.split()[0] for line in lines[heading + 1 : heading + 6]]
        assert all(verdict in {"PASS", "FAIL", "n/a"} for verdict in verdicts), verdicts
    assert lines[-1].startswith("default vs prototype: recall ")
