"""Reading CSV files: whole-file refusals with their real cause, headers, and every line-end
style read the same, in linear time."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from ingest_helpers import (
    COUNTS_HEADER,
    GOOD_COUNT,
    LoadCsv,
    counts,
    load,
    query,
    rejects,
    utc,
    write,
)
from txmon.core.errors import LoadError
from txmon.ingest import readers
from txmon.lab.ingest_speed import write_counts_file

pytest_plugins = ["ingest_fixtures"]


def test_missing_file(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"nope\.csv does not exist"):
        load(database_url, tmp_path / "nope.csv")


def test_directory(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is a directory"):
        load(database_url, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(database_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "counts.csv", COUNTS_HEADER)
    path.chmod(0)
    with pytest.raises(LoadError, match="cannot be read"):
        load(database_url, path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; expected 'timestamp,status,count'"),
        ("\n \n\n", "is empty"),
        ("\nts,status,count\n", "has a blank first line"),
        (
            "timestamp,status,count,region\n",
            "header 'timestamp,status,count,region': 'region' is not a monitored dimension"
            " (acquirer, auth_code, card_type, channel, product; add it to"
            " seeds/monitored_dimensions.csv to monitor counts by it)",
        ),
        (
            "timestamp,count,acquirer,region\n",
            "unrecognised header 'timestamp,count,acquirer,region' (missing status; unknown"
            " column(s) 'acquirer', 'region')",
        ),
        ("timestamp,all,count\n", "header 'timestamp,all,count': 'all' cannot be a dimension"),
        ("timestamp,count\n", "unrecognised header 'timestamp,count' (missing status)"),
        ("timestamp,status\n", "unrecognised header 'timestamp,status' (missing count)"),
        (
            "transaction_id,created_at,status\n",
            "unrecognised header 'transaction_id,created_at,status' (missing amount)",
        ),
        (
            "transaction_id,created_at,status,amount,colour\n",
            "(unknown column(s) 'colour')",
        ),
        ("timestamp,status,status\n", "names 'status' more than once"),
        ("2025-01-01 10:00,approved,5\n", "has no header line"),
        ('"timestamp,status\n', "unreadable header: malformed CSV quoting"),
    ],
)
def test_unusable_header(database_url: str, tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", content + GOOD_COUNT + "\n" if content.strip() else content)
    with pytest.raises(LoadError) as raised:
        load(database_url, path)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    if "unrecognised" in message:
        assert "expected 'timestamp,status,count' (counts)" in str(raised.value)
    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress((COUNTS_HEADER + GOOD_COUNT + "\n").encode()), "is a gzip-compressed file"),
        ((COUNTS_HEADER + GOOD_COUNT + "\n").encode("utf-16"), "is UTF-16 text: save it as UTF-8"),
        (
            (COUNTS_HEADER + GOOD_COUNT + "\n").encode("utf-16-le"),
            "is not UTF-8 text (NUL bytes in line 1): a binary file or UTF-16 text?",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "is a PNG image, not CSV text"),
        (b"PK\x03\x04\x14\x00\x06\x00", "is a ZIP archive or an Excel .xlsx workbook"),
        (
            (COUNTS_HEADER + "2025-01-01 10:00,aprova\xe7\xe3o,1\n").encode("latin-1"),
            "is not UTF-8 text: invalid byte 0xE7 on line 2 (Latin-1 or Windows-1252 text?)",
        ),
        (
            # CR line ends: the line number still counts them.
            ("timestamp,status,count\r" + GOOD_COUNT + "\r" * 3).encode()
            + "2025-01-01 10:00,n\xe3o,1\r".encode("cp1252"),
            "invalid byte 0xE3 on line 5",
        ),
        (
            (COUNTS_HEADER + GOOD_COUNT + "\n").encode() + b"\x00\x01\x02\xff\xfe" * 50,
            "invalid byte 0xFF on line 3 (NUL bytes: a binary file or UTF-16 text?)",
        ),
        ((COUNTS_HEADER + "2025-01-01 10:00,ok,1\n").encode() + b"\xe2\x82", "ends inside a"),
    ],
    ids=["gzip", "utf-16", "utf-16-no-bom", "png", "zip", "latin-1", "cr-line-number", "binary",
         "cut-short"],
)  # fmt: skip
def test_file_that_is_not_utf8_text_names_the_cause(
    load_csv: LoadCsv, database_url: str, content: bytes, message: str
) -> None:
    with pytest.raises(LoadError) as raised:
        load_csv(content, "counts.csv")

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert query(database_url, "select to_regclass('txmon_raw.loads')") == [(None,)]


def test_a_file_without_line_ends_is_refused_for_its_real_cause(load_csv: LoadCsv) -> None:
    # A 3 MB single line (a JSON export, say): no header, and no quadratic work to say so.
    content = "[" + ",".join('{"status": "approved"}' for _ in range(130_000)) + "]"
    with pytest.raises(LoadError) as raised:
        load_csv(content, "export.csv")

    assert f"its first line is {len(content):,} bytes long, no CSV header" in str(raised.value)


def test_many_columns_named_twice_are_named_once(load_csv: LoadCsv) -> None:
    header = ",".join(["timestamp", "status", "count"] * 300)
    with pytest.raises(LoadError, match="names 'count', 'status', 'timestamp' more than once"):
        load_csv(header + "\n", "wide.csv")


LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def with_line_ends(lines: list[str], style: str) -> str:
    """The lines joined by one style's line end, or for "mixed" by each style in turn."""
    if style != "mixed":
        return "".join(line + LINE_ENDS[style] for line in lines)
    ends = ["\r\n", "\n", "\r", "\n\n", "\r\r\n"]  # blank lines in between are skipped
    return "".join(line + ends[number % len(ends)] for number, line in enumerate(lines))


@pytest.mark.parametrize("style", ["lf", "crlf", "cr", "mixed"])
def test_every_line_end_style_loads_the_same_rows(
    database_url: str, tmp_path: Path, style: str
) -> None:
    lines = ["timestamp,status,count"] + [
        f"2025-01-01 {minute // 60:02d}:{minute % 60:02d},{status},{minute}"
        for minute in range(300)
        for status in ("approved", "denied")
    ]
    lines[10] = "2025-01-01 00:05,approved,-1"  # one reject, at the same line in every style
    path = write(tmp_path, f"{style}.csv", with_line_ends(lines, style))
    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (599, 1)
    reject_line = rejects(database_url)[0][0]
    stored = counts(database_url)
    if style == "mixed":  # blank lines shift the numbers; the rows are the same
        assert reject_line > 11
        stored = [(*row[:3], None) for row in stored]
    else:
        assert reject_line == 11
    expected = [
        (utc(f"2025-01-01 {m // 60:02d}:{m % 60:02d}"), status, m, None if style == "mixed" else n)
        for n, (m, status) in enumerate(
            ((m, s) for m in range(300) for s in ("approved", "denied")), start=2
        )
        if n != 11
    ]
    assert stored == expected


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 1 << 20])
def test_split_lines_is_the_same_whatever_the_chunks(chunk_size: int) -> None:
    data = b"a,b\r\nc\rd\n\re\r\r\nf\n\n" + b"g" * 50 + b"\r\n\xc3\xa3o\rlast"
    chunks = [data[start : start + chunk_size] for start in range(0, len(data), chunk_size)]

    assert list(readers.split_lines(chunks)) == [
        (b"a,b", 3), (b"c", 1), (b"d", 1), (b"", 0), (b"e", 1), (b"", 0), (b"f", 1), (b"", 0),
        (b"g" * 50, 50), (b"\xc3\xa3o", 3), (b"last", 4),
    ]  # fmt: skip


def test_split_lines_keeps_only_the_start_of_a_huge_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 10)
    chunks = [b"x" * 7, b"y" * 7, b"z" * 7 + b"\nshort\n", b"w" * 30]

    assert list(readers.split_lines(chunks)) == [
        (b"x" * 7 + b"y" * 3, 21),
        (b"short", 5),
        (b"w" * 10, 30),
    ]


@pytest.mark.parametrize("style", ["cr", "mixed"])
def test_cr_line_ends_load_in_linear_time(raw_tables: str, tmp_path: Path, style: str) -> None:
    # 40,000 CR-ended rows took 67 s when the whole file was read as one line.
    lines = ["timestamp,status,count"] + [
        f"2025-01-{1 + minute // 1440:02d} {minute // 60 % 24:02d}:{minute % 60:02d},ok,1"
        for minute in range(40_000)
    ]
    path = write(tmp_path, "cr.csv", with_line_ends(lines, style))

    # Quadratic reading took 67 s here; linear takes about 2 s. The time is a figure for the
    # benchmark (txmon bench --ingest-mb), not an assertion: this checks the rows.
    summary = load(raw_tables, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (40_000, 0)


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("TXMON_SKIP_BIG_FILES")), reason="TXMON_SKIP_BIG_FILES is set"
)
@pytest.mark.parametrize("style", ["lf", "crlf", "cr", "mixed"])
def test_100_mb_file_of_each_line_end_style(database_url: str, tmp_path: Path, style: str) -> None:
    # About 3.7 million rows per style: 95 to 120 s each on a shared 2-core machine (PostgreSQL
    # 15 and 18), most of it in COPY. lab.ingest_speed.ingest_throughput prints rows per second.
    path = tmp_path / f"big-{style}.csv"
    rows_written, total = write_counts_file(path, 100, style)
    assert path.stat().st_size >= 100 * 2**20

    summary = load(database_url, path)

    assert (summary.rows_loaded, summary.rows_rejected) == (rows_written, 0)
    assert query(
        database_url,
        "select count(*), sum(transaction_count), min(line_number), max(line_number)"
        " from txmon_raw.transaction_counts",
    ) == [(rows_written, total, 2, rows_written + 1)]


def test_counts_by_a_dimension_value_load_with_or_without_a_status(
    database_url: str, tmp_path: Path
) -> None:
    by_code = write(
        tmp_path,
        "codes.csv",
        "timestamp,Auth_Code,count\n2025-07-12 13:45:00,00,116\n2025-07-12 13:45:00,59,3\n"
        "2025-07-12 13:46:00, ,2\n",
    )
    by_acquirer = write(
        tmp_path,
        "acquirers.csv",
        "acquirer,timestamp,status,count\nstone,2025-07-12 13:45:00,failed,4\n",
    )

    codes = load(database_url, by_code)
    acquirers = load(database_url, by_acquirer)

    assert (codes.rows_loaded, codes.rows_rejected) == (2, 1)
    assert codes.first_rejects[0][1] == "empty dimension value"
    assert acquirers.rows_loaded == 1
    assert query(
        database_url,
        "select status, transaction_count, dimension_name, dimension_value"
        " from txmon_raw.transaction_counts order by count_id",
    ) == [
        (None, 116, "auth_code", "00"),
        (None, 3, "auth_code", "59"),
        ("failed", 4, "acquirer", "stone"),
    ]
