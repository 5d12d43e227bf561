"""The HTTP API: `create_app` assembles the routers, the gate and the error answers; `serve`
runs it under uvicorn (`txmon serve`).

Read routes only read the public views (txmon.pipeline.views, txmon.alerting.log); nothing is
recomputed here. POST /transactions validates with the CSV loader's field rules and writes one
batch in one transaction (txmon.serve.batches).
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer

from txmon import __version__
from txmon.core.config import Ingest, Settings, load_settings
from txmon.core.errors import TxmonError
from txmon.core.facts import PUBLIC_SCHEMA
from txmon.serve.batches import MAX_BODY_BYTES
from txmon.serve.dependencies import Database, configure
from txmon.serve.docs import install_docs
from txmon.serve.errors import UNAUTHORISED, install_error_handlers
from txmon.serve.middleware import Gate
from txmon.serve.routes import health, metrics, monitoring, prometheus, transactions

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DESCRIPTION = f"""
Real-time monitoring of payment transactions. The read routes serve the public views that
`txmon build` (dbt) keeps in schema `{PUBLIC_SCHEMA}`; `POST /transactions` adds raw data for the
next build. Timestamps are UTC; a query time without an offset is read as UTC.

When the server runs with a token, every route except `/health` and these docs needs
`Authorization: Bearer <token>`.
"""
TAGS = [
    {"name": "monitoring", "description": f"The public views of schema `{PUBLIC_SCHEMA}`."},
    {"name": "ingest", "description": "Raw transactions for the next `txmon build`."},
    {"name": "service", "description": "Liveness and readiness."},
]


def create_app(
    database_url: str,
    *,
    token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    ingest: Ingest | None = None,
) -> FastAPI:
    """The API over the database at `database_url`; with `token`, bearer auth on all but
    /health and the docs. `ingest` holds the time-sanity settings of POST /transactions (the
    settings file's [ingest] section; its defaults when None)."""
    token = token or None  # an empty token would protect nothing
    app = FastAPI(
        title="txmon API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        # Served by install_docs from local files instead of FastAPI's pages, which load a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    install_docs(app)
    configure(app, Database(database_url), ingest or Ingest())
    app.add_middleware(Gate, token=token, max_body_bytes=max_body_bytes)
    install_error_handlers(app)

    # The Gate enforces the token; this documents it in OpenAPI (the Authorize button of /docs).
    guarded: dict[str, Any] = (
        {"dependencies": [Security(HTTPBearer(auto_error=False))], "responses": UNAUTHORISED}
        if token
        else {}
    )
    app.include_router(monitoring.router, **guarded)
    app.include_router(metrics.router, **guarded)
    app.include_router(prometheus.router, **guarded)
    app.include_router(health.router)
    app.include_router(transactions.router, **guarded)
    return app


def serve(
    host: str, port: int, database_url: str, token: str | None, settings: Settings | None = None
) -> None:
    """Run the API with uvicorn until interrupted. Without a token, only on loopback.
    `settings` defaults to the settings file ($TXMON_CONFIG, else ./txmon.toml)."""
    token = token or None
    if token is None and host.lower() not in LOOPBACK_HOSTS:
        raise TxmonError(
            f"refusing to serve on {host} without a token: anyone who can reach it could read "
            "the monitoring data and write transactions. Set a token (`txmon serve` reads "
            "$TXMON_API_TOKEN, see --token-env) or listen on 127.0.0.1, localhost or ::1"
        )
    settings = settings or load_settings()
    app = create_app(database_url, token=token, ingest=settings.ingest)
    uvicorn.run(app, host=host, port=port, server_header=False, log_level="info")
