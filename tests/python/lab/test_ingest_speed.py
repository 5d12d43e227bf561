"""The ingest figures `txmon bench` prints: the target file and each line-end style."""

from __future__ import annotations

from pathlib import Path

from txmon.lab.ingest_speed import TARGET_SECONDS, ingest_throughput, target_file_speed


def test_ingest_throughput_reports_every_style(server_url: str, tmp_path: Path) -> None:
    said: list[str] = []
    results = ingest_throughput(server_url, tmp_path, 0.2, said.append)

    assert [result.style for result in results] == ["lf", "crlf", "cr", "mixed"]
    assert all(result.rows > 5_000 and result.rows_per_second > 0 for result in results)
    assert len(said) == 5 and all("rows/s" in line for line in said[1:])
    assert list(tmp_path.iterdir()) == []


def test_target_file_speed_reports_seconds_beside_the_target(
    server_url: str, tmp_path: Path
) -> None:
    said: list[str] = []
    result = target_file_speed(server_url, tmp_path, said.append)

    assert (result.style, result.rows) == ("lf", 26_000)
    assert result.seconds > 0 and result.rows_per_second > 0
    [line] = said
    assert line.startswith("ingest: a 26,000-row counts file loads in ")
    assert f"the target of {TARGET_SECONDS:g} s" in line and "rows/s" in line
    assert list(tmp_path.iterdir()) == []
