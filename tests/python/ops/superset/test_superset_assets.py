"""Superset's committed files, checked without running Superset: the export bundle under
superset/assets (hand-maintained YAML), superset_config.py and the txmon_assets.py helper.

The bundle must stay consistent with itself, with the public views' dbt contract it reads and
with the severity seed whose tiers one of its charts draws.
"""

from __future__ import annotations

import json
import re
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import yaml

from conftest import REPO_ROOT
from txmon.core.facts import PUBLIC_SCHEMA, severity_levels, severity_order
from txmon.core.paths import superset_dir

if TYPE_CHECKING:
    from superset_fixtures import Bundle

pytest_plugins = ["superset_fixtures"]

SUPERSET_DIR = REPO_ROOT / "superset"
ASSETS = SUPERSET_DIR / "assets"
PUBLIC_MODELS = REPO_ROOT / "models" / "marts" / "public" / "_public__models.yml"

# Superset's names for the column types, as PostgreSQL's canonical short names.
SUPERSET_TYPES = {
    "TEXT": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DOUBLE PRECISION": "float8",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
}
# The other spellings a dbt contract may use for the same types.
CONTRACT_ALIASES = {
    "timestamp with time zone": "timestamptz",
    "double precision": "float8",
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "boolean": "bool",
}
PERSISTENCE_CHART = "Persistence by metric"


def view_of(dataset: dict[str, Any]) -> str | None:
    """The public view a dataset reads: its table, or the one its SQL selects from."""
    if not dataset["sql"]:
        return dataset["table_name"]
    for word in dataset["sql"].split():
        if word.startswith(f"{PUBLIC_SCHEMA}."):
            return word.removeprefix(f"{PUBLIC_SCHEMA}.")
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


def severity_colours(style: str) -> dict[str, str]:
    """`.txmon-severity-NAME { background: #colour` rules of a tile chart's style."""
    return dict(re.findall(r"\.txmon-severity-(\w+) \{ background: (#[0-9a-f]{6})", style))


def test_superset_files_are_found_from_a_checkout() -> None:
    assert superset_dir() == SUPERSET_DIR


def test_every_reference_in_the_bundle_resolves(bundle: Bundle) -> None:
    (database,) = bundle.databases.values()
    dataset_uuids = {dataset["uuid"] for dataset in bundle.datasets.values()}
    chart_uuids = {chart["uuid"] for chart in bundle.charts.values()}
    all_uuids = [
        item["uuid"] for item in [*bundle.datasets.values(), *bundle.charts.values(), database]
    ]
    assert len(all_uuids) == len(set(all_uuids)), "UUIDs must be unique"
    assert all(dataset["database_uuid"] == database["uuid"] for dataset in bundle.datasets.values())
    assert all(chart["dataset_uuid"] in dataset_uuids for chart in bundle.charts.values())

    (dashboard,) = bundle.dashboards.values()
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


def test_datasets_read_the_public_schema_only(bundle: Bundle) -> None:
    for name, dataset in bundle.datasets.items():
        assert dataset["schema"] == PUBLIC_SCHEMA, name
        sql = dataset["sql"] or ""
        # Every relation a dataset's SQL names is one of the public views.
        for relation in re.findall(r"\b(?:from|join)\s+([\w.]+)", sql, re.IGNORECASE):
            assert relation.startswith(f"{PUBLIC_SCHEMA}."), f"{name} reads {relation}"


def physical_columns(dataset: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (column["column_name"], SUPERSET_TYPES[column["type"]])
        for column in dataset["columns"]
        if not column.get("expression")
    ]


def contracted_columns(contract: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (column["name"], CONTRACT_ALIASES.get(column["data_type"], column["data_type"]))
        for column in contract
    ]


def test_datasets_have_exactly_the_contracted_columns_and_types(
    bundle: Bundle, public_contract: dict[str, list[dict[str, Any]]]
) -> None:
    checked = set()
    for name, dataset in bundle.datasets.items():
        view = view_of(dataset)
        # The filters' choices (literal windows, the cuts there are) and the summaries, below.
        if dataset["table_name"] in {"time_windows", "series_cuts", *SUMMARIES}:
            continue
        contracted = contracted_columns(public_contract[view])
        assert physical_columns(dataset) == contracted, (
            f"{name} against the contract of {PUBLIC_SCHEMA}.{view}"
        )
        checked.add(view)
    assert checked == {"current_status", "metric_status", "alert_events", "anomaly_episodes"}


# Datasets that summarise a view, and the columns they add to it (the others keep the type the
# view's contract gives them).
SUMMARIES = {"breaking_now": {"series": "text"}}


def test_summaries_declare_the_columns_their_query_selects(
    bundle: Bundle, public_contract: dict[str, list[dict[str, Any]]]
) -> None:
    for name, added in SUMMARIES.items():
        dataset = next(d for d in bundle.datasets.values() if d["table_name"] == name)
        select_list = dataset["sql"].split("select", 1)[1].split("from", 1)[0]
        # Each item's name: its alias, or the column it is.
        selected = [
            item.split(" as ")[-1].strip() for item in re.split(r",\n", select_list.strip())
        ]
        known = dict(contracted_columns(public_contract[view_of(dataset) or ""]))
        expected = [(column, added.get(column) or known[column]) for column in selected]
        assert physical_columns(dataset) == expected, name


def test_charts_and_their_saved_queries_use_columns_their_dataset_has(bundle: Bundle) -> None:
    by_uuid = {dataset["uuid"]: dataset for dataset in bundle.datasets.values()}
    for name, chart in bundle.charts.items():
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


def test_status_tiles_cover_every_severity_with_a_colour(bundle: Bundle) -> None:
    tiles = [chart for chart in bundle.charts.values() if chart["viz_type"] == "handlebars"]
    assert {chart["slice_name"] for chart in tiles} == {"Overall status", "Status by metric"}
    for chart in tiles:
        assert list(severity_colours(chart["params"]["styleTemplate"])) == list(severity_order())
        assert 'data-severity="{{severity}}"' in chart["params"]["handlebarsTemplate"]


def test_persistence_chart_draws_the_seed_tiers(bundle: Bundle) -> None:
    """The chart's boundary lines are the severity_levels seed's tiers, in the tiles' colours."""
    chart = bundle.chart(PERSISTENCE_CHART)
    tiers = [level for level in severity_levels() if level.rank > 0]
    expected = [(f"{level.name} ({level.min_minutes} min)", level.min_minutes) for level in tiers]
    saved = json.loads(chart["query_context"])["form_data"]["annotation_layers"]
    for layers in (chart["params"]["annotation_layers"], saved):
        assert [(layer["name"], float(layer["value"])) for layer in layers] == expected
        assert all(layer["annotationType"] == "FORMULA" for layer in layers)
    colours = severity_colours(bundle.chart("Status by metric")["params"]["styleTemplate"])
    for level, layer in zip(tiers, chart["params"]["annotation_layers"], strict=True):
        assert layer["color"] == colours[level.name], level.name
    described = re.findall(r"([A-Z]+) (\d+)", chart["description"])
    assert described == [(level.name, str(level.min_minutes)) for level in tiers]


def test_time_window_choices_match_the_settings(
    bundle: Bundle, superset_settings: Callable[[], dict[str, Any]]
) -> None:
    settings = superset_settings()
    sql = next(d for d in bundle.datasets.values() if d["table_name"] == "time_windows")["sql"]
    offered = re.findall(r"\('(\w+)', \d+\)", sql)
    assert offered == [*settings["TIME_WINDOW_HOURS"], "full"]
    windowed = [
        d for d in bundle.datasets.values() if d["sql"] and "time_window_condition" in d["sql"]
    ]
    assert {view_of(d) for d in windowed} == {"metric_status", "alert_events", "anomaly_episodes"}


def test_time_window_condition_is_safe_for_any_filter_value(
    superset_settings: Callable[[], dict[str, Any]],
) -> None:
    condition = superset_settings()["time_window_condition"]
    assert condition("minute_at", ["6h"]) == (
        f"minute_at > (select max(minute_at) from {PUBLIC_SCHEMA}.metric_minutes)"
        " - interval '6 hours'"
    )
    assert "interval '48 hours'" in condition("minute_at", ["48h"])
    for value in (None, [], ["full"], [f"6h'; drop table {PUBLIC_SCHEMA}.alert_log; --"], [6]):
        assert condition("minute_at", value) == "true"
    with pytest.raises(ValueError, match="not a column name"):
        condition("minute_at; drop table x", ["6h"])


def test_content_security_policy_allows_only_this_server(
    superset_settings: Callable[[], dict[str, Any]],
) -> None:
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
    as_assets = helper["bundle_contents"](uri, "assets")
    assert yaml.safe_load(as_assets["txmon_assets/metadata.yaml"])["type"] == "assets"
    assert len(contents) == len(list(ASSETS.rglob("*.yaml")))


def test_dbt_exposure_lists_every_view_the_dashboard_reads(
    bundle: Bundle, public_contract: dict[str, list[dict[str, Any]]]
) -> None:
    exposures = yaml.safe_load((PUBLIC_MODELS.parent / "_public__exposures.yml").read_text())
    (exposure,) = exposures["exposures"]
    assert exposure["label"] == "Transaction monitoring"
    refs = {item.removeprefix("ref('").removesuffix("')") for item in exposure["depends_on"]}
    read = {view_of(dataset) for dataset in bundle.datasets.values()} & set(public_contract)
    # time_window_condition counts back from the latest minute of metric_minutes
    assert refs == read | {"metric_minutes"}
