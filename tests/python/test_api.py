"""The HTTP API end to end: uvicorn on 127.0.0.1, a real PostgreSQL, httpx as the client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from conftest import REPO_ROOT, drop_database, make_database
from helpers import build, load_config, rows
from txmon.alerting.channels import build_channels
from txmon.alerting.log import entries
from txmon.alerting.outbox import run_dispatch
from txmon.core.config import Delivery, Ingest, Rules, Settings
from txmon.core.errors import TxmonError
from txmon.db.connection import connect
from txmon.ingest import loading
from txmon.lab import generate
from txmon.pipeline import views as monitoring
from txmon.serve import api

TOKEN = "s3cret-token"


class LiveServer:
    """The app under uvicorn on a free port of 127.0.0.1, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        # Bind first and hand uvicorn the socket: no race for the port between tests.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 30, **options})

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def serving(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def built_url(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Half a day of traffic ending in an approval collapse, loaded and built once."""
    url = make_database(server_url)
    folder = tmp_path_factory.mktemp("api-data")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TXMON_HOME", str(folder / "home"))
            patch.setenv("TXMON_PROJECT_DIR", str(REPO_ROOT))
            load_config(url, folder, generate.crisis_scenario(days=0.5, seed=3))
            build(url)
            yield url
    finally:
        drop_database(server_url, url)


@pytest.fixture(scope="module")
def live(built_url: str) -> Iterator[LiveServer]:
    with serving(api.create_app(built_url)) as server:
        yield server


@pytest.fixture()
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture()
def fresh(database_url: str) -> Iterator[tuple[str, httpx.Client]]:
    """An empty database (never built) behind its own server, for the write tests."""
    with serving(api.create_app(database_url)) as server, server.client() as client:
        yield database_url, client


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def table_rows(url: str, table: str) -> int:
    """Rows in a raw table; 0 when the table does not exist (a refused batch creates none)."""
    found = rows(url, "select to_regclass(%s) is not null", (f"txmon_raw.{table}",))
    return rows(url, f"select count(*) from txmon_raw.{table}")[0][0] if found[0][0] else 0


def reason(parse: Any, *args: str) -> str:
    """What the CSV loader says about a value."""
    with pytest.raises(loading.InvalidValue) as error:
        parse(*args)
    return str(error.value)


# --- read routes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_monitor_and_status_are_the_views(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        document = monitoring.monitor_document(conn)
        statuses = monitoring.current_status(conn)

    monitor = http.get("/monitor")
    assert monitor.status_code == 200
    assert monitor.json() == json.loads(json.dumps(document))
    assert list(monitor.json())[:4] == [
        "current_minute",
        "metrics",
        "thresholds",
        "persistence_analysis",
    ]
    # The planted crisis is at the end of the data: approval collapses for 61 minutes.
    assert monitor.json()["persistence_analysis"]["approval"]["severity"] != "HEALTHY"

    status = http.get("/status")
    assert status.status_code == 200
    served = status.json()
    assert [item["metric_name"] for item in served] == [s.metric_name for s in statuses]
    for item, expected in zip(served, statuses, strict=True):
        item["current_minute_at"] = instant(item["current_minute_at"])
        assert item == asdict(expected)


@pytest.mark.slow
def test_episodes_with_filters(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        every = monitoring.episodes(conn)
        approval = monitoring.episodes(conn, metric="approval_rate")
    assert approval, "the crisis must have produced an approval episode"

    def served(params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        response = http.get("/episodes", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    assert [episode["episode_id"] for episode in served()] == [e.episode_id for e in every]
    only = served({"metric": "approval_rate"})
    assert [episode["episode_id"] for episode in only] == [e.episode_id for e in approval]
    first = only[0]
    assert instant(first["started_at"]) == approval[0].started_at
    assert first["peak_severity"] == approval[0].peak_severity

    # A naive `since` is UTC: the same instant as with an explicit offset.
    start = approval[0].started_at.astimezone(UTC)
    naive = served({"since": start.replace(tzinfo=None).isoformat()})
    shifted = start.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert naive == served({"since": start.isoformat()}) == served({"since": shifted})
    assert served({"since": "2099-12-31T00:00"}) == [
        episode for episode in served() if episode["ended_at"] is None
    ]
    assert served({"metric": "no_such_metric"}) == []

    bad = http.get("/episodes", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {
            "index": None,
            "field": "since",
            "reason": reason(loading.parse_timestamp, "yesterday"),
            "code": "invalid",
        }
    ]


@pytest.mark.slow
def test_metric_series(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        current = {status.metric_name: status for status in monitoring.current_status(conn)}
    latest = current["approval_rate"].current_minute_at

    series = http.get("/metrics/approval_rate")
    assert series.status_code == 200
    body = series.json()
    assert (body["metric"], body["row_limit"], body["truncated"]) == (
        "approval_rate",
        api.MAX_SERIES_ROWS,
        False,
    )
    assert instant(body["to"]) == latest and instant(body["from"]) == latest - timedelta(hours=6)
    minutes = body["minutes"]
    assert len(minutes) == 361  # both ends inclusive
    assert [instant(minute["minute_at"]) for minute in minutes[:2]] == [
        latest - timedelta(hours=6),
        latest - timedelta(hours=6, minutes=-1),
    ]
    last = minutes[-1]
    expected = current["approval_rate"]
    assert instant(last["minute_at"]) == latest
    assert (last["value"], last["judged_value"], last["baseline"], last["threshold"]) == (
        expected.value,
        expected.judged_value,
        expected.baseline,
        expected.threshold,
    )
    assert (last["is_anomalous"], last["severity"]) == (expected.is_anomalous, expected.severity)

    window = http.get(
        "/metrics/volume",
        params={"from": "2020-01-01T00:00", "to": (latest - timedelta(minutes=9)).isoformat()},
    ).json()
    assert len(window["minutes"]) == 12 * 60 - 9  # half a day of minutes, less the last nine
    assert window["next_from"] is None

    unknown = http.get("/metrics/no_such_metric")
    assert unknown.status_code == 404
    assert "approval_rate" in unknown.json()["detail"]
    for hostile in ("%00", "'%3B drop table x%3B--", "%F0%9F%9A%80", "x" * 5000, "%ED%A0%80"):
        assert http.get(f"/metrics/{hostile}").status_code == 404, hostile
    assert http.get("/episodes", params={"metric": "\x00"}).json() == []
    backwards = http.get(
        "/metrics/volume", params={"from": "2025-01-02T00:00", "to": "2025-01-01T00:00"}
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "from"
    assert backwards.json()["errors"][0]["code"] == "range_reversed"


@pytest.mark.slow
def test_alerts_empty_until_dispatched_then_the_log(
    built_url: str, http: httpx.Client, tmp_path: Path
) -> None:
    with connect(built_url) as conn:
        conn.execute("drop table if exists monitoring.alert_log cascade")
    assert http.get("/alerts").json() == []

    settings = Settings(
        rules=Rules(stale_after_minutes=0, max_event_age_minutes=10**7),
        delivery=Delivery(),
        channels=({"type": "jsonl", "path": str(tmp_path / "alerts.jsonl")},),
    )
    run_dispatch(built_url, settings, build_channels(settings.channels), replay=True)
    with connect(built_url) as conn:
        logged = entries(conn, limit=None)
    assert logged, "the replay must have logged the crisis"

    served = http.get("/alerts")
    assert served.status_code == 200
    assert [alert["dedup_key"] for alert in served.json()] == [e.dedup_key for e in logged]
    first = served.json()[0]
    assert instant(first["minute_at"]) == logged[0].minute_at
    assert first["message"] == logged[0].message

    by_status = http.get("/alerts", params={"status": logged[0].status}).json()
    assert len(by_status) == sum(entry.status == logged[0].status for entry in logged)
    since = logged[0].minute_at.isoformat()
    assert len(http.get("/alerts", params={"since": since}).json()) == sum(
        entry.minute_at >= logged[0].minute_at for entry in logged
    )
    assert len(http.get("/alerts", params={"limit": 1}).json()) == 1
    assert http.get("/alerts", params={"status": "lost"}).status_code == 422


# --- health -------------------------------------------------------------------------------


@pytest.mark.slow
def test_health_reports_data_and_builds(built_url: str, http: httpx.Client) -> None:
    with connect(built_url) as conn:
        latest = max(status.current_minute_at for status in monitoring.current_status(conn))
        conn.execute("drop table if exists monitoring.build_runs")

    health = http.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["database"], body["views"]) == ("ok", "ok", "ok")
    assert instant(body["latest_minute_at"]) == latest
    lag = (datetime.now(UTC) - latest - timedelta(minutes=1)).total_seconds()
    assert abs(body["data_lag_seconds"] - lag) < 60
    assert (body["last_build_at"], body["last_build_succeeded"], body["reason"]) == (
        None,
        None,
        None,
    )

    # What the scheduler records (monitoring.build_runs): a success, then a failure.
    succeeded_at = datetime(2025, 7, 15, 12, 0, tzinfo=UTC)
    with connect(built_url) as conn:
        conn.execute(
            "create table monitoring.build_runs (build_id bigserial primary key,"
            " started_at timestamptz not null, finished_at timestamptz not null,"
            " succeeded boolean not null, seconds double precision not null, error text)"
        )
        conn.execute(
            "insert into monitoring.build_runs (started_at, finished_at, succeeded, seconds)"
            " values (%(ok)s, %(ok)s, true, 1), (%(bad)s, %(bad)s, false, 1)",
            {"ok": succeeded_at, "bad": succeeded_at + timedelta(minutes=1)},
        )
    body = http.get("/health").json()
    assert instant(body["last_build_at"]) == succeeded_at
    assert body["last_build_succeeded"] is False


def test_health_503_without_views_or_database(fresh: tuple[str, httpx.Client]) -> None:
    _, client = fresh
    no_views = client.get("/health")
    assert no_views.status_code == 503
    assert (no_views.json()["database"], no_views.json()["views"]) == ("ok", "missing")
    assert "txmon build" in no_views.json()["reason"]
    assert client.get("/status").status_code == 503
    assert "txmon build" in client.get("/monitor").json()["detail"]
    assert client.get("/alerts").json() == []

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down_url = f"postgresql://postgres@127.0.0.1:{closed}/postgres"
    with serving(api.create_app(down_url)) as server, server.client() as down:
        health = down.get("/health")
        assert health.status_code == 503
        assert health.json()["database"] == "error"
        assert "cannot connect" in health.json()["reason"]
        for path in ("/monitor", "/status", "/episodes", "/alerts", "/metrics/volume"):
            response = down.get(path)
            assert response.status_code == 503, path
            assert "cannot connect to PostgreSQL" in response.json()["detail"]


# --- the token ------------------------------------------------------------------------------


@pytest.mark.slow
def test_token_guards_everything_but_health(built_url: str) -> None:
    with serving(api.create_app(built_url, token=TOKEN)) as server, server.client() as client:
        for path in ("/status", "/monitor", "/episodes", "/alerts", "/metrics/volume", "/x"):
            assert client.get(path).status_code == 401, path
        denied = client.get("/status", headers={"Authorization": "Bearer wrong"})
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert client.get("/status", headers={"Authorization": TOKEN}).status_code == 401
        # No token, no answer, not even whether the body was valid.
        assert client.post("/transactions", content=b"{").status_code == 401

        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json").json()["components"]["securitySchemes"]
        for scheme in ("Bearer", "bearer"):
            headers = {"Authorization": f"{scheme} {TOKEN}"}
            assert client.get("/status", headers=headers).status_code == 200
            assert client.get("/metrics/volume", headers=headers).status_code == 200


def test_serve_refuses_open_interfaces_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(api.uvicorn, "run", lambda app, **options: started.append(options))
    url = "postgresql://postgres@127.0.0.1:1/postgres"
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        for token in (None, ""):
            with pytest.raises(TxmonError, match="without a token"):
                api.serve(host, 8000, url, token)
    for host in ("127.0.0.1", "localhost", "::1"):
        api.serve(host, 8000, url, None)
    api.serve("0.0.0.0", 8000, url, TOKEN)
    assert [options["host"] for options in started] == ["127.0.0.1", "localhost", "::1", "0.0.0.0"]


def test_serve_runs_the_app_under_uvicorn(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys; from txmon.serve.api import serve;"
        " serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], sys.argv[3])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(port), database_url, TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = client.get("/health")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, "txmon.serve.api.serve did not start"
                    time.sleep(0.1)
            assert health.status_code == 503  # an empty database: no views yet
            assert "server" not in health.headers
            assert client.get("/status").status_code == 401
            authorised = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
            assert authorised.status_code == 503
    finally:
        process.terminate()
        process.wait(10)


# --- POST /transactions -----------------------------------------------------------------------


def test_counts_batch_is_written(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    batch = {
        "counts": [
            {"timestamp": "2025-07-15 13:44", "status": "approved", "count": 120},
            {"timestamp": "2025-07-15T13:44:00Z", "status": " DENIED ", "count": "7"},
            {"timestamp": "2025-07-15T10:45:00-03:00", "status": "Approved", "count": 0},
        ]
    }
    response = client.post("/transactions", json=batch)
    assert response.status_code == 201, response.text
    assert response.json() == {"kind": "counts", "rows_written": 3}
    minute = datetime(2025, 7, 15, 13, 44, tzinfo=UTC)
    assert rows(
        url,
        "select observed_at, status, transaction_count, load_id from txmon_raw.transaction_counts"
        " order by count_id",
    ) == [
        (minute, "approved", 120, None),
        (minute, "denied", 7, None),
        (minute + timedelta(minutes=1), "approved", 0, None),
    ]
    # Another batch adds up: counts are not unique.
    assert client.post("/transactions", json=batch).status_code == 201
    assert table_rows(url, "transaction_counts") == 6
    assert client.post("/transactions", json={"counts": []}).json()["rows_written"] == 0


def test_events_batch_is_written(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    batch = {
        "events": [
            {
                "transaction_id": "tx-1",
                "created_at": "2025-07-15T13:44:05.123456Z",
                "status": "approved",
                "amount": "129.90",
                "channel": "pos",
                "product": "debit",
                "acquirer": "acq-1",
                "card_type": "visa",
                "auth_code": "A1B2",
                "duration_ms": 350,
            },
            {
                "transaction_id": 42,
                "created_at": "2025-07-15 13:44",
                "status": "failed",
                "amount": 12.5,
                "channel": "",
                "duration_ms": None,
            },
        ]
    }
    response = client.post("/transactions", json=batch)
    assert response.status_code == 201, response.text
    assert response.json() == {"kind": "events", "rows_written": 2}
    assert rows(
        url,
        "select transaction_id, created_at, status, amount, channel, product, acquirer,"
        " card_type, auth_code, duration_ms from txmon_raw.transactions order by 1",
    ) == [
        (
            "42",
            datetime(2025, 7, 15, 13, 44, tzinfo=UTC),
            "failed",
            Decimal("12.50"),
            None,
            None,
            None,
            None,
            None,
            None,
        ),
        (
            "tx-1",
            datetime(2025, 7, 15, 13, 44, 5, 123456, tzinfo=UTC),
            "approved",
            Decimal("129.90"),
            "pos",
            "debit",
            "acq-1",
            "visa",
            "A1B2",
            350,
        ),
    ]


def test_bad_batch_lists_every_problem_in_the_loaders_words_and_writes_nothing(
    fresh: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    url, client = fresh
    items = [
        ("2025-07-15 13:44", "approved", "5"),  # good
        ("2025-13-01 10:00", "approved", "5"),
        ("2025-07-15 13:44", "", "5"),
        ("2025-07-15 13:44", "approved", "-1"),
        ("2025-07-15 13:44", "approved", "1.5"),
        ("not a time", "app;roved", "99999999999999999999"),
        ("2025-07-15 13:44+15:00", "approved", "1"),
    ]
    batch = {"counts": [dict(zip(loading.COUNTS_COLUMNS, item, strict=True)) for item in items]}
    batch["counts"].append({"timestamp": "2025-07-15 13:44", "status": "ok", "count": 2.5})
    batch["counts"].append({"timestamp": "2025-07-15 13:44", "status": "ok", "extra": 1})

    response = client.post("/transactions", json=batch)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("the batch was refused and nothing was written")
    problems = [(error["index"], error["field"], error["reason"]) for error in body["errors"]]
    assert table_rows(url, "transaction_counts") == 0

    # The CSV loader, given the same rows, rejects the same lines for the same reasons (it
    # stops at a line's first bad field; the API lists them all).
    csv = tmp_path / "same.csv"
    csv.write_text("timestamp,status,count\n" + "".join(f"{t},{s},{c}\n" for t, s, c in items))
    with connect(url) as conn:
        summary = loading.load_file(conn, csv)
    assert summary.rows_loaded == 1
    loader = rows(url, "select line_number, reason from txmon_raw.load_rejects order by 1")
    first_problem: dict[int, str] = {}
    for index, _, why in problems:
        first_problem.setdefault(index, why)
    assert {line - 2: why for line, why in loader} == {
        index: why for index, why in first_problem.items() if (index or 0) < len(items)
    }
    # Every bad field is listed, also several in one item.
    assert problems == [
        (1, "timestamp", reason(loading.parse_timestamp, "2025-13-01 10:00")),
        (2, "status", "empty status"),
        (3, "count", reason(loading.parse_count, "-1")),
        (4, "count", reason(loading.parse_count, "1.5")),
        (5, "timestamp", reason(loading.parse_timestamp, "not a time")),
        (5, "status", reason(loading.parse_status, "app;roved")),
        (5, "count", reason(loading.parse_count, "99999999999999999999")),
        (6, "timestamp", reason(loading.parse_timestamp, "2025-07-15 13:44+15:00")),
        (7, "count", reason(loading.parse_count, "2.5")),
        (8, "count", "Field required"),
        (8, "extra", "Extra inputs are not permitted"),
    ]


def test_duplicate_transaction_ids_refuse_the_whole_batch(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh

    def event(transaction_id: str) -> dict[str, str]:
        return {
            "transaction_id": transaction_id,
            "created_at": "2025-07-15T13:44Z",
            "status": "approved",
            "amount": "10",
        }

    twice = client.post("/transactions", json={"events": [event("a"), event("b"), event("a")]})
    assert twice.status_code == 422
    assert twice.json()["errors"] == [
        {
            "index": 2,
            "field": "transaction_id",
            "reason": "duplicate transaction_id a (first at index 0)",
            "code": "duplicate_transaction_id",
        }
    ]
    assert table_rows(url, "transactions") == 0

    assert client.post("/transactions", json={"events": [event("a")]}).status_code == 201
    again = client.post("/transactions", json={"events": [event("c"), event(" a ")]})
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {
            "index": 1,
            "field": "transaction_id",
            "reason": "transaction_id a already loaded (outside txmon load)",
            "code": "transaction_id_loaded",
        }
    ]
    assert rows(url, "select transaction_id from txmon_raw.transactions") == [("a",)]


def test_batch_shape_and_item_limit(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    item = {"timestamp": "2025-07-15T13:44Z", "status": "approved", "count": 1}
    for body in ({}, {"counts": [item], "events": []}, {"counts": None}, [item], "counts"):
        response = client.post("/transactions", json=body)
        assert response.status_code == 422, body
    assert client.post("/transactions", json={}).json()["errors"] == [
        {
            "index": None,
            "field": None,
            "reason": "send exactly one of 'counts' and 'events', as a list",
            "code": "invalid",
        }
    ]
    not_json = client.post(
        "/transactions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["errors"][0]["reason"].startswith("invalid JSON")

    too_many = client.post("/transactions", json={"counts": [item] * (api.MAX_BATCH_ITEMS + 1)})
    assert too_many.status_code == 422
    [problem] = too_many.json()["errors"]
    assert problem["field"] == "counts" and "10000" in problem["reason"]
    assert table_rows(url, "transaction_counts") == 0
    full = client.post("/transactions", json={"counts": [item] * api.MAX_BATCH_ITEMS})
    assert full.status_code == 201
    assert table_rows(url, "transaction_counts") == api.MAX_BATCH_ITEMS


def test_body_over_the_limit_is_413(database_url: str) -> None:
    item = {"timestamp": "2025-07-15T13:44Z", "status": "approved", "count": 1}
    batch = json.dumps({"counts": [item] * 100}).encode()
    assert len(batch) > 4096
    limited = api.create_app(database_url, max_body_bytes=4096)
    with serving(limited) as server, server.client() as client:
        declared = client.post(
            "/transactions", content=batch, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert "4,096 bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield from (batch[start : start + 1000] for start in range(0, len(batch), 1000))

        streamed = client.post(
            "/transactions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        small = client.post("/transactions", json={"counts": [item] * 10})
        assert small.status_code == 201
    assert table_rows(database_url, "transaction_counts") == 10


def test_a_full_batch_fits_the_body_cap(database_url: str) -> None:
    # 10,000 minimal events were a 413 under a 1,000,000-byte cap; so are none of the largest
    # valid items now, even indented.
    minimal = [
        {"transaction_id": str(index), "created_at": "2025-07-15T13:44Z", "status": "a",
         "amount": 1}
        for index in range(api.MAX_BATCH_ITEMS)
    ]  # fmt: skip
    largest = [
        {
            "transaction_id": f"{index:0{loading.MAX_ID_CHARS}d}",
            "created_at": "2025-07-15T13:45:59.123456+00:00",
            "status": "s" * loading.MAX_STATUS_CHARS,
            "amount": "-" + "9" * 16 + ".99",
            **{name: "t" * loading.MAX_TEXT_CHARS for name in loading.EVENTS_OPTIONAL[:-1]},
            "duration_ms": loading.INTEGER_MAX,
        }
        for index in range(api.MAX_BATCH_ITEMS)
    ]
    body = json.dumps({"events": largest}, indent=2).encode()
    assert len(json.dumps(largest[0], separators=(",", ":"))) <= api.MAX_ITEM_BYTES
    assert len(body) < api.MAX_BODY_BYTES
    with serving(api.create_app(database_url)) as server, server.client(timeout=120) as client:
        first = client.post("/transactions", json={"events": minimal})
        assert first.status_code == 201, first.text[:300]
        second = client.post(
            "/transactions", content=body, headers={"Content-Type": "application/json"}
        )
        assert second.status_code == 201, second.text[:300]
        over = client.post(
            "/transactions",
            content=b" " * (api.MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
        assert over.status_code == 413
    assert table_rows(database_url, "transactions") == 2 * api.MAX_BATCH_ITEMS


def test_times_far_ahead_or_far_from_the_data_refuse_the_batch(database_url: str) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    def counts(*times: datetime | str) -> dict[str, Any]:
        return {
            "counts": [
                {
                    "timestamp": t if isinstance(t, str) else t.isoformat(),
                    "status": "ok",
                    "count": 1,
                }
                for t in times
            ]
        }

    def problems(response: httpx.Response) -> list[tuple[int, str, str]]:
        assert response.status_code == 422, response.text
        return [(e["index"], e["field"], e["code"]) for e in response.json()["errors"]]

    with serving(api.create_app(database_url)) as server, server.client() as client:
        # An empty database: the first item starts the span; one 8 days later opens a gap.
        refused = client.post("/transactions", json=counts(now - timedelta(days=9), now))
        assert problems(refused) == [(1, "timestamp", "gap_too_long")]
        assert "a gap of more than 7 day(s) is refused" in refused.json()["errors"][0]["reason"]
        assert table_rows(database_url, "transaction_counts") == 0

        assert (
            client.post("/transactions", json=counts(now - timedelta(hours=1))).status_code == 201
        )
        ahead = client.post(
            "/transactions", json=counts(now, now + timedelta(minutes=30), "2099-12-31T00:00")
        )
        assert problems(ahead) == [
            (1, "timestamp", "ahead_of_clock"),
            (2, "timestamp", "ahead_of_clock"),
        ]
        assert "ahead of the clock" in ahead.json()["errors"][0]["reason"]
        # Field rules come first: a year the schema refuses is `invalid`, whatever the clock.
        never = client.post("/transactions", json=counts(now, "9999-12-31T00:00"))
        assert problems(never) == [(1, "timestamp", "invalid")]
        assert "out of range (years 1970 to 2099)" in never.json()["errors"][0]["reason"]
        # Far before the stored data, for events too; items that bridge the gap are accepted.
        old = client.post(
            "/transactions",
            json={
                "events": [
                    {"transaction_id": "x", "created_at": (now - timedelta(days=30)).isoformat(),
                     "status": "ok", "amount": 1}
                ]
            },
        )  # fmt: skip
        assert problems(old) == [(0, "created_at", "gap_too_long")]
        bridge = [now - timedelta(days=6 * step) for step in range(1, 6)]
        assert client.post("/transactions", json=counts(*bridge)).status_code == 201
        assert table_rows(database_url, "transaction_counts") == 1 + len(bridge)

    # The limits are settings ([ingest]): with a 60-day gap and an hour ahead, both pass.
    wide = api.create_app(database_url, ingest=Ingest(future_horizon_minutes=60, max_gap_days=60))
    with serving(wide) as server, server.client() as client:
        accepted = client.post(
            "/transactions", json=counts(now - timedelta(days=80), now + timedelta(minutes=30))
        )
        assert accepted.status_code == 201, accepted.text


def test_hostile_strings(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    kept = [
        "Robert'); drop table txmon_raw.transactions;--",
        "{reason} %s %(x)s \\N \\. ${jndi:ldap://x}",
        "<script>alert(1)</script>",
        "ação 日本語 🚀 \u202eevil",
        "tab\tinside",
    ]
    batch = {
        "events": [
            {
                "transaction_id": f"id-{index}",
                "created_at": "2025-07-15T13:44Z",
                "status": "approved",
                "amount": "1",
                "channel": value,
            }
            for index, value in enumerate(kept)
        ]
    }
    assert client.post("/transactions", json=batch).status_code == 201
    stored = rows(url, "select channel from txmon_raw.transactions order by transaction_id")
    assert [row[0] for row in stored] == kept

    refused = {
        "transaction_id": "nul\x00id",
        "created_at": "2025-07-15T13:44\x00Z",
        "status": "approved'; drop table x;--",
        "amount": "1e3",
        "channel": "line\nbreak",
        "product": "x" * 10_000,
        "acquirer": "\x1b[31mred",
    }
    response = client.post("/transactions", json={"events": [refused]})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == set(refused)
    # A lone surrogate is valid JSON but not text: refused, and the reply is still valid UTF-8.
    raw = (
        b'{"events": [{"transaction_id": "\\ud800", "created_at": "2025-07-15T13:44Z",'
        b' "status": "\\udfff", "amount": "1", "channel": "\\ud83d"}]}'
    )
    surrogates = client.post(
        "/transactions", content=raw, headers={"Content-Type": "application/json"}
    )
    assert surrogates.status_code == 422
    assert {error["field"] for error in surrogates.json()["errors"]} == {
        "transaction_id",
        "status",
        "channel",
    }
    assert table_rows(url, "transactions") == len(kept)


# --- the OpenAPI contract, fuzzed ---------------------------------------------------------------


def schema_valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Data that the schema calls valid is accepted, or refused only for a documented reason
    that depends on data the schema cannot know (a 404 for an unknown metric; a 422 whose every
    problem has a code other than `invalid`: stored ids, the clock, the data's span)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or (status == 404 and case.operation.path == "/metrics/{metric}"):
        return None
    if status == 422:
        codes = {problem["code"] for problem in response.json()["errors"]}
        if "invalid" not in codes:
            return None
    raise AssertionError(
        f"{case.operation.label}: the schema calls this valid but the server answered "
        f"{status}: {response.text[:600]} (query {case.query}, body {str(case.body)[:600]})"
    )


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live: LiveServer) -> None:
    import hypothesis
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        schema_valid_data_is_accepted,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    runs = [
        (operation, mode, {})
        for operation in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    ]
    # Random metric names are all 404s: also fuzz the ranges of a metric that exists.
    [series] = [operation for operation in operations if operation.path == "/metrics/{metric}"]
    runs.append((series, schemathesis.GenerationMode.POSITIVE, {"metric": "volume"}))
    for operation, mode, path_parameters in runs:

        @hypothesis.settings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(
            case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        )
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=live.url, checks=checks)

        try:
            exercise()
        except hypothesis.errors.Unsatisfiable:
            # Nothing to get wrong: the operation takes no parameters, so no negative case.
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label


def test_every_batch_the_schema_calls_valid_passes_the_validator() -> None:
    """Many more schema-generated batches than an HTTP run can afford, straight into the
    request model: the field rules accept every one of them."""
    import hypothesis
    import schemathesis

    schema = schemathesis.openapi.from_dict(api.create_app("postgresql://unused/u").openapi())
    [post] = [
        result.ok() for result in schema.get_all_operations() if result.ok().path == "/transactions"
    ]
    seen = {"counts": 0, "events": 0}

    @hypothesis.settings(
        max_examples=120,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=post.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    def validate(case: schemathesis.Case) -> None:
        batch = api.TransactionBatch.model_validate_json(json.dumps(case.body))
        seen["counts" if batch.counts is not None else "events"] += 1

    validate()
    assert seen["counts"] > 15 and seen["events"] > 15, seen


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("2025-07-15T13:44", True),
        ("2025-07-15 13:44:59.123456z", True),
        ("2024-02-29T00:00+14:00", True),
        ("2000-02-29T00:00-1359", True),
        ("1970-01-01T00:00+05", True),
        ("2099-12-31t23:59:59Z", True),
        ("0000-00-00T00:00", False),
        ("2025-07-15T13:44+16:52", False),
        ("2025-07-15T13:44+14:01", False),
        ("2025-07-15T13:44+15", False),
        ("2023-02-29T00:00", False),
        ("2100-02-29T00:00", False),
        ("2025-04-31T00:00", False),
        ("2025-07-15T24:00", False),
        ("2025-07-15T13:60", False),
        ("2025-07-15T13:44:60", False),
        ("1969-12-31T23:59", False),
        ("2100-01-01T00:00", False),
        ("9999-12-31T00:00", False),
        ("2025-07-15T13:44:00.1234567", False),
    ],
)
def test_timestamp_pattern_is_the_loaders_rule(text: str, accepted: bool) -> None:
    import re

    document = api.create_app("postgresql://unused/unused").openapi()
    pattern = document["components"]["schemas"]["CountItem"]["properties"]["timestamp"]["pattern"]
    assert bool(re.search(pattern, text)) is accepted
    if accepted:
        loading.parse_timestamp(text)
    else:
        with pytest.raises(loading.InvalidValue):
            loading.parse_timestamp(text)


def test_openapi_describes_every_route(database_url: str) -> None:
    document = api.create_app(database_url).openapi()
    assert set(document["paths"]) == {
        "/monitor",
        "/status",
        "/episodes",
        "/alerts",
        "/metrics/{metric}",
        "/health",
        "/transactions",
    }
    post = document["paths"]["/transactions"]["post"]
    assert set(post["responses"]) >= {"201", "413", "422"}
    assert "securitySchemes" not in document.get("components", {})
    for path in document["paths"].values():
        for operation in path.values():
            assert operation["summary"] and operation["description"]
            assert "$ref" in json.dumps(operation["responses"]["200" if "get" in path else "201"])


def test_database_error_is_a_503_not_a_500(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    with connect(url) as conn:  # views that exist but cannot be read
        conn.execute("create schema monitoring")
        conn.execute(
            "create view monitoring.current_status as select 'm'::text as metric_name,"
            " 'm'::text as short_name, now() as current_minute_at,"
            " (1 / (select 0))::float8 as value, null::float8 as judged_value,"
            " null::float8 as baseline, null::float8 as threshold, false as is_anomalous,"
            " 0 as consecutive_minutes, 0 as episode_minutes, 'HEALTHY'::text as severity,"
            " null::text as episode_id, 'trailing'::text as baseline_mode"
        )
    response = client.get("/status")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database error (DivisionByZero)")
