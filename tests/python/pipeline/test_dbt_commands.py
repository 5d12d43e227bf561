"""`txmon dbt COMMAND`: any dbt command, nested ones included (`source freshness`, `docs
generate`), with the options each one takes; a command dbt does not have is one line."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import TXMON
from txmon.core.errors import BuildError
from txmon.pipeline.dbt import dbt_arguments, dbt_command, on_target


def txmon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TXMON, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("txmon: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_dbt_commands_are_split_as_dbt_nests_them() -> None:
    assert dbt_command(["source", "freshness", "--select", "x"]) == (
        "source freshness",
        ["--select", "x"],
    )
    assert dbt_command(["docs", "generate"]) == ("docs generate", [])
    assert dbt_command(["run-operation", "macro_name", "--args", "{}"]) == (
        "run-operation",
        ["macro_name", "--args", "{}"],
    )


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["frobnicate"], "'frobnicate' is not a dbt command; dbt's commands: build, clean"),
        (["--select", "x"], "'--select' is not a dbt command"),
        (["source"], "`dbt source` needs one of: freshness, snapshot-freshness"),
        (["docs", "publish"], "`dbt docs` needs one of: generate, serve, not 'publish'"),
    ],
)
def test_a_command_dbt_does_not_have_is_refused(words: list[str], message: str) -> None:
    with pytest.raises(BuildError) as raised:
        dbt_command(words)
    assert str(raised.value).startswith(message)


def test_each_command_gets_only_the_options_it_takes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TXMON_HOME", str(tmp_path))
    freshness = dbt_arguments("source freshness", ["--select", "source:*"], quiet=True)
    assert freshness[freshness.index("source") + 1] == "freshness" and "--quiet" in freshness
    assert "--target-path" in freshness and freshness[-2:] == ["--select", "source:*"]
    # dbt deps and dbt debug refuse --target-path.
    for command in ("deps", "debug"):
        args = dbt_arguments(command)
        assert "--target-path" not in args and "--project-dir" in args


def test_txmons_own_commands_pin_the_target_they_read() -> None:
    assert on_target(["--select", "x"], "prod") == ["--select", "x", "--target", "prod"]
    assert on_target(["--target", "dev"], "prod") == ["--target", "dev"]
    assert on_target(["-t", "dev"], "prod") == ["-t", "dev"]
    assert on_target(["--target=dev"], "prod") == ["--target=dev"]
    assert on_target(["--select", "x"], None) == ["--select", "x"]


def write_fresh_inputs(folder: Path) -> tuple[Path, Path]:
    """A few minutes of both input shapes, stamped just now: every source is fresh."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=offset) for offset in (3, 2, 1)]
    counts = folder / "counts.csv"
    counts.write_text(
        "timestamp,status,count\n"
        + "".join(f"{minute:%Y-%m-%d %H:%M:%S},approved,100\n" for minute in minutes)
    )
    transactions = folder / "transactions.csv"
    transactions.write_text(
        "transaction_id,created_at,status,amount\n"
        + "".join(
            f"tx-{number},{minute:%Y-%m-%d %H:%M:%S},approved,10.00\n"
            for number, minute in enumerate(minutes)
        )
    )
    return counts, transactions


def test_nested_dbt_commands_run(txmon_env: dict[str, str], tmp_path: Path) -> None:
    loaded = txmon(txmon_env, "load", *map(str, write_fresh_inputs(tmp_path)))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr

    freshness = txmon(txmon_env, "dbt", "source", "freshness")
    assert freshness.returncode == 0, freshness.stdout + freshness.stderr
    assert "freshness of txmon_raw.transaction_counts" in freshness.stdout

    docs = txmon(txmon_env, "dbt", "docs", "generate")
    assert docs.returncode == 0, docs.stdout + docs.stderr
    target = Path(txmon_env["TXMON_HOME"]) / "dbt" / "target"
    assert (target / "catalog.json").is_file() and (target / "index.html").is_file()

    debug = txmon(txmon_env, "dbt", "debug")
    assert debug.returncode == 0, debug.stdout + debug.stderr


def test_bad_dbt_command_lines_are_one_line(txmon_env: dict[str, str]) -> None:
    assert_one_line_error(txmon(txmon_env, "dbt", "frobnicate"), "not a dbt command")
    assert_one_line_error(txmon(txmon_env, "dbt", "docs"), "`dbt docs` needs one of")
    assert_one_line_error(
        txmon(txmon_env, "build", "--quick", "--select", "current_status"),
        "--quick is the selector monitor_cycle: it takes no --select",
    )
