"""Superset's assets and settings, checked without running Superset.

The bundle under superset/assets is hand-maintained YAML: these tests keep its references,
columns and filter choices consistent with each other and with the dbt models it reads.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import socket
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import yaml

from conftest import REPO_ROOT
from helpers import TXMON
from txmon.core.errors import TxmonError
from txmon.core.paths import superset_dir
from txmon.db.connection import libpq_environment
from txmon.ops.superset import (
    SupersetError,
    SupersetFiles,
    SupersetHome,
    _usernames,
    admin_credentials,
    ensure_secret_key,
    reader_uri,
    start_server,
)

SUPERSET_DIR = REPO_ROOT / "superset"
ASSETS = SUPERSET_DIR / "assets"
PUBLIC_MODELS = REPO_ROOT / "models" / "marts" / "public" / "_public__models.yml"


def load_all(folder: str) -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted((ASSETS / folder).rglob("*.yaml"))
    }


DATASETS = load_all("datasets")
CHARTS = load_all("charts")
DASHBOARDS = load_all("dashboards")
DATABASES = load_all("databases")


def public_view_columns() -> dict[str, list[str]]:
    document = yaml.safe_load(PUBLIC_MODELS.read_text())
    return {
        model["name"]: [column["name"] for column in model.get("columns", [])]
        for model in document["models"]
    }


def view_of(dataset: dict[str, Any]) -> str | None:
    """The monitoring view a dataset reads: its table, or the one its SQL selects from."""
    if not dataset["sql"]:
        return dataset["table_name"]
    for word in dataset["sql"].split():
        if word.startswith("monitoring."):
            return word.removeprefix("monitoring.")
    return None


def chart_columns(params: dict[str, Any]) -> set[str]:
    """Every dataset column a chart's form data names."""
    names = set(params.get("all_columns", [])) | set(params.get("groupby", []))
    if "x_axis" in params:
        names.add(params["x_axis"])
    for key in ("adhoc_filters", "adhoc_filters_b"):
        names |= {item["subject"] for item in params.get(key, [])}
    names |= {json.loads(item)[0] for item in params.get("order_by_cols", [])}
    return names


def test_superset_files_are_found_from_a_checkout() -> None:
    assert superset_dir() == SUPERSET_DIR


def test_every_reference_in_the_bundle_resolves() -> None:
    (database,) = DATABASES.values()
    dataset_uuids = {dataset["uuid"] for dataset in DATASETS.values()}
    chart_uuids = {chart["uuid"] for chart in CHARTS.values()}
    all_uuids = [item["uuid"] for item in [*DATASETS.values(), *CHARTS.values(), database]]
    assert len(all_uuids) == len(set(all_uuids)), "UUIDs must be unique"
    assert all(dataset["database_uuid"] == database["uuid"] for dataset in DATASETS.values())
    assert all(chart["dataset_uuid"] in dataset_uuids for chart in CHARTS.values())

    (dashboard,) = DASHBOARDS.values()
    assert dashboard["dashboard_title"] == "Transaction monitoring"
    placed = {
        item["meta"]["uuid"]
        for item in dashboard["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    assert placed == chart_uuids, "every chart is on the dashboard, and nothing else"
    for item in dashboard["position"].values():
        if isinstance(item, dict):
            for child in item.get("children", []):
                assert child in dashboard["position"], f"{item['id']} -> {child}"
    for native_filter in dashboard["metadata"]["native_filter_configuration"]:
        for target in native_filter["targets"]:
            assert target["datasetUuid"] in dataset_uuids


def test_datasets_list_exactly_the_columns_of_the_views_they_read() -> None:
    views = public_view_columns()
    for name, dataset in DATASETS.items():
        view = view_of(dataset)
        if view not in views:
            continue  # the filter's choices, a literal list
        physical = [c["column_name"] for c in dataset["columns"] if not c.get("expression")]
        assert physical == views[view], f"{name} against monitoring.{view}"


def test_charts_and_their_saved_queries_use_columns_their_dataset_has() -> None:
    by_uuid = {dataset["uuid"]: dataset for dataset in DATASETS.values()}
    for name, chart in CHARTS.items():
        dataset = by_uuid[chart["dataset_uuid"]]
        columns = {column["column_name"] for column in dataset["columns"]}
        assert chart_columns(chart["params"]) <= columns, name
        context = json.loads(chart["query_context"])
        assert context["form_data"]["viz_type"] == chart["viz_type"], name
        for query in context["queries"]:
            named = {c if isinstance(c, str) else c["sqlExpression"] for c in query["columns"]}
            named |= {f["col"] for f in query["filters"]}
            assert named <= columns, name
            assert query["row_limit"] > 0


def test_status_tiles_cover_every_severity_with_a_colour() -> None:
    severities = ["HEALTHY", "INFO", "WARNING", "CRITICAL", "SEVERE"]
    seed = (REPO_ROOT / "seeds" / "severity_levels.csv").read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in seed] == severities
    tiles = [chart for chart in CHARTS.values() if chart["viz_type"] == "handlebars"]
    assert {chart["slice_name"] for chart in tiles} == {"Overall status", "Status by metric"}
    for chart in tiles:
        style = chart["params"]["styleTemplate"]
        for severity in severities:
            assert f".txmon-severity-{severity} {{ background:" in style
        assert 'data-severity="{{severity}}"' in chart["params"]["handlebarsTemplate"]


@pytest.fixture()
def superset_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Superset's settings module, loaded the way Superset loads it, with a fresh home."""
    monkeypatch.setenv("TXMON_SUPERSET_HOME", str(tmp_path / "superset-home"))
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "a-key-for-reading-the-other-settings")

    def load() -> dict[str, Any]:
        return runpy.run_path(str(SUPERSET_DIR / "superset_config.py"))

    return load


def test_time_window_choices_match_the_settings(superset_settings: Any) -> None:
    settings = superset_settings()
    sql = next(d for d in DATASETS.values() if d["table_name"] == "time_windows")["sql"]
    offered = re.findall(r"\('(\w+)', \d+\)", sql)
    assert offered == [*settings["TIME_WINDOW_HOURS"], "full"]
    windowed = [d for d in DATASETS.values() if d["sql"] and "time_window_condition" in d["sql"]]
    assert {view_of(d) for d in windowed} == {"metric_status", "alert_events", "anomaly_episodes"}


def test_time_window_condition_is_safe_for_any_filter_value(superset_settings: Any) -> None:
    condition = superset_settings()["time_window_condition"]
    assert condition("minute_at", ["6h"]) == (
        "minute_at > (select max(minute_at) from monitoring.metric_minutes) - interval '6 hours'"
    )
    assert "interval '48 hours'" in condition("minute_at", ["48h"])
    for value in (None, [], ["full"], ["6h'; drop table monitoring.alert_log; --"], [6]):
        assert condition("minute_at", value) == "true"
    with pytest.raises(ValueError, match="not a column name"):
        condition("minute_at; drop table x", ["6h"])


def test_secret_key_is_generated_once_by_txmon_and_read_by_superset(
    superset_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUPERSET_SECRET_KEY")
    with pytest.raises(RuntimeError, match="txmon superset up"):
        superset_settings()
    home = SupersetHome(root=tmp_path / "superset-home", venv=tmp_path / "venv")
    ensure_secret_key(home)
    key = home.secret_key_file.read_text().strip()
    assert stat.S_IMODE(home.secret_key_file.stat().st_mode) == 0o600
    assert len(key) >= 64
    ensure_secret_key(home)
    assert home.secret_key_file.read_text().strip() == key, "kept, not replaced"
    assert superset_settings()["SECRET_KEY"] == key
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "from-the-environment")
    assert superset_settings()["SECRET_KEY"] == "from-the-environment"


def test_content_security_policy_allows_only_this_server(superset_settings: Any) -> None:
    policy = superset_settings()["TALISMAN_CONFIG"]["content_security_policy"]
    sources = [
        source
        for value in policy.values()
        for source in ([value] if isinstance(value, str) else value)
    ]
    assert not [source for source in sources if source.startswith("http")]


def test_bundle_fills_in_the_database_uri_under_one_root_folder(tmp_path: Path) -> None:
    helper = runpy.run_path(str(SUPERSET_DIR / "txmon_assets.py"))
    password = "p@ss/w:rd %"
    uri = f"postgresql+psycopg2://reader:{quote(password, safe='')}@db.example:5433/txmon"
    contents = helper["bundle_contents"](uri, "Dashboard")
    assert all(name.startswith("txmon_assets/") for name in contents)
    database = yaml.safe_load(contents["txmon_assets/databases/txmon.yaml"])
    assert database["sqlalchemy_uri"] == uri
    assert database["password"] == password
    assert yaml.safe_load(contents["txmon_assets/metadata.yaml"])["type"] == "Dashboard"
    assert (
        yaml.safe_load(helper["bundle_contents"](uri, "assets")["txmon_assets/metadata.yaml"])[
            "type"
        ]
        == "assets"
    )
    assert len(contents) == len(list(ASSETS.rglob("*.yaml")))


def test_usernames_are_read_from_superset_listing() -> None:
    listing = (
        "Loaded your LOCAL configuration\nList of users\n-------------\n"
        "username:admin | email:admin@localhost | role:[Admin]\n"
        "username:ops team | email:ops@example.com | role:[Gamma]\n"
    )
    assert _usernames(listing) == {"admin", "ops team"}
    assert _usernames("List of users\n-------------\n") == set()


@pytest.fixture()
def superset_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SupersetHome:
    monkeypatch.setenv("TXMON_HOME", str(tmp_path / "txmon-home"))
    for variable in ("TXMON_SUPERSET_ADMIN_PASSWORD", "TXMON_SUPERSET_READER_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    return SupersetHome.current()


def test_admin_password_is_generated_once_or_taken_from_the_environment(
    superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = admin_credentials(superset_home)
    assert first.is_new and first.username == "admin"
    assert len(first.password) >= 16 and first.password != "admin"
    assert stat.S_IMODE(superset_home.admin_password_file.stat().st_mode) == 0o600
    again = admin_credentials(superset_home)
    assert (again.password, again.is_new) == (first.password, False)
    monkeypatch.setenv("TXMON_SUPERSET_ADMIN_PASSWORD", "chosen-by-the-operator")
    assert admin_credentials(superset_home).password == "chosen-by-the-operator"
    monkeypatch.setenv("TXMON_SUPERSET_ADMIN_PASSWORD", "short")
    with pytest.raises(TxmonError, match="12 characters"):
        admin_credentials(superset_home)


def test_reader_uri_logs_in_as_a_role_that_reads_monitoring_only(
    database_url: str, superset_home: SupersetHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_SUPERSET_READER_ROLE", "txmon_superset_test")
    from txmon.db.connection import connect, ensure_raw_tables

    with connect(database_url) as conn:
        ensure_raw_tables(conn)
        conn.execute("create schema if not exists monitoring")
        conn.execute("create or replace view monitoring.probe as select 1 as one")
        conn.commit()
    uri = reader_uri(superset_home, database_url)
    assert uri.startswith("postgresql+psycopg2://txmon_superset_test:")
    assert os.stat(superset_home.reader_password_file).st_mode & 0o077 == 0
    assert reader_uri(superset_home, database_url) == uri  # the kept password is reused
    libpq = uri.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(libpq) as conn:
        assert conn.execute("select one from monitoring.probe").fetchone() == (1,)
    for statement in (
        "select * from txmon_raw.transaction_counts",
        "insert into txmon_raw.transaction_counts default values",
        "create table monitoring.intruder (x int)",
    ):
        with psycopg.connect(libpq) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)


def test_dbt_exposure_lists_every_view_the_dashboard_reads() -> None:
    exposures = yaml.safe_load((PUBLIC_MODELS.parent / "_public__exposures.yml").read_text())
    (exposure,) = exposures["exposures"]
    assert exposure["label"] == "Transaction monitoring"
    refs = {item.removeprefix("ref('").removesuffix("')") for item in exposure["depends_on"]}
    read = {view_of(dataset) for dataset in DATASETS.values()} & set(public_view_columns())
    # time_window_condition counts back from the latest minute of metric_minutes
    assert refs == read | {"metric_minutes"}


def test_reader_role_needs_a_user_that_may_create_roles(
    database_url: str, superset_home: SupersetHome
) -> None:
    weak = f"txmon_weak_{uuid.uuid4().hex[:8]}"
    database = libpq_environment(database_url)["PGDATABASE"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"create role {weak} login nocreaterole password 'weak-password-1'")
        conn.execute(f"grant all on database {database} to {weak}")
    try:
        env = libpq_environment(database_url)
        as_weak = f"postgresql://{weak}:weak-password-1@{env['PGHOST']}:{env['PGPORT']}/{database}"
        with pytest.raises(SupersetError, match="CREATEROLE"):
            reader_uri(superset_home, as_weak)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"drop owned by {weak}")
            conn.execute(f"drop role {weak}")


def test_a_taken_port_is_refused_before_anything_starts(superset_home: SupersetHome) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SupersetError, match=f"port {port} on 127.0.0.1 is taken"):
            start_server(superset_home, SupersetFiles.current(), "127.0.0.1", port)
    assert not superset_home.state_file.exists()


def test_status_and_down_when_nothing_runs(superset_home: SupersetHome) -> None:
    env = {**os.environ}
    status = subprocess.run([TXMON, "superset", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3
    assert "not running" in status.stdout
    down = subprocess.run([TXMON, "superset", "down"], env=env, capture_output=True, text=True)
    assert down.returncode == 0
    assert "was not running" in down.stdout
