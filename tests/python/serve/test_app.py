"""The app as a whole: its OpenAPI contract (fuzzed), and `serve` running it under uvicorn."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
import uvicorn

from serve_helpers import TOKEN, LiveServer
from txmon.core.errors import TxmonError
from txmon.serve.app import create_app, serve

pytest_plugins = ["serve_fixtures"]


def test_serve_refuses_open_interfaces_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(options))
    url = "postgresql://postgres@127.0.0.1:1/postgres"
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        for token in (None, ""):
            with pytest.raises(TxmonError, match="without a token"):
                serve(host, 8000, url, token)
    for host in ("127.0.0.1", "localhost", "::1"):
        serve(host, 8000, url, None)
    serve("0.0.0.0", 8000, url, TOKEN)
    assert [options["host"] for options in started] == ["127.0.0.1", "localhost", "::1", "0.0.0.0"]


def test_serve_runs_the_app_under_uvicorn(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys; from txmon.serve.app import serve;"
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
                    assert time.monotonic() < deadline, "txmon.serve.app.serve did not start"
                    time.sleep(0.1)
            assert health.status_code == 503  # an empty database: no views yet
            assert "server" not in health.headers
            assert client.get("/status").status_code == 401
            authorised = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
            assert authorised.status_code == 503
    finally:
        process.terminate()
        process.wait(10)


def test_openapi_describes_every_route(database_url: str) -> None:
    document = create_app(database_url).openapi()
    assert set(document["paths"]) == {
        "/monitor",
        "/status",
        "/breaking",
        "/episodes",
        "/alerts",
        "/metrics/{metric}",
        "/metrics",
        "/health",
        "/transactions",
    }
    post = document["paths"]["/transactions"]["post"]
    assert set(post["responses"]) >= {"201", "409", "413", "422"}
    assert [parameter["name"] for parameter in post["parameters"]] == ["Idempotency-Key"]
    assert "securitySchemes" not in document.get("components", {})
    for name, path in document["paths"].items():
        for operation in path.values():
            assert operation["summary"] and operation["description"]
            if name == "/metrics":  # Prometheus' text format, not a JSON model
                assert set(operation["responses"]["200"]["content"]) == {"text/plain"}
                continue
            assert "$ref" in json.dumps(operation["responses"]["200" if "get" in path else "201"])


# Routes that take a metric name: an unknown one is a 404 the schema cannot foresee.
METRIC_FILTERED_PATHS = {"/metrics/{metric}", "/episodes"}


def schema_valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Data that the schema calls valid is accepted, or refused only for a documented reason
    that depends on data the schema cannot know (a 404 for an unknown metric; a 409 for an
    Idempotency-Key used before with other items; a 422 whose every problem has a code other
    than `invalid`: stored ids, the clock, the data's span)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or (status == 404 and case.operation.path in METRIC_FILTERED_PATHS):
        return None
    if status == 409 and case.operation.path == "/transactions":
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
    assert len(operations) == 9
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
