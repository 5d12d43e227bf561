"""Shared steps of the end-to-end tests: generate, load, build and query a test database."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO_ROOT, make_database
from txmon.db.connection import connect, drop_database
from txmon.ingest.files import load_file
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline

# The console script installed beside this Python, for end-to-end runs of the command line.
TXMON = str(Path(sys.executable).parent / "txmon")


def load_config(
    url: str, folder: Path, config: generate.GeneratorConfig, name: str = "data.csv"
) -> Path:
    path = folder / name
    generated_files.write_counts_csv(path, config)
    with connect(url) as conn:
        summary = load_file(conn, path)
    assert summary.rows_rejected == 0
    return path


def build(url: str, mode: str | None = None, select: str | None = None) -> None:
    extra: list[str] = []
    if select:
        extra += ["--select", select]
    if mode:
        extra = pipeline.with_vars(extra, {"baseline_mode": mode})
    pipeline.build(extra, url=url, quiet=True)


def rows(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return list(conn.execute(statement, params).fetchall())


def listed_metrics() -> list[str]:
    """The metrics of the metric_definitions seed that generated counts have for all
    transactions: every minute has one row of each (a status that none of them counts would
    add its own rate; generated data have none). Shares are of a dimension's values only, and
    counts carry no durations for the latency metrics."""
    with (Path(__file__).resolve().parents[2] / "seeds" / "metric_definitions.csv").open(
        newline=""
    ) as handle:
        return [
            row["metric_name"]
            for row in csv.DictReader(handle)
            if row["metric_kind"] in ("rate", "volume")
        ]


@contextmanager
def shared_database(server_url: str, folder: Path) -> Iterator[str]:
    """A new database on the server, with txmon's home in `folder` and this checkout's dbt
    project, dropped after use: for the fixtures that share one build between the tests of a
    module or session."""
    url = make_database(server_url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TXMON_HOME", str(folder / "home"))
            patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
            yield url
    finally:
        drop_database(server_url, url)


@contextmanager
def built_database(
    server_url: str, folder: Path, config: generate.GeneratorConfig
) -> Iterator[str]:
    """A shared database with `config`'s traffic loaded and built."""
    with shared_database(server_url, folder) as url:
        load_config(url, folder, config)
        build(url)
        yield url
