"""`txmon eval LABELS.csv`: the table and the aggregates, `--json`, and bad input as one line
(exit 1), run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from evaluation_helpers import SURGE, Built
from helpers import TXMON

pytest_plugins = ["evaluation_fixtures"]


def txmon_eval(url: str, home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": url,
        "TXMON_HOME": str(home),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
    }
    env.pop("TXMON_DATABASE", None)
    return subprocess.run(
        [TXMON, "eval", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_table_and_the_aggregates(built_traffic: Built, tmp_path: Path) -> None:
    result = txmon_eval(built_traffic.url, tmp_path, str(built_traffic.labels))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "line",
        "metric",
        "start",
        "(UTC)",
        "minutes",
        "must",
        "page",
        "paged",
        "delay",
        "peak",
        "to",
        "CRITICAL",
        "episode",
    ]
    surge = lines[2].split()
    assert surge[:7] == ["2", "denied_rate", "2025-07-12", "20:00", "40", "yes", "yes"]
    assert surge[-1].startswith("denied_rate@")
    assert lines[3].split()[:2] == ["3", "failed_rate"]
    assert "recall: 1 of 1 must-page labels paged (100%)" in lines
    assert any(line.startswith("median delay to the first page: ") for line in lines)
    assert "pages outside every labelled window (+10 min): " in result.stdout
    assert any(line.startswith("pages from not-to-page labels: ") for line in lines)


def test_json_is_one_object(built_traffic: Built, tmp_path: Path) -> None:
    result = txmon_eval(built_traffic.url, tmp_path, str(built_traffic.labels), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["labels_file"] == str(built_traffic.labels)
    assert (document["must_page_labels"], document["must_page_found"]) == (1, 1)
    assert document["recall"] == 1.0
    surge, burst = document["labels"]
    assert surge["metric"] == "denied_rate" and surge["start"] == "2025-07-12T20:00:00Z"
    assert surge["found"] is True and surge["kind"] == "denied_surge"
    assert 0 <= surge["delay_minutes"] < SURGE.minutes
    assert document["median_delay_minutes"] == surge["delay_minutes"]
    assert burst["must_page"] is False
    assert document["data_days"] == pytest.approx(1.5)
    assert document["slack_minutes"] == 10
    pages = document["pages"]
    assert pages >= document["pages_outside_labels"] + document["pages_from_not_to_page_labels"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metric,start,minutes\n", "line 1: missing column must_page"),
        ("metric,start,minutes,must_page\nfailed_rate,soon,5,true\n", "line 2: bad start 'soon'"),
        ("metric,start,minutes,must_page\nfailed_rate,2025-07-12 20:00,5,perhaps\n", "line 2"),
        ("metric,start,minutes,must_page\nfail_rate,2025-07-12 20:00,5,true\n", "known: "),
    ],
    ids=["missing-column", "bad-start", "bad-flag", "unknown-metric"],
)
def test_bad_labels_are_one_line(
    built_traffic: Built, tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    result = txmon_eval(built_traffic.url, tmp_path / "home", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"txmon: error: {path}: ") and fragment in line, line


def test_missing_file_and_missing_views(
    built_traffic: Built, database_url: str, tmp_path: Path
) -> None:
    missing = txmon_eval(built_traffic.url, tmp_path, str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"txmon: error: {tmp_path / 'nope.csv'}: cannot read it: No such file or directory"
    ]
    unbuilt = txmon_eval(database_url, tmp_path, str(built_traffic.labels))
    assert unbuilt.returncode == 1
    (line,) = unbuilt.stderr.splitlines()
    assert "run `txmon build`" in line, line
