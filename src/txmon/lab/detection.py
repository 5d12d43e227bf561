"""`txmon benchmark`: how well each model detects the incidents of generated scenarios,
scored by the rules of `txmon eval` (`txmon.evaluation`).

Each scenario (`txmon.lab.scenarios.detection_scenarios`) gets a scratch database on the
server txmon uses: its data and labels are generated, loaded and built with each model chosen
(a build with other vars recomputes everything), and each build is scored with the labels.
It prints figures and the targets they meet or miss; it asserts nothing (tests check
behaviour, this measures it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txmon.console.tables import render_table
from txmon.core.errors import TxmonError
from txmon.core.paths import private_dir, txmon_home
from txmon.db.connection import connect, database_url, scratch_database
from txmon.evaluation import Evaluation, LabelScore, check_metrics, evaluate, read_labels
from txmon.ingest.files import load_file
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline

Scenario = tuple[str, generate.GeneratorConfig]

# The models compared, by the dbt vars that choose them: the settings' own, the prototype's.
MODEL_VARS: dict[str, dict[str, Any]] = {"default": {}, "prototype": {"baseline_mode": "prototype"}}
MODEL_CHOICES = (*MODEL_VARS, "both")

# The targets a model should meet on the scenarios.
MAX_MEDIAN_DELAY_MINUTES = 16
MAX_OUTSIDE_PAGES_PER_WEEK = 1.0
OUTAGE_KIND = "outage"
MAX_OUTAGE_MINUTES_TO_CRITICAL = 5
WEEK = 7.0
NONE = "-"


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario built with one model and scored."""

    scenario: str
    model: str
    minutes: int
    build_seconds: float
    evaluation: Evaluation

    @property
    def outages(self) -> list[LabelScore]:
        return [score for score in self.evaluation.labels if score.label.kind == OUTAGE_KIND]


@dataclass(frozen=True)
class ModelTotals:
    """A model's figures over every scenario it ran."""

    model: str
    must_page: int
    found: int
    delays: tuple[int, ...]
    burst_pages: int
    outside_pages: int
    days: float
    outage_minutes: tuple[int | None, ...]  # to CRITICAL, None when it never got there

    @property
    def recall(self) -> float | None:
        return self.found / self.must_page if self.must_page else None

    @property
    def median_delay(self) -> float | None:
        return _median(self.delays)

    @property
    def outside_per_week(self) -> float | None:
        return self.outside_pages * WEEK / self.days if self.days > 0 else None


def _median(values: Sequence[int]) -> float | None:
    import statistics

    return float(statistics.median(values)) if values else None


def model_names(choice: str) -> tuple[str, ...]:
    """--model's value as the models to build."""
    return tuple(MODEL_VARS) if choice == "both" else (choice,)


def choose_scenarios(days: float, names: Sequence[str]) -> list[Scenario]:
    """The scenarios of `days` days named (all when none is); TxmonError for an unknown name."""
    from txmon.lab.scenarios import detection_scenarios

    try:
        available = list(detection_scenarios(days))
    except ValueError as error:
        raise TxmonError(f"--days {days:g}: {error}") from None
    known = [name for name, _ in available]
    for name in names:
        if name not in known:
            raise TxmonError(f"unknown scenario {name[:100]!r}; known: {', '.join(known)}")
    return [scenario for scenario in available if not names or scenario[0] in names]


def run_scenario(
    server_url: str, scenario: Scenario, folder: Path, models: Sequence[str]
) -> Iterator[ScenarioRun]:
    """Generate and load, then build and score with each model in turn, in one scratch
    database; each run as soon as it is scored."""
    name, config = scenario
    path = folder / f"{name}.csv"
    summary = generated_files.write_counts_csv(path, config)
    labels = read_labels(summary.labels_path)
    with scratch_database(server_url) as url:
        with connect(url) as conn:
            load_file(conn, path)
        for model in models:
            started = time.monotonic()
            pipeline.build(pipeline.with_vars([], MODEL_VARS[model]), url=url, quiet=True)
            seconds = time.monotonic() - started
            with connect(url) as conn:
                check_metrics(conn, summary.labels_path, labels)
                scored = evaluate(conn, labels)
            yield ScenarioRun(name, model, summary.minutes, seconds, scored)


def totals(model: str, runs: Sequence[ScenarioRun]) -> ModelTotals:
    own = [run for run in runs if run.model == model]
    return ModelTotals(
        model=model,
        must_page=sum(len(run.evaluation.must_page) for run in own),
        found=sum(run.evaluation.found for run in own),
        delays=tuple(delay for run in own for delay in run.evaluation.delays),
        burst_pages=sum(run.evaluation.pages_from_not_to_page for run in own),
        outside_pages=sum(run.evaluation.pages_outside_labels for run in own),
        days=sum(run.evaluation.data_days for run in own),
        outage_minutes=tuple(score.minutes_to_critical for run in own for score in run.outages),
    )


def _minutes(value: float | None) -> str:
    return NONE if value is None else f"{value:g} min"


def _worst_outage(minutes: Sequence[int | None]) -> str:
    if not minutes:
        return NONE
    if any(value is None for value in minutes):
        return "never"
    return _minutes(max(value for value in minutes if value is not None))


def runs_table(runs: Sequence[ScenarioRun]) -> str:
    header = ("scenario", "model", "minutes", "build s", "found", "median delay")
    header += ("burst pages", "outside /7d", "outage to CRITICAL")
    rows = []
    for run in runs:
        scored = run.evaluation
        outside = scored.outside_per_day(WEEK)
        rows.append(
            (
                run.scenario,
                run.model,
                str(run.minutes),
                f"{run.build_seconds:.1f}",
                f"{scored.found}/{len(scored.must_page)}",
                _minutes(scored.median_delay_minutes),
                str(scored.pages_from_not_to_page),
                NONE if outside is None else f"{outside:.2f}",
                _worst_outage([score.minutes_to_critical for score in run.outages]),
            )
        )
    return render_table(header, rows, right={2, 3, 4, 5, 6, 7, 8})


def _verdict(passed: bool | None) -> str:
    return "n/a " if passed is None else ("PASS" if passed else "FAIL")


def target_lines(figures: ModelTotals) -> list[str]:
    """Each target with PASS or FAIL (n/a when the scenarios give it nothing to judge)."""
    median = figures.median_delay
    per_week = figures.outside_per_week
    outages = figures.outage_minutes
    outages_ok = all(
        value is not None and value <= MAX_OUTAGE_MINUTES_TO_CRITICAL for value in outages
    )
    checks = [
        (
            figures.found == figures.must_page if figures.must_page else None,
            f"every must-page incident found: {figures.found} of {figures.must_page}",
        ),
        (
            None if median is None else median <= MAX_MEDIAN_DELAY_MINUTES,
            f"median delay <= {MAX_MEDIAN_DELAY_MINUTES} min: {_minutes(median)}",
        ),
        (
            figures.burst_pages == 0,
            f"no pages from bursts (not-to-page labels): {figures.burst_pages}",
        ),
        (
            None if per_week is None else per_week <= MAX_OUTSIDE_PAGES_PER_WEEK,
            f"<= {MAX_OUTSIDE_PAGES_PER_WEEK:g} page outside labelled windows per 7 days: "
            + (NONE if per_week is None else f"{per_week:.2f}"),
        ),
        (
            outages_ok if outages else None,
            f"every outage at CRITICAL within {MAX_OUTAGE_MINUTES_TO_CRITICAL} min: "
            + (f"worst {_worst_outage(outages)}" if outages else "no outage labels"),
        ),
    ]
    return [f"  {_verdict(passed)}  {text}" for passed, text in checks]


def comparison_line(default: ModelTotals, prototype: ModelTotals) -> str:
    def percent(value: float | None) -> str:
        return NONE if value is None else f"{value:.0%}"

    def number(value: float | None) -> str:
        return NONE if value is None else f"{value:.2f}"

    return (
        f"{default.model} vs {prototype.model}: "
        f"recall {percent(default.recall)} vs {percent(prototype.recall)}, "
        f"median delay {_minutes(default.median_delay)} vs {_minutes(prototype.median_delay)}, "
        f"burst pages {default.burst_pages} vs {prototype.burst_pages}, "
        f"false pages per 7 days {number(default.outside_per_week)} vs "
        f"{number(prototype.outside_per_week)}"
    )


def run_benchmark(
    say: Callable[[str], None],
    scenarios: Sequence[Scenario],
    models: Sequence[str] = tuple(MODEL_VARS),
    server_url: str | None = None,
) -> list[ScenarioRun]:
    """Run and score every scenario with every model, then print the table, the targets per
    model and, with both models, one line comparing them."""
    server = server_url or database_url()
    folder = private_dir(txmon_home() / "benchmark")
    started = time.monotonic()
    runs: list[ScenarioRun] = []
    for scenario in scenarios:
        for run in run_scenario(server, scenario, folder, models):
            runs.append(run)
            say(
                f"[{time.monotonic() - started:6.1f}s] {run.scenario}: {run.model} model "
                f"built in {run.build_seconds:.1f}s and scored"
            )
    say("")
    say(runs_table(runs))
    figures = {model: totals(model, runs) for model in models}
    for model, model_figures in figures.items():
        say("")
        say(f"Targets, {model} model ({model_figures.days:.1f} days of traffic):")
        for line in target_lines(model_figures):
            say(line)
    if "default" in figures and "prototype" in figures:
        say("")
        say(comparison_line(figures["default"], figures["prototype"]))
    return runs
