"""The dbt selectors that the scheduler builds with (selectors.yml) select what they say, checked
against the parsed project: `dbt ls --selector NAME` as any other scheduler would run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import load_config
from txmon.core.config import Settings
from txmon.lab import generate
from txmon.ops.scheduler import CYCLE_ARGUMENTS, FIRST_CYCLE_ARGUMENTS, FULL_TESTS_ARGUMENTS
from txmon.pipeline import dbt as pipeline


class Listing:
    """`dbt ls` on the project parsed once, as unique ids."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in pipeline.dbt_environment(url).items():
            monkeypatch.setenv(key, value)
        self.manifest = pipeline.parse_project(url=url)

    def ids(self, *selection: str) -> set[str]:
        from dbt.cli.main import dbtRunner

        extra = ["--resource-type", "all", "--output", "json", "--output-keys", "unique_id"]
        args = pipeline.dbt_arguments("ls", pipeline.on_target([*extra, *selection], "prod"))
        result = dbtRunner(manifest=self.manifest).invoke(args)
        assert result.success, result.exception
        return {json.loads(line)["unique_id"] for line in result.result}

    def nodes(self) -> list[Any]:
        return list(self.manifest.nodes.values())


@pytest.fixture()
def listing(
    database_url: str, txmon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Listing:
    return Listing(database_url, monkeypatch)


def test_the_scheduler_builds_with_the_projects_selectors() -> None:
    assert FIRST_CYCLE_ARGUMENTS == ("--selector", "monitor_start")
    assert CYCLE_ARGUMENTS == ("--selector", "monitor_cycle")
    assert FULL_TESTS_ARGUMENTS == ("--selector", "full_tests")


def test_selectors_select_what_they_say(listing: Listing) -> None:
    models = {node.unique_id: node for node in listing.nodes() if node.resource_type == "model"}
    tables = {
        uid for uid, node in models.items() if node.config.materialized in {"table", "incremental"}
    }
    rebuilt = {uid for uid in tables if models[uid].config.materialized == "table"}

    def reads_a_rebuilt_table(uid: str) -> bool:
        parents = models[uid].depends_on.nodes
        return any(
            parent in rebuilt or (parent in models and reads_a_rebuilt_table(parent))
            for parent in parents
        )

    views_on_tables = {
        uid
        for uid, node in models.items()
        if node.config.materialized == "view" and reads_a_rebuilt_table(uid)
    }
    data_tests = {node.unique_id for node in listing.nodes() if node.resource_type == "test"}
    cycle_checks = {node.unique_id for node in listing.nodes() if "cycle" in node.tags}
    assert tables and views_on_tables and cycle_checks and cycle_checks < data_tests

    # Every cycle: the tables, the views a table's rebuild drops, and the check of the rows it
    # wrote; not the tables' own tests, not the seeds or the other views.
    cycle = listing.ids(*CYCLE_ARGUMENTS)
    assert cycle == tables | views_on_tables | cycle_checks

    # Every data test (the views' and the seeds' included) with what a cycle builds.
    assert listing.ids(*FULL_TESTS_ARGUMENTS) == cycle | data_tests
    assert listing.ids("--selector", "full_tests", "--resource-type", "test") >= data_tests

    # The first cycle: everything dbt builds except the unit tests.
    def built(ids: set[str]) -> set[str]:
        return {uid for uid in ids if uid.split(".")[0] not in {"source", "exposure"}}

    everything = built(listing.ids())
    unit_tests = {uid for uid in everything if uid.startswith("unit_test.")}
    assert unit_tests, "the project has unit tests for the selector to leave out"
    assert built(listing.ids(*FIRST_CYCLE_ARGUMENTS)) == everything - unit_tests


def test_the_public_tag_marks_the_views_readers_query(listing: Listing) -> None:
    public = {
        node.name
        for node in listing.nodes()
        if node.resource_type == "model" and node.config.materialized == "stable_view"
    }
    assert {
        uid.split(".")[-1]
        for uid in listing.ids("--select", "tag:public", "--indirect-selection", "empty")
    } == public
    assert "current_status" in public


def test_the_scheduler_s_builds_pass_in_the_order_it_runs_them(
    database_url: str, txmon_env: dict[str, str], tmp_path: Path
) -> None:
    load_config(database_url, tmp_path, generate.GeneratorConfig(days=0.2, seed=4))
    # The prototype's mode reads a view on a table that every cycle rebuilds (and so drops).
    settings = Settings(model={"baseline_mode": "prototype"})
    manifest = pipeline.parse_project(url=database_url, settings=settings)
    for selection in (
        FIRST_CYCLE_ARGUMENTS,
        CYCLE_ARGUMENTS,
        CYCLE_ARGUMENTS,
        FULL_TESTS_ARGUMENTS,
    ):
        pipeline.run_dbt(
            "build",
            selection,
            url=database_url,
            quiet=True,
            manifest=manifest,
            settings=settings,
        )
