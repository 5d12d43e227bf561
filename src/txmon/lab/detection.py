"""`txmon benchmark`: time the pipeline and score its detections on generated data.

Each scenario gets a scratch database on the server txmon uses: generate three days, load,
build, then compare the episodes found with the incidents planted. Prints figures; asserts
nothing (tests check behaviour, this measures it).
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from txmon.core.paths import txmon_home
from txmon.db.connection import connect, database_url, scratch_database
from txmon.ingest.files import load_file
from txmon.lab import generate
from txmon.lab.scoring import coverage, match_incidents, unexplained_episodes
from txmon.pipeline import dbt as pipeline
from txmon.pipeline import views as monitoring


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    minutes: int
    load_seconds: float
    build_seconds: float
    incidents: int
    detected: int
    episodes: int
    unexplained_episodes: int
    median_delay_minutes: float | None
    coverage: float


def run_scenario(
    server_url: str, name: str, config: generate.GeneratorConfig, folder: Path
) -> ScenarioResult:
    path = folder / f"{name}.csv"
    summary = generate.write_counts_csv(path, config)
    with scratch_database(server_url) as url:
        with connect(url) as conn:
            load = load_file(conn, path)
        started = time.monotonic()
        pipeline.build(url=url, quiet=True)
        build_seconds = time.monotonic() - started
        with connect(url) as conn:
            episodes = monitoring.episodes(conn)
    checks = match_incidents(summary.incidents, episodes)
    delays = sorted(check.delay_minutes for check in checks if check.delay_minutes is not None)
    return ScenarioResult(
        name=name,
        minutes=summary.minutes,
        load_seconds=load.seconds,
        build_seconds=build_seconds,
        incidents=len(summary.incidents),
        detected=len(delays),
        episodes=len(episodes),
        unexplained_episodes=unexplained_episodes(summary.incidents, episodes),
        median_delay_minutes=delays[len(delays) // 2] if delays else None,
        coverage=coverage(summary.incidents, episodes),
    )


def slowest_nodes(limit: int = 5) -> list[tuple[str, float]]:
    results = json.loads((pipeline.target_dir() / "run_results.json").read_text())["results"]
    timings = [
        (result["unique_id"].split(".")[-1], float(result["execution_time"])) for result in results
    ]
    return sorted(timings, key=lambda item: item[1], reverse=True)[:limit]


def run_benchmark(
    say: Callable[[str], None], seeds: int = 3, days: float = 3.0
) -> list[ScenarioResult]:
    server_url = database_url()
    folder = txmon_home() / "benchmark"
    folder.mkdir(parents=True, exist_ok=True)
    scenarios = []
    for seed in range(1, seeds + 1):
        scenarios.append((f"flat-{seed}", generate.GeneratorConfig(days=days, seed=seed)))
        scenarios.append(
            (
                f"cycle-{seed}",
                generate.GeneratorConfig(days=days, seed=100 + seed, daily_cycle=True),
            )
        )
    scenarios.append(("crisis", generate.crisis_scenario(days=days, seed=7)))
    # Long degradations must keep paging, not become the new normal within the hour.
    day_two = generate.GeneratorConfig().start + timedelta(days=1)
    scenarios.append(
        (
            "long",
            generate.GeneratorConfig(
                days=days,
                seed=77,
                daily_cycle=True,
                incidents=(
                    generate.Incident("failed_burst", day_two, 360, 0.05),
                    generate.Incident("denied_surge", day_two + timedelta(hours=9), 240, 0.15),
                    generate.Incident("volume_drop", day_two + timedelta(hours=16), 180, 0.4),
                ),
            ),
        )
    )
    results = []
    say(
        f"{'scenario':<10} {'minutes':>7} {'load s':>7} {'build s':>8} {'found':>7} "
        f"{'episodes':>8} {'unexpl.':>7} {'delay':>6}"
    )
    for name, config in scenarios:
        result = run_scenario(server_url, name, config, folder)
        results.append(result)
        delay = (
            "-" if result.median_delay_minutes is None else f"{result.median_delay_minutes:.0f}m"
        )
        say(
            f"{result.name:<10} {result.minutes:>7} {result.load_seconds:>7.2f} "
            f"{result.build_seconds:>8.2f} {result.detected:>3}/{result.incidents:<3} "
            f"{result.episodes:>8} {result.unexplained_episodes:>7} {delay:>6} "
            f"{result.coverage:>7.0%}"
        )
    incidents = sum(result.incidents for result in results)
    detected = sum(result.detected for result in results)
    unexplained = sum(result.unexplained_episodes for result in results)
    builds = sorted(result.build_seconds for result in results)
    say("")
    say(
        f"detected {detected}/{incidents} planted incidents; "
        f"{unexplained} episodes matched no incident"
    )
    say(
        f"dbt build of {days:g} days: median {builds[len(builds) // 2]:.2f}s, max {builds[-1]:.2f}s"
    )
    say(
        "slowest dbt nodes in the last build: "
        + ", ".join(f"{n} {s:.2f}s" for n, s in slowest_nodes())
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"peak memory of this process: {peak_mib:.0f} MiB")
    return results
