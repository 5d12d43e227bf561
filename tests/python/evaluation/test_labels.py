"""Reading a labels file: the shape it takes, and one line naming the file and line for every
bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from txmon.db.connection import connect
from txmon.evaluation import Label, LabelsError, check_metrics, read_labels


def write(folder: Path, text: str | bytes, name: str = "labels.csv") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_in_any_column_order_with_extra_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffkind,Minutes,metric,must_page,start,magnitude\n"
        "denied_surge,40,denied_rate,true,2025-07-12 20:00,0.35\n"
        "failed_burst,6,failed_rate,No,2025-07-13T04:00:00Z,0.2\n"
        "\n"
        ",30,volume,1,2025-07-13 09:30-03:00,\n"
        "x,5,failed_rate,YES,2025-07-13T10:00,\n"
        "x,5,failed_rate,0,2025-07-13 11:00:00,\n",
    )
    labels = read_labels(path)
    assert labels == [
        Label(2, "denied_rate", datetime(2025, 7, 12, 20, 0, tzinfo=UTC), 40, True, "denied_surge"),
        Label(3, "failed_rate", datetime(2025, 7, 13, 4, 0, tzinfo=UTC), 6, False, "failed_burst"),
        Label(5, "volume", datetime(2025, 7, 13, 12, 30, tzinfo=UTC), 30, True, None),
        Label(6, "failed_rate", datetime(2025, 7, 13, 10, 0, tzinfo=UTC), 5, True, "x"),
        Label(7, "failed_rate", datetime(2025, 7, 13, 11, 0, tzinfo=UTC), 5, False, "x"),
    ]
    assert labels[0].end == datetime(2025, 7, 12, 20, 40, tzinfo=UTC)


HEADER = "metric,start,minutes,must_page\n"
GOOD = "failed_rate,2025-07-12 20:00,40,true\n"


def test_header_alone_is_no_known_incident(tmp_path: Path) -> None:
    path = tmp_path / "quiet.csv"
    path.write_text(HEADER)
    assert read_labels(path) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty; it needs the header metric,start,minutes,must_page"),
        ("metric,start,minutes\n" + "failed_rate,2025-07-12 20:00,40\n", "line 1: missing column"),
        ("metric,begin,length,must_page\n", "line 1: missing columns start, minutes"),
        (HEADER + GOOD + "failed_rate,2025-13-01 20:00,40,true\n", "line 3: bad start"),
        (HEADER + "failed_rate,yesterday,40,true\n", "line 2: bad start 'yesterday'"),
        (HEADER + "failed_rate,2025-07-12 20:00:30,40,true\n", "line 2: start"),
        (HEADER + "failed_rate,2025-07-12 20:00,0,true\n", "line 2: bad minutes 0"),
        (HEADER + "failed_rate,2025-07-12 20:00,-5,true\n", "line 2: bad minutes '-5'"),
        (HEADER + "failed_rate,2025-07-12 20:00,1.5,true\n", "line 2: bad minutes '1.5'"),
        (HEADER + "failed_rate,2025-07-12 20:00,99999999,true\n", "line 2: bad minutes"),
        (HEADER + "failed_rate,2025-07-12 20:00,40,maybe\n", "line 2: bad must_page 'maybe'"),
        (HEADER + "failed_rate,2025-07-12 20:00,40\n", "line 2: must_page is empty"),
        (HEADER + ",2025-07-12 20:00,40,true\n", "line 2: metric is empty"),
        (HEADER + "failed_rate,2025-07-12 20:00,40,true,extra\n", "line 2: more values"),
        (HEADER + GOOD + '"failed_rate,2025-07-12\n', "line"),
    ],
    ids=[
        "empty-file",
        "missing-column",
        "missing-columns",
        "bad-date",
        "not-a-date",
        "not-a-whole-minute",
        "zero-minutes",
        "negative-minutes",
        "fractional-minutes",
        "too-many-minutes",
        "bad-flag",
        "short-row",
        "empty-metric",
        "long-row",
        "unclosed-quote",
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LabelsError) as raised:
        read_labels(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(LabelsError, match=rf"^{missing}: cannot read it: No such file"):
        read_labels(missing)
    with pytest.raises(LabelsError, match=rf"^{tmp_path}: cannot read it: Is a directory"):
        read_labels(tmp_path)
    binary = write(tmp_path, HEADER.encode() + b"failed_rate,\xff\xfe,40,true\n")
    with pytest.raises(LabelsError, match=rf"^{binary}: not UTF-8 text"):
        read_labels(binary)


def test_an_unknown_metric_names_the_known_ones(tmp_path: Path, database_url: str) -> None:
    path = write(tmp_path, HEADER + GOOD + "failed_rates,2025-07-12 21:00,40,true\n")
    labels = read_labels(path)
    with connect(database_url) as conn:
        check_metrics(conn, path, labels[:1])
        with pytest.raises(LabelsError) as raised:
            check_metrics(conn, path, labels)
    message = str(raised.value)
    assert message.startswith(f"{path}: line 3: unknown metric 'failed_rates'; known: ")
    assert "failed_rate" in message.split("known: ")[1].split(", ")
