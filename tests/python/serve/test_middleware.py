"""The gate: the bearer token before anything else, then the body size."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from serve_helpers import TOKEN, serving, table_rows
from txmon.serve.app import create_app

pytest_plugins = ["serve_fixtures"]


@pytest.mark.slow
def test_token_guards_everything_but_health(built_url: str) -> None:
    with serving(create_app(built_url, token=TOKEN)) as server, server.client() as client:
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


def test_body_over_the_limit_is_413(database_url: str) -> None:
    item = {"timestamp": "2025-07-15T13:44Z", "status": "approved", "count": 1}
    batch = json.dumps({"counts": [item] * 100}).encode()
    assert len(batch) > 4096
    limited = create_app(database_url, max_body_bytes=4096)
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
