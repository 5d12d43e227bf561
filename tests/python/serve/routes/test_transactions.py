"""POST /transactions writes what it accepts, exactly as sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from helpers import rows
from serve_helpers import table_rows

pytest_plugins = ["serve_fixtures"]


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
