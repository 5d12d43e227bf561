"""One path from the settings file to dbt: every model knob set in [model] reaches every entry
point the same way (txmon build, the scheduler, plain dbt after `txmon db env`), and each knob
can take a non-default value without breaking a unit test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import TXMON, load_config, rows
from txmon.core.config import load_settings, model_var_names
from txmon.core.paths import dbt_project_dir
from txmon.lab import generate
from txmon.pipeline import dbt as pipeline

# A value other than the default for every knob in macros/settings.sql.
NON_DEFAULT = {
    "baseline_mode": "prototype",
    "threshold_sigmas": 4,
    "evaluation_window_minutes": 5,
    "min_history_minutes": 30,
    "recovery_minutes": 2,
    "outlier_learning_share": 0.2,
    "lateness_minutes": 5,
    "outage_min_expected": 50,
    "outage_fraction": 0.2,
    "incident_slack_minutes": 0,
    "latency_sla_ms": 800,
    "latency_sla_minutes": 3,
}


def test_every_knob_is_covered() -> None:
    assert set(model_var_names()) == set(NON_DEFAULT)


@pytest.mark.slow
def test_each_knob_at_a_non_default_value_builds(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.2, seed=4))
    for name, value in NON_DEFAULT.items():
        config = tmp_path / f"{name}.toml"
        config.write_text(f"[model]\n{name} = {value!r}\n".replace("'", '"'))
        # The whole build, unit tests included: they pin what they depend on.
        pipeline.build(url=database_url, quiet=True, settings=load_settings(config))
        if name == "evaluation_window_minutes":
            assert (
                rows(database_url, "select max(window_minutes) from monitoring.metric_minutes")[0][
                    0
                ]
                == value
            )
        if name == "baseline_mode":
            assert (
                rows(database_url, "select distinct baseline_mode from monitoring.metric_minutes")[
                    0
                ][0]
                == value
            )


def episode_rows(url: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "select episode_id, ended_at, minutes, peak_severity from monitoring.anomaly_episodes"
        " order by episode_id",
    )


@pytest.mark.slow
def test_the_settings_file_reaches_every_entry_point(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.5, seed=13))
    settings_file = tmp_path / "txmon.toml"
    settings_file.write_text(
        "[model]\nrecovery_minutes = 0\n[rules]\nstale_after_minutes = 0\n"
        f'[[channels]]\ntype = "jsonl"\npath = "{tmp_path / "alerts.jsonl"}"\n'
    )
    env = {**txmon_env, "TXMON_CONFIG": str(settings_file)}
    pipeline.build(url=database_url, quiet=True)  # defaults: recovery after 5 minutes
    defaults = episode_rows(database_url)

    subprocess.run([TXMON, "build"], env=env, check=True, capture_output=True)
    by_build = episode_rows(database_url)
    assert by_build != defaults, "recovery_minutes = 0 must change the episodes"

    pipeline.build(["--full-refresh"], url=database_url, quiet=True)
    subprocess.run(
        [TXMON, "run", "--every", "1s", "--max-cycles", "1"],
        env=env,
        check=True,
        capture_output=True,
    )
    assert episode_rows(database_url) == by_build

    pipeline.build(url=database_url, quiet=True)
    project = dbt_project_dir()
    plain_dbt = subprocess.run(
        [
            "bash",
            "-c",
            f'eval "$({TXMON} db env)" && cd {project} && {Path(TXMON).parent / "dbt"} build'
            f" --profiles-dir . --target-path {tmp_path / 'target'} --log-path {tmp_path / 'logs'}"
            " --quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert plain_dbt.returncode == 0, plain_dbt.stdout + plain_dbt.stderr
    assert episode_rows(database_url) == by_build
