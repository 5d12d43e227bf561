"""POST /transactions with an Idempotency-Key: a retry writes nothing and gets the first answer,
the same key with other items is a 409, and keys live in the database, not in the server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from helpers import rows
from serve_helpers import serving, table_rows
from txmon.db.connection import connect
from txmon.ingest.loads import list_loads, remove_loads
from txmon.serve.app import create_app
from txmon.serve.routes.transactions import REPLAYED_HEADER

pytest_plugins = ["serve_fixtures"]

COUNTS = {
    "counts": [
        {"timestamp": "2025-07-15 13:44", "status": "approved", "count": 120},
        {"timestamp": "2025-07-15 13:44", "status": "denied", "count": 7},
        {"timestamp": "2025-07-15 13:45", "status": "approved", "count": 118},
    ]
}
EVENTS = {
    "events": [
        {
            "transaction_id": "tx-1",
            "created_at": "2025-07-15T13:44:05Z",
            "status": "approved",
            "amount": "129.90",
        },
        {
            "transaction_id": "tx-2",
            "created_at": "2025-07-15T13:44:09Z",
            "status": "failed",
            "amount": "12.50",
            "channel": "pos",
        },
    ]
}


def keyed(key: str | bytes) -> dict[str, str | bytes]:
    return {"Idempotency-Key": key}


def counted(url: str) -> list[tuple[Any, ...]]:
    """The raw counts summed by minute and status: what the models add up."""
    return rows(
        url,
        "select observed_at, status, sum(transaction_count)::bigint"
        " from txmon_raw.transaction_counts group by 1, 2 order by 1, 2",
    )


def test_the_same_counts_batch_twice_is_written_once(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    first = client.post("/transactions", json=COUNTS, headers=keyed("batch-0001"))
    assert first.status_code == 201, first.text
    assert REPLAYED_HEADER.lower() not in first.headers
    written = counted(url)
    assert [count for _, _, count in written] == [120, 7, 118]

    again = client.post("/transactions", json=COUNTS, headers=keyed("batch-0001"))
    assert again.status_code == 201
    assert again.json() == first.json() == {"kind": "counts", "rows_written": 3}
    assert again.headers[REPLAYED_HEADER] == "true"
    # The same items spelt otherwise are the same batch: compared as stored.
    spelt = {"counts": [{**item, "count": str(item["count"])} for item in COUNTS["counts"]]}
    spelt["counts"][0]["timestamp"] = "2025-07-15T10:44:00-03:00"
    assert client.post("/transactions", json=spelt, headers=keyed("batch-0001")).status_code == 201
    assert counted(url) == written
    assert table_rows(url, "transaction_counts") == 3

    # The batch is one load, named by its key.
    with connect(url) as conn:
        [load] = list_loads(conn)
    assert (load.input_shape, load.rows_loaded, load.rows_rejected) == ("counts", 3, 0)
    assert load.file_name == "POST /transactions (Idempotency-Key 'batch-0001')"
    assert str(load.first_minute_at) == "2025-07-15 13:44:00+00:00"

    # Another key is another batch: counts add up, as without a key.
    assert client.post("/transactions", json=COUNTS, headers=keyed("batch-0002")).status_code == 201
    assert [count for _, _, count in counted(url)] == [240, 14, 236]
    assert client.post("/transactions", json=COUNTS).status_code == 201
    assert [count for _, _, count in counted(url)] == [360, 21, 354]


def test_the_same_key_with_other_items_is_a_409_and_writes_nothing(
    fresh: tuple[str, httpx.Client],
) -> None:
    url, client = fresh
    assert client.post("/transactions", json=COUNTS, headers=keyed("k-1")).status_code == 201
    changed = {"counts": [{**COUNTS["counts"][0], "count": 121}, *COUNTS["counts"][1:]]}
    fewer = {"counts": COUNTS["counts"][:2]}
    for other in (changed, fewer, EVENTS, {"counts": []}):
        refused = client.post("/transactions", json=other, headers=keyed("k-1"))
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail.startswith("Idempotency-Key was first used for load 1")
        assert "send this batch with a new key" in detail
    assert (
        "a batch of 3 other counts items"
        in client.post("/transactions", json=changed, headers=keyed("k-1")).json()["detail"]
    )
    assert table_rows(url, "transaction_counts") == 3
    assert table_rows(url, "transactions") == 0
    assert len(rows(url, "select * from txmon_raw.loads")) == 1


def test_an_events_batch_sent_again_is_answered_not_refused(
    fresh: tuple[str, httpx.Client],
) -> None:
    url, client = fresh
    first = client.post("/transactions", json=EVENTS, headers=keyed("events-1"))
    assert first.status_code == 201, first.text
    # Without the key the ids already stored refuse the batch; with it, the retry is answered.
    assert client.post("/transactions", json=EVENTS).status_code == 422
    again = client.post("/transactions", json=EVENTS, headers=keyed("events-1"))
    assert (again.status_code, again.json()) == (201, {"kind": "events", "rows_written": 2})
    assert again.headers[REPLAYED_HEADER] == "true"
    assert table_rows(url, "transactions") == 2
    assert rows(url, "select distinct load_id from txmon_raw.transactions") == [(1,)]


def test_keys_outlive_the_server_and_a_removed_load_frees_its_key(database_url: str) -> None:
    with serving(create_app(database_url)) as server, server.client() as client:
        assert client.post("/transactions", json=COUNTS, headers=keyed("k")).status_code == 201
    with serving(create_app(database_url)) as server, server.client() as client:
        again = client.post("/transactions", json=COUNTS, headers=keyed("k"))
        assert again.headers[REPLAYED_HEADER] == "true"
        assert table_rows(database_url, "transaction_counts") == 3

        with connect(database_url) as conn:
            remove_loads(conn, [1])
        assert table_rows(database_url, "transaction_counts") == 0
        resent = client.post("/transactions", json=COUNTS, headers=keyed("k"))
        assert resent.status_code == 201 and REPLAYED_HEADER.lower() not in resent.headers
        assert table_rows(database_url, "transaction_counts") == 3

        # A load that lost some of its rows cannot say it was this batch.
        with connect(database_url) as conn:
            conn.execute("delete from txmon_raw.transaction_counts where status = 'denied'")
        partial = client.post("/transactions", json=COUNTS, headers=keyed("k"))
        assert partial.status_code == 409
        assert "pruned or removed in part" in partial.json()["detail"]


def test_a_refused_batch_does_not_use_up_its_key(fresh: tuple[str, httpx.Client]) -> None:
    url, client = fresh
    ahead = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    bad = {"counts": [{"timestamp": ahead, "status": "approved", "count": 1}]}
    refused = client.post("/transactions", json=bad, headers=keyed("k"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "ahead_of_clock"
    assert table_rows(url, "loads") == 0
    assert client.post("/transactions", json=COUNTS, headers=keyed("k")).status_code == 201
    assert table_rows(url, "transaction_counts") == 3


def test_concurrent_retries_write_the_batch_once(database_url: str) -> None:
    answers: list[httpx.Response] = []
    with serving(create_app(database_url)) as server:
        start = threading.Barrier(4)

        def send() -> None:
            with server.client() as client:
                start.wait()
                answers.append(client.post("/transactions", json=COUNTS, headers=keyed("k")))

        senders = [threading.Thread(target=send) for _ in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
    assert [answer.status_code for answer in answers] == [201] * 4
    assert sum(REPLAYED_HEADER.lower() in answer.headers for answer in answers) == 3
    assert table_rows(database_url, "transaction_counts") == 3


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "at least 1 character"),
        ("k" * 256, "at most 255 characters"),
        ("café".encode(), "should match pattern"),
        (b"tab\tinside", "should match pattern"),
    ],
)
def test_a_bad_key_is_a_422_naming_the_header(
    fresh: tuple[str, httpx.Client], key: str | bytes, why: str
) -> None:
    url, client = fresh
    response = client.post("/transactions", json=COUNTS, headers=keyed(key))
    assert response.status_code == 422, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "Idempotency-Key" and why in problem["reason"]
    assert table_rows(url, "transaction_counts") == 0
