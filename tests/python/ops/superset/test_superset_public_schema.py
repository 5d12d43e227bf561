"""Superset follows the public schema's name (TXMON_PUBLIC_SCHEMA): the datasets txmon imports
and the time-window condition read the views where the build put them."""

from __future__ import annotations

import re
import runpy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT

pytest_plugins = ["superset_fixtures"]

HELPER = REPO_ROOT / "superset" / "txmon_assets.py"
DATABASE_URI = "postgresql://reader:secret@127.0.0.1:5432/payments"


def datasets(contents: dict[str, str]) -> list[dict[str, Any]]:
    return [
        yaml.safe_load(text)
        for name, text in contents.items()
        if name.startswith("txmon_assets/datasets/")
    ]


def test_the_bundle_reads_the_configured_public_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TXMON_PUBLIC_SCHEMA", "payments_monitoring")
    helper = runpy.run_path(str(HELPER))
    imported = datasets(helper["bundle_contents"](DATABASE_URI, "assets"))
    assert imported
    for dataset in imported:
        assert dataset["schema"] == "payments_monitoring", dataset["table_name"]
        for relation in re.findall(r"\b(?:from|join)\s+([\w.]+)", dataset["sql"] or ""):
            assert relation.startswith("payments_monitoring."), relation
        assert "monitoring." not in re.sub(r"payments_monitoring\.", "", dataset["sql"] or "")


def test_the_committed_bundle_is_unchanged_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TXMON_PUBLIC_SCHEMA", raising=False)
    helper = runpy.run_path(str(HELPER))
    assert {d["schema"] for d in datasets(helper["bundle_contents"](DATABASE_URI, "assets"))} == {
        "monitoring"
    }


def test_the_time_window_reads_the_configured_public_schema(
    superset_settings: Callable[[], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_PUBLIC_SCHEMA", "payments_monitoring")
    condition = superset_settings()["time_window_condition"]
    assert "from payments_monitoring.metric_minutes" in condition("minute_at", ["6h"])


def test_a_bad_public_schema_stops_superset(
    superset_settings: Callable[[], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXMON_PUBLIC_SCHEMA", "monitoring; drop table x")
    with pytest.raises(RuntimeError, match="is not a schema name"):
        superset_settings()
    with pytest.raises(SystemExit, match="is not a schema name"):
        runpy.run_path(str(HELPER))["bundle_contents"](DATABASE_URI, "assets")
