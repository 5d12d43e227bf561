"""The batch: its field rules in the loader's words, its shape and limits, and the rules that
depend on stored data (ids, time sanity); a refused batch writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from helpers import rows
from serve_helpers import reason, serving, table_rows
from txmon.core.config import Ingest
from txmon.db.connection import connect
from txmon.ingest import fields as rules
from txmon.ingest.fields import COUNTS_FIELDS, EVENTS_FIELDS
from txmon.ingest.files import load_file
from txmon.serve.app import create_app
from txmon.serve.batches import (
    MAX_BATCH_ITEMS,
    MAX_BODY_BYTES,
    MAX_ITEM_BYTES,
    CountItem,
    EventItem,
    TransactionBatch,
)

pytest_plugins = ["serve_fixtures"]


def test_items_have_the_fields_of_the_raw_tables_in_their_order() -> None:
    assert tuple(CountItem.model_fields) == tuple(field.name for field in COUNTS_FIELDS)
    assert tuple(EventItem.model_fields) == tuple(field.name for field in EVENTS_FIELDS)


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
    batch = {"counts": [dict(zip(rules.COUNTS_COLUMNS, item, strict=True)) for item in items]}
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
        summary = load_file(conn, csv)
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
        (1, "timestamp", reason(rules.parse_timestamp, "2025-13-01 10:00")),
        (2, "status", "empty status"),
        (3, "count", reason(rules.parse_count, "-1")),
        (4, "count", reason(rules.parse_count, "1.5")),
        (5, "timestamp", reason(rules.parse_timestamp, "not a time")),
        (5, "status", reason(rules.parse_status, "app;roved")),
        (5, "count", reason(rules.parse_count, "99999999999999999999")),
        (6, "timestamp", reason(rules.parse_timestamp, "2025-07-15 13:44+15:00")),
        (7, "count", reason(rules.parse_count, "2.5")),
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

    too_many = client.post("/transactions", json={"counts": [item] * (MAX_BATCH_ITEMS + 1)})
    assert too_many.status_code == 422
    [problem] = too_many.json()["errors"]
    assert problem["field"] == "counts" and "10000" in problem["reason"]
    assert table_rows(url, "transaction_counts") == 0
    full = client.post("/transactions", json={"counts": [item] * MAX_BATCH_ITEMS})
    assert full.status_code == 201
    assert table_rows(url, "transaction_counts") == MAX_BATCH_ITEMS


def test_a_full_batch_fits_the_body_cap(database_url: str) -> None:
    # 10,000 minimal events were a 413 under a 1,000,000-byte cap; so are none of the largest
    # valid items now, even indented.
    minimal = [
        {"transaction_id": str(index), "created_at": "2025-07-15T13:44Z", "status": "a",
         "amount": 1}
        for index in range(MAX_BATCH_ITEMS)
    ]  # fmt: skip
    largest = [
        {
            "transaction_id": f"{index:0{rules.MAX_ID_CHARS}d}",
            "created_at": "2025-07-15T13:45:59.123456+00:00",
            "status": "s" * rules.MAX_STATUS_CHARS,
            "amount": "-" + "9" * 16 + ".99",
            **{name: "t" * rules.MAX_TEXT_CHARS for name in rules.EVENTS_OPTIONAL[:-1]},
            "duration_ms": rules.INTEGER_MAX,
        }
        for index in range(MAX_BATCH_ITEMS)
    ]
    body = json.dumps({"events": largest}, indent=2).encode()
    assert len(json.dumps(largest[0], separators=(",", ":"))) <= MAX_ITEM_BYTES
    assert len(body) < MAX_BODY_BYTES
    with serving(create_app(database_url)) as server, server.client(timeout=120) as client:
        first = client.post("/transactions", json={"events": minimal})
        assert first.status_code == 201, first.text[:300]
        second = client.post(
            "/transactions", content=body, headers={"Content-Type": "application/json"}
        )
        assert second.status_code == 201, second.text[:300]
        # Streamed, so the gate reads it all before refusing: a 35 MB body declared too large
        # is refused unread, and a client still sending it may see the connection reset
        # instead of the 413 (test_body_over_the_limit_is_413 covers that case, small).
        over = client.post(
            "/transactions",
            content=iter([b" " * MAX_BODY_BYTES, b" "]),
            headers={"Content-Type": "application/json"},
        )
        assert over.status_code == 413
    assert table_rows(database_url, "transactions") == 2 * MAX_BATCH_ITEMS


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

    with serving(create_app(database_url)) as server, server.client() as client:
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
    wide = create_app(database_url, ingest=Ingest(future_horizon_minutes=60, max_gap_days=60))
    with serving(wide) as server, server.client() as client:
        accepted = client.post(
            "/transactions", json=counts(now - timedelta(days=80), now + timedelta(minutes=30))
        )
        assert accepted.status_code == 201, accepted.text


def test_every_batch_the_schema_calls_valid_passes_the_validator() -> None:
    """Many more schema-generated batches than an HTTP run can afford, straight into the
    request model: the field rules accept every one of them."""
    import hypothesis
    import schemathesis

    schema = schemathesis.openapi.from_dict(create_app("postgresql://unused/u").openapi())
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
        batch = TransactionBatch.model_validate_json(json.dumps(case.body))
        seen["counts" if batch.counts is not None else "events"] += 1

    validate()
    assert seen["counts"] > 15 and seen["events"] > 15, seen
