"""`txmon demo` then `txmon superset up`: a real Superset, checked through its API and a browser.

Slow (Superset installs into its own virtualenv the first time, then starts in about a
minute): marked `superset`, left out of a plain `pytest`, run by `pytest -m superset` and CI.
TXMON_SUPERSET_VENV names a virtualenv to reuse between runs (default: .txmon/superset/venv
in the checkout). The browser is Debian's chromium (TXMON_CHROMIUM to use another binary).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import REPO_ROOT, make_database
from helpers import TXMON, listed_metrics
from txmon.core.facts import PUBLIC_SCHEMA, RAW_SCHEMA, severity_order
from txmon.db.connection import demo_database_url, drop_database, libpq_environment
from txmon.db.embedded import free_port
from txmon.lab.demo import DEMO_DAYS

pytestmark = pytest.mark.superset

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECTED_CHARTS = {
    "Overall status",
    "Status by metric",
    "Failed rate",
    "Denied rate",
    "Reversed rate",
    "Transaction volume",
    "Persistence by metric",
    "Alert log",
    "Anomaly episodes",
    "Where it is breaking",
}


@dataclass
class RunningSuperset:
    url: str
    password: str
    env: dict[str, str]
    database_url: str
    first_output: str

    def txmon(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            [TXMON, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _txmon_or_fail(superset: RunningSuperset, *args: str) -> str:
    result = superset.txmon(*args)
    assert result.returncode == 0, f"txmon {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def superset(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSuperset]:
    home = tmp_path_factory.mktemp("superset-home")
    main_url = make_database(server_url)
    # `txmon demo` fills a database of its own beside the main one; the dashboard shows it.
    database_url = demo_database_url(main_url)
    venv = os.environ.get("TXMON_SUPERSET_VENV") or str(REPO_ROOT / ".txmon" / "superset" / "venv")
    env = {
        **os.environ,
        "TXMON_DATABASE_URL": main_url,
        "TXMON_HOME": str(home),
        "TXMON_PROJECT_DIR": str(REPO_ROOT),
        "TXMON_SUPERSET_VENV": venv,
        "TXMON_SUPERSET_PORT": str(free_port()),
        "TXMON_SUPERSET_READER_ROLE": f"txmon_superset_{home.name[-8:].replace('-', '_')}",
    }
    for variable in ("TXMON_SUPERSET_ADMIN_PASSWORD", "SUPERSET_SECRET_KEY", "TXMON_DATABASE"):
        env.pop(variable, None)
    running = RunningSuperset("", "", env, database_url, "")
    # The README's command: txmon demo && txmon --database demo superset up
    _txmon_or_fail(running, "demo")
    output = _txmon_or_fail(running, "--database", "demo", "superset", "up")
    running.env["TXMON_DATABASE"] = "demo"  # later commands (monitor --json) read the demo too
    running.first_output = output
    running.url = f"http://127.0.0.1:{env['TXMON_SUPERSET_PORT']}"
    running.password = (home / "superset" / "admin_password").read_text().strip()
    try:
        yield running
    finally:
        running.txmon("superset", "down", timeout=60)
        drop_database(server_url, database_url)
        drop_database(server_url, main_url)


def api_client(superset: RunningSuperset) -> httpx.Client:
    """Logged in the way API clients are: a JWT, then a CSRF token for writes and queries."""
    client = httpx.Client(base_url=superset.url, timeout=120)
    login = client.post(
        "/api/v1/security/login",
        json={"username": "admin", "password": superset.password, "provider": "db"},
    )
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    csrf = client.get("/api/v1/security/csrf_token/")
    assert csrf.status_code == 200, csrf.text
    client.headers["X-CSRFToken"] = csrf.json()["result"]
    client.headers["Referer"] = superset.url
    return client


def dashboard_charts(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/dashboard/transaction-monitoring/charts")
    assert response.status_code == 200, response.text
    return {chart["slice_name"]: chart for chart in response.json()["result"]}


def chart_query(client: httpx.Client, chart_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/chart/{chart_id}")
    assert response.status_code == 200, response.text
    return json.loads(response.json()["result"]["query_context"])


def post_chart_data(client: httpx.Client, query_context: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/chart/data", json=query_context)
    assert response.status_code == 200, response.text[:500]
    return response.json()["result"]


def test_up_prints_the_generated_password_once(superset: RunningSuperset) -> None:
    assert "/superset/dashboard/transaction-monitoring/" in superset.first_output
    assert superset.password in superset.first_output
    setup_log = Path(superset.env["TXMON_HOME"]) / "superset" / "setup.log"
    assert superset.password not in setup_log.read_text(), "secrets stay off command lines"
    status = _txmon_or_fail(superset, "superset", "status")
    assert superset.url in status


def test_second_up_updates_in_place(superset: RunningSuperset) -> None:
    client = api_client(superset)
    before = {name: chart["id"] for name, chart in dashboard_charts(client).items()}
    datasets_before = client.get("/api/v1/dataset/", params={"q": "(page_size:100)"}).json()

    output = _txmon_or_fail(superset, "superset", "up")
    assert "already running" in output
    assert superset.password not in output, "the password is printed only when generated"

    client = api_client(superset)
    assert {name: chart["id"] for name, chart in dashboard_charts(client).items()} == before
    datasets_after = client.get("/api/v1/dataset/", params={"q": "(page_size:100)"}).json()
    committed = len(list((REPO_ROOT / "superset" / "assets" / "datasets").rglob("*.yaml")))
    assert datasets_after["count"] == datasets_before["count"] == committed
    dashboards = client.get("/api/v1/dashboard/", params={"q": "(page_size:100)"}).json()
    assert dashboards["count"] == 1


def test_dashboard_charts_and_datasets_exist_and_every_chart_returns_rows(
    superset: RunningSuperset,
) -> None:
    client = api_client(superset)
    dashboard = client.get("/api/v1/dashboard/transaction-monitoring")
    assert dashboard.status_code == 200
    assert dashboard.json()["result"]["dashboard_title"] == "Transaction monitoring"
    charts = dashboard_charts(client)
    assert set(charts) == EXPECTED_CHARTS
    datasets = client.get("/api/v1/dashboard/transaction-monitoring/datasets").json()["result"]
    assert {dataset["table_name"] for dataset in datasets} == {
        "metric_status_in_window",
        "current_status_of_cut",
        "alert_events_in_window",
        "anomaly_episodes_in_window",
        "breaking_now",
    }
    for name, chart in charts.items():
        results = post_chart_data(client, chart_query(client, chart["id"]))
        assert results, name
        assert all(result["rowcount"] > 0 for result in results), f"{name} returned no rows"
        saved = client.get(f"/api/v1/chart/{chart['id']}/data/")
        assert saved.status_code == 200, f"{name}: {saved.text[:300]}"


def test_time_window_filter_limits_what_the_charts_read(superset: RunningSuperset) -> None:
    client = api_client(superset)
    query_context = chart_query(client, dashboard_charts(client)["Failed rate"]["id"])

    def rows_for(window: str | None) -> int:
        context = json.loads(json.dumps(query_context))
        for query in context["queries"]:
            if window:
                query["filters"].append({"col": "time_window", "op": "IN", "val": [window]})
        return post_chart_data(client, context)[0]["rowcount"]

    full = rows_for(None)
    assert full == DEMO_DAYS * 24 * 60, "one row a minute over the demo's days"
    assert rows_for("full") == full
    for window in ("6h", "12h", "24h", "48h"):
        assert rows_for(window) == int(window.removesuffix("h")) * 60, window
    assert rows_for(f"6h'; drop table {PUBLIC_SCHEMA}.alert_log; --") == full


def test_superset_reads_as_a_role_without_access_to_raw_tables(superset: RunningSuperset) -> None:
    client = api_client(superset)
    databases = client.get("/api/v1/database/").json()["result"]
    (txmon_db,) = [database for database in databases if database["database_name"] == "txmon"]
    detail = client.get(f"/api/v1/database/{txmon_db['id']}/connection").json()["result"]
    role = superset.env["TXMON_SUPERSET_READER_ROLE"]
    assert f"//{role}:" in detail["sqlalchemy_uri"]
    assert detail["allow_dml"] is False
    home = Path(superset.env["TXMON_HOME"]) / "superset"
    password = (home / "reader_password").read_text().strip()
    server = libpq_environment(superset.database_url)
    reader = {
        "host": server["PGHOST"],
        "port": server["PGPORT"],
        "dbname": server["PGDATABASE"],
        "user": role,
        "password": password,
    }
    with psycopg.connect(**reader) as conn:
        count = conn.execute(
            f"select count(*) from {PUBLIC_SCHEMA}.current_status where dimension = 'all'"
        ).fetchone()
        assert count == (len(listed_metrics()),)
    for statement in (
        f"select count(*) from {RAW_SCHEMA}.transaction_counts",
        f"delete from {PUBLIC_SCHEMA}.alert_log",
    ):
        with psycopg.connect(**reader) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)


def chromium_path() -> str:
    path = os.environ.get("TXMON_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no Chromium: install Debian's chromium package or set TXMON_CHROMIUM")
    return path


def test_dashboard_renders_in_a_browser_with_the_severities_txmon_reports(
    superset: RunningSuperset,
) -> None:
    from playwright.sync_api import sync_playwright

    # The demo ends CRITICAL, so monitor exits 2 (its plugin-style verdict), not 0.
    result = superset.txmon("monitor", "--json")
    assert result.returncode == 2, f"txmon monitor --json:\n{result.stdout}\n{result.stderr}"
    monitor = json.loads(result.stdout)
    # The document names metrics by short name: the seed's, or the status of a rate watched
    # because the status appeared.
    with (REPO_ROOT / "seeds" / "metric_definitions.csv").open(newline="") as handle:
        metric_by_short = {row["short_name"]: row["metric_name"] for row in csv.DictReader(handle)}
    expected = {
        metric_by_short.get(short, f"{short}_rate"): analysis["severity"]
        for short, analysis in monitor["persistence_analysis"].items()
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            failed_requests: list[str] = []
            page.on(
                "response",
                lambda response: (
                    failed_requests.append(f"{response.status} {response.url}")
                    if response.status >= 400 and "/api/" in response.url
                    else None
                ),
            )
            page.goto(f"{superset.url}/login/")
            page.fill("#username", "admin")
            page.fill("#password", superset.password)
            page.click("button[type=submit]")
            page.wait_for_url("**/superset/welcome/**", timeout=60_000)

            page.goto(f"{superset.url}/superset/dashboard/transaction-monitoring/")
            holders = page.locator(".dashboard-chart")
            holders.first.wait_for(timeout=120_000)
            rendered = "canvas, svg, table, [data-severity]"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                count = holders.count()
                done = sum(1 for i in range(count) if holders.nth(i).locator(rendered).count())
                if count == len(EXPECTED_CHARTS) and done == count:
                    break
                time.sleep(1)
            page.wait_for_load_state("networkidle")
            time.sleep(5)  # ECharts animates the first drawing; screenshot the settled page
            page.screenshot(path=str(ARTIFACTS / "superset-dashboard.png"), full_page=True)

            assert holders.count() == len(EXPECTED_CHARTS)
            for i in range(holders.count()):
                holder = holders.nth(i)
                assert holder.locator(rendered).count() > 0, f"chart {i} did not render"
                # Superset shows a failed query as an error alert inside the chart.
                assert holder.locator("[role=alert], .ant-alert-error").count() == 0, i
            assert not failed_requests, failed_requests

            tiles = {
                tile.get_attribute("data-metric"): tile.get_attribute("data-severity")
                for tile in page.locator("[data-severity]").all()
            }
            overall = tiles.pop("overall")
            assert tiles == expected
            assert overall == max(expected.values(), key=severity_order().index)
            assert "CRITICAL" in expected.values(), "the demo ends inside an incident"
            # Where it is breaking: the acquirers in the demo's final incident, by name, each
            # with its worst severity (the chart's title sits beside its table, in the holder).
            breaking = page.locator(
                ".dashboard-component-chart-holder", has_text="Where it is breaking"
            )
            assert breaking.count() == 1
            for acquirer in ("cielo", "getnet", "rede", "stone"):
                row = breaking.locator("tr", has=page.get_by_text(acquirer, exact=True))
                assert row.count() == 1, acquirer
                assert row.get_by_text("CRITICAL", exact=True).count() == 1, acquirer
        finally:
            browser.close()


def test_down_stops_the_server(superset: RunningSuperset) -> None:
    assert "stopped" in _txmon_or_fail(superset, "superset", "down")
    assert superset.txmon("superset", "status").returncode == 3
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{superset.url}/health", timeout=5)
