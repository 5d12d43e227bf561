"""dbt targets and schema names: `dev` and `prod` in one database never touch each other's
schemas or builds, the public schema's name is one setting that the build and txmon's readers
share, and a name that cannot work is one line before anything is written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from helpers import TXMON, listed_metrics, load_config, rows
from txmon.core.errors import TxmonError
from txmon.core.facts import INTERNAL_SCHEMA, PUBLIC_SCHEMA, check_public_schema
from txmon.lab import generate, generated_files
from txmon.pipeline import dbt as pipeline

DEV_SCHEMA = "ci_dev"
CUSTOM_PUBLIC_SCHEMA = "payments_monitoring"


def schemas(url: str) -> set[str]:
    return {
        name
        for (name,) in rows(
            url,
            "select nspname from pg_namespace"
            " where left(nspname, 3) <> 'pg_' and nspname <> 'information_schema'",
        )
    }


def schemas_read_by_views_in(url: str, schema: str) -> set[str]:
    """The schemas the views in `schema` read, besides their own (the incident views read
    the alert events beside them)."""
    return {
        name
        for (name,) in rows(
            url,
            "select distinct table_schema from information_schema.view_table_usage"
            " where view_schema = %s and table_schema <> view_schema",
            (schema,),
        )
    }


def builds_in(url: str, schema: str) -> int:
    return rows(url, f"select count(*) from {schema}.build_log")[0][0]


def current_status_in(url: str, schema: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "select metric_name, current_minute_at, value, severity"
        f" from {schema}.current_status order by metric_name",
    )


def test_dev_and_prod_share_a_database_without_colliding(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.2, seed=4))
    monkeypatch.setenv("TXMON_DBT_DEV_SCHEMA", DEV_SCHEMA)
    # The profile's choice is dev; txmon's own build still builds prod, the target it reads.
    monkeypatch.setenv("TXMON_DBT_TARGET", "dev")
    pipeline.build(url=database_url, quiet=True)
    assert schemas(database_url) >= {INTERNAL_SCHEMA, PUBLIC_SCHEMA}
    assert not schemas(database_url) & {DEV_SCHEMA, f"{DEV_SCHEMA}_{PUBLIC_SCHEMA}"}
    prod_status = current_status_in(database_url, PUBLIC_SCHEMA)

    # A dev build while prod holds its build lock (a scheduler mid-cycle): it neither waits
    # nor fails, and writes only under its own schema.
    with psycopg.connect(database_url, autocommit=True) as prod_build:
        assert prod_build.execute(
            "select pg_try_advisory_lock(hashtext(%s))", (f"{INTERNAL_SCHEMA}.build",)
        ).fetchone() == (True,)
        pipeline.run_dbt("build", url=database_url, quiet=True, target=None)

    dev_public = f"{DEV_SCHEMA}_{PUBLIC_SCHEMA}"
    assert {DEV_SCHEMA, dev_public} <= schemas(database_url)
    assert schemas_read_by_views_in(database_url, dev_public) == {DEV_SCHEMA}
    assert schemas_read_by_views_in(database_url, PUBLIC_SCHEMA) == {INTERNAL_SCHEMA}
    assert (builds_in(database_url, INTERNAL_SCHEMA), builds_in(database_url, DEV_SCHEMA)) == (1, 1)
    # Both read the same raw tables and judge them alike; prod's published rows are untouched.
    assert current_status_in(database_url, dev_public) == prod_status
    assert current_status_in(database_url, PUBLIC_SCHEMA) == prod_status


def txmon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TXMON, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_custom_public_schema_is_built_and_read_there(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**txmon_env, "TXMON_PUBLIC_SCHEMA": CUSTOM_PUBLIC_SCHEMA}
    data = tmp_path / "day.csv"
    generated_files.write_counts_csv(data, generate.GeneratorConfig(days=0.2, seed=4))
    for step in (("load", str(data)), ("build",), ("dispatch",)):
        done = txmon(env, *step)
        assert done.returncode == 0, done.stdout + done.stderr

    assert CUSTOM_PUBLIC_SCHEMA in schemas(database_url)
    assert PUBLIC_SCHEMA not in schemas(database_url)
    assert len(current_status_in(database_url, CUSTOM_PUBLIC_SCHEMA)) == len(listed_metrics())
    # The alert tables live beside the views, and the dispatcher's run was recorded there.
    assert rows(database_url, f"select count(*) from {CUSTOM_PUBLIC_SCHEMA}.dispatch_runs")[0][0]

    status = txmon(env, "status")
    assert "overall:" in status.stdout, status.stdout + status.stderr
    document = json.loads(txmon(env, "monitor", "--json").stdout)
    assert len(document["metrics"]) == len(listed_metrics())

    # Plain dbt after `txmon db env` builds into the same schema.
    exported = txmon(env, "db", "env").stdout
    assert f"export TXMON_PUBLIC_SCHEMA={CUSTOM_PUBLIC_SCHEMA}" in exported


@pytest.mark.parametrize(
    "name",
    ["Monitoring", "payments-views", "1views", "pg_views", "a" * 64, INTERNAL_SCHEMA, "txmon_raw"],
)
def test_a_public_schema_that_cannot_work_is_refused(name: str) -> None:
    with pytest.raises(TxmonError, match=r"TXMON_PUBLIC_SCHEMA=.* is not a usable schema name"):
        check_public_schema(name)


def test_a_bad_public_schema_is_one_line_and_writes_nothing(
    database_url: str, txmon_env: dict[str, str]
) -> None:
    env = {**txmon_env, "TXMON_PUBLIC_SCHEMA": "Payments-Views"}
    before = schemas(database_url)
    for step in (("build",), ("status",), ("dbt", "ls")):
        failed = txmon(env, *step)
        assert failed.returncode != 0, failed.stdout
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert lines[0].startswith("txmon: error: TXMON_PUBLIC_SCHEMA='Payments-Views'")
    assert schemas(database_url) == before
    # Commands that never read the views still work.
    assert txmon(env, "--help").returncode == 0
