"""The dbt project as a plain dbt project on the user's own data: `dbt build` on an empty
database, a table of the user's own (the README's payments ledger) read through a column
mapping, freshness only on the inputs in use, an input from a seed in seeds/inputs/, and one
clear error for an input var of the wrong shape."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from helpers import rows
from pipeline_helpers import insert_counts
from txmon.core.errors import BuildError
from txmon.core.facts import INTERNAL_SCHEMA, PUBLIC_SCHEMA
from txmon.db.connection import connect
from txmon.ingest.raw_tables import raw_tables_definition
from txmon.pipeline import dbt as pipeline

pytestmark = pytest.mark.slow

DBT = str(Path(sys.executable).parent / "dbt")
README = REPO_ROOT / "README.md"
INPUT_SEEDS = REPO_ROOT / "seeds" / "inputs"


# The statuses each rate counts (seeds/metric_definitions.csv).
def seed_metrics() -> dict[str, tuple[str, ...] | None]:
    """The metric_definitions seed's rates and volumes (what all transactions have, without
    durations): each rate's numerator statuses; None for a volume."""
    with (REPO_ROOT / "seeds" / "metric_definitions.csv").open(newline="") as handle:
        return {
            row["metric_name"]: (
                tuple(status.strip() for status in row["numerator_statuses"].split("|"))
                if row["metric_kind"] == "rate"
                else None
            )
            for row in csv.DictReader(handle)
            if row["metric_kind"] in ("rate", "volume")
        }


def plain_dbt(
    url: str, command: str, variables: dict[str, Any] | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`dbt COMMAND` as a user runs it after `eval "$(txmon db env)"`: the dbt executable on the
    project, nothing of txmon's Python before it. Artefacts go under the test's TXMON_HOME."""
    home = Path(os.environ["TXMON_HOME"])
    args = [DBT, *command.split(), "--project-dir", str(REPO_ROOT), "--profiles-dir"]
    args += [str(REPO_ROOT), "--target-path", str(home / "target"), "--log-path", str(home)]
    if variables is not None:
        args += ["--vars", json.dumps(variables)]
    env = {
        **os.environ,
        **pipeline.dbt_environment(url),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [*args, *extra], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0


def minute_rows(url: str) -> dict[tuple[str, datetime], tuple[int, int]]:
    """Numerator and denominator of every metric and minute in the public view."""
    found = rows(
        url,
        "select metric_name, minute_at, numerator, denominator"
        f" from {PUBLIC_SCHEMA}.metric_minutes where dimension = 'all'",
    )
    return {
        (metric, minute): (numerator, denominator)
        for metric, minute, numerator, denominator in found
    }


def expected_rows(
    statuses: dict[datetime, Counter[str]],
) -> dict[tuple[str, datetime], tuple[int, int]]:
    """What metric_minutes holds for the statuses counted in each minute."""
    listed = seed_metrics()
    counted = {status for numerator in listed.values() for status in numerator or ()}
    expected = {}
    seen: set[str] = set()  # a status no listed rate counts gets a rate from its first minute
    for minute, counts in sorted(statuses.items()):
        total = sum(counts.values())
        seen |= {status for status in counts if status not in counted}
        for metric, numerator in listed.items():
            count = sum(counts[status] for status in numerator) if numerator else total
            expected[(metric, minute)] = (count, total if numerator else 1)
        for status in seen:
            expected[(f"{status}_rate", minute)] = (counts[status], total)
    return expected


def readme_ledger() -> tuple[str, dict[str, Any]]:
    """The README's payments ledger: the SQL that creates it and the vars that map it."""
    section = README.read_text().split("### Tables of your own", 1)[1]
    sql = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    variables = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert sql and variables, "the README's ledger example is missing"
    return sql.group(1), yaml.safe_load(variables.group(1))["vars"]


def relation_exists(url: str, name: str) -> bool:
    return rows(url, "select to_regclass(%s) is not null", (name,))[0][0]


def test_plain_dbt_build_on_an_empty_database(database_url: str, txmon_env: dict[str, str]) -> None:
    with connect(database_url) as conn:
        # An empty schema of that name, made by hand, holds nothing to keep: txmon's tables go in.
        conn.execute("create schema txmon_raw")
    result = plain_dbt(database_url, "build")
    assert succeeded(result), result.stdout[-3000:]

    # dbt created txmon's raw tables from the DDL txmon's writers run, marked alike: a load
    # afterwards finds them current and runs no DDL.
    comment = rows(
        database_url, "select obj_description('txmon_raw'::regnamespace, 'pg_namespace')"
    )
    assert comment == [(raw_tables_definition().marker,)]
    partitioned = rows(
        database_url,
        "select c.relname from pg_partitioned_table p join pg_class c on c.oid = p.partrelid"
        " where c.relnamespace = 'txmon_raw'::regnamespace order by 1",
    )
    assert partitioned == [("transaction_counts",), ("transactions",)]
    assert rows(database_url, f"select count(*) from {PUBLIC_SCHEMA}.current_status") == [(0,)]
    # No input reads a seed, so none of seeds/inputs/ was loaded.
    for path in INPUT_SEEDS.glob("*.csv"):
        assert not relation_exists(database_url, f"{INTERNAL_SCHEMA}.{path.stem}"), path.name


def test_the_readme_ledger_is_monitored_through_its_column_mapping(
    database_url: str, txmon_env: dict[str, str]
) -> None:
    create_ledger, variables = readme_ledger()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=72)
    statuses: dict[datetime, Counter[str]] = {}
    ledger: list[tuple[int, datetime, str, int]] = []
    for index in range(70):
        minute = first + timedelta(minutes=index)
        results = ["declined"] + ["captured"] * 19
        if index >= 60:
            results[1] = "error"  # failures in the last ten minutes
        if index % 10 == 0:
            results[2] = "refunded"
        statuses[minute] = Counter(
            {"captured": "approved", "declined": "denied", "error": "failed"}.get(r, "reversed")
            for r in results
        )
        ledger += [
            (len(ledger) + n + 1, minute + timedelta(seconds=2 * n), result, 1999)
            for n, result in enumerate(results)
        ]
    with connect(database_url) as conn:
        conn.execute(create_ledger)
        with conn.cursor().copy(
            "copy payments.ledger (id, occurred_at, result, amount_cents) from stdin"
        ) as copy:
            for row in ledger:
                copy.write_row(row)
    ledger_shape = (
        "select relkind, obj_description(oid, 'pg_class'),"
        " (select string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', '"
        "  order by attnum) from pg_attribute where attrelid = c.oid and attnum > 0)"
        " from pg_class c where oid = 'payments.ledger'::regclass"
    )
    before = rows(database_url, ledger_shape)

    result = plain_dbt(database_url, "build", variables)
    assert succeeded(result), result.stdout[-3000:]

    assert minute_rows(database_url) == expected_rows(statuses)
    amounts = rows(
        database_url, f"select distinct amount from {INTERNAL_SCHEMA}.stg_txmon_raw__transactions"
    )
    assert amounts == [(Decimal("19.99"),)]
    # The ledger is read as it is: not altered, and no raw tables of txmon's made beside it.
    assert rows(database_url, ledger_shape) == before
    assert rows(database_url, "select to_regnamespace('txmon_raw')") == [(None,)]

    # Freshness reads the ledger's recorded_at (the mapped loaded_at): fresh, then stale.
    fresh = plain_dbt(database_url, "source freshness", variables)
    assert succeeded(fresh), fresh.stdout[-3000:]
    assert "transactions_input.transactions" in fresh.stdout
    with connect(database_url) as conn:
        conn.execute("update payments.ledger set recorded_at = now() - interval '1 hour'")
    stale = plain_dbt(database_url, "source freshness", variables)
    assert stale.returncode == 1 and "ERROR STALE" in stale.stdout


def test_freshness_checks_only_the_inputs_in_use(
    database_url: str, txmon_env: dict[str, str]
) -> None:
    insert_counts(database_url, [(datetime.now(UTC), {"approved": 12, "failed": 1})])
    counts_only = {"transactions_source": False}

    fresh = plain_dbt(database_url, "source freshness", counts_only)
    assert succeeded(fresh), fresh.stdout[-3000:]
    assert "txmon_raw.transactions " not in fresh.stdout
    # Without saying so, the empty transactions table is in use, and stale.
    both = plain_dbt(database_url, "source freshness")
    assert both.returncode == 1
    assert re.search(r"ERROR STALE freshness of txmon_raw\.transactions ", both.stdout)

    with connect(database_url) as conn:
        conn.execute(
            "update txmon_raw.transaction_counts set loaded_at = now() - interval '1 hour'"
        )
    stale = plain_dbt(database_url, "source freshness", counts_only)
    assert stale.returncode == 1
    assert re.search(r"ERROR STALE freshness of txmon_raw\.transaction_counts ", stale.stdout)


def test_an_input_from_a_seed(database_url: str, txmon_env: dict[str, str]) -> None:
    variables = {"counts_source": {"seed": "example_counts"}, "transactions_source": False}
    result = plain_dbt(database_url, "build", variables)
    assert succeeded(result), result.stdout[-3000:]

    statuses: dict[datetime, Counter[str]] = {}
    with (INPUT_SEEDS / "example_counts.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            minute = datetime.fromisoformat(row["observed_at"]).replace(tzinfo=UTC)
            statuses.setdefault(minute, Counter())[row["status"]] += int(row["transaction_count"])
    assert minute_rows(database_url) == expected_rows(statuses)
    # Only the CSV named is loaded; the other input seeds cost nothing.
    assert relation_exists(database_url, f"{INTERNAL_SCHEMA}.example_counts")
    assert not relation_exists(database_url, f"{INTERNAL_SCHEMA}.example_transactions")


def test_a_schema_not_made_by_txmon_is_read_and_never_altered(
    database_url: str, txmon_env: dict[str, str]
) -> None:
    """raw_schema may name a schema of yours with tables shaped like txmon's: dbt reads them and
    creates nothing there (no partitioning, no bookkeeping tables)."""
    with connect(database_url) as conn:
        conn.execute(
            "create schema legacy;"
            " create table legacy.transaction_counts (count_id bigint, observed_at timestamptz,"
            " status text, transaction_count bigint, load_id bigint, loaded_at timestamptz);"
            " create table legacy.transactions (transaction_id text, created_at timestamptz,"
            " status text, amount numeric, channel text, product text, acquirer text,"
            " card_type text, auth_code text, duration_ms integer, load_id bigint,"
            " loaded_at timestamptz);"
            " create table legacy.load_removals (load_id bigint, first_minute_at timestamptz,"
            " last_minute_at timestamptz, removed_at timestamptz);"
            " insert into legacy.transaction_counts values (1, now(), 'approved', 3, null, now())"
        )
    catalog = (
        "select relname, relkind::text from pg_class where relnamespace = 'legacy'::regnamespace"
        " union all select '(comment)', coalesce(obj_description('legacy'::regnamespace), '')"
        " order by 1"
    )
    before = rows(database_url, catalog)

    result = plain_dbt(database_url, "run", {"raw_schema": "legacy"}, "--select", "staging")
    assert succeeded(result), result.stdout[-3000:]

    assert rows(database_url, catalog) == before
    assert rows(
        database_url,
        "select status, transaction_count"
        f" from {INTERNAL_SCHEMA}.stg_txmon_raw__transaction_counts",
    ) == [("approved", 3)]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {
                "transactions_source": {
                    "schema": "payments",
                    "table": "ledger",
                    "columns": {"creatd_at": "occurred_at"},
                }
            },
            "transactions_source: unknown column 'creatd_at' under columns (txmon's columns are"
            " transaction_id, created_at, status,",
        ),
        (
            {"counts_source": {"schema": "payments", "tabel": "counts"}},
            "counts_source: unknown key 'tabel' (the keys are schema, table, seed and columns)",
        ),
        (
            {"transactions_source": {"table": "ledger"}},
            "transactions_source: a table of yours needs both schema and table",
        ),
        (
            {"counts_source": "yes please"},
            "counts_source must be txmon, false, {schema: ..., table: ..., columns: {...}} or"
            ' {seed: ..., columns: {...}}; got "yes please"',
        ),
        (
            {"counts_source": False, "transactions_source": False},
            "counts_source and transactions_source are both false: txmon needs at least one input",
        ),
    ],
    ids=["unknown-column", "unknown-key", "no-schema", "not-a-source", "no-input"],
)
def test_an_input_var_of_the_wrong_shape_is_one_clear_error(
    database_url: str, txmon_env: dict[str, str], variables: dict[str, Any], message: str
) -> None:
    with pytest.raises(BuildError) as raised:
        pipeline.parse_project(["--vars", json.dumps(variables)], url=database_url)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_required_column_missing_from_a_table_is_named(
    database_url: str, txmon_env: dict[str, str]
) -> None:
    create_ledger, variables = readme_ledger()
    with connect(database_url) as conn:
        conn.execute(create_ledger)
    # The ledger has no created_at: leaving its mapping out cannot mean the same-named column.
    del variables["transactions_source"]["columns"]["created_at"]
    with pytest.raises(BuildError) as raised:
        pipeline.run_dbt(
            "run",
            ["--select", "stg_txmon_raw__transactions", "--vars", json.dumps(variables)],
            url=database_url,
            quiet=True,
        )
    assert "transactions_source: payments.ledger has no column created_at: map one" in str(
        raised.value
    )
    assert "\n" not in str(raised.value)
    assert rows(database_url, "select count(*) from payments.ledger") == [(0,)]
