"""GET /health: whether the database answers and the views exist; open without a token."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time.

import psycopg
from fastapi import APIRouter, Response

from txmon.core.errors import DatabaseUnavailable, TxmonError
from txmon.pipeline import build_state
from txmon.pipeline.build_state import Health
from txmon.serve.dependencies import ServedDatabase
from txmon.serve.errors import first_line
from txmon.serve.models import HealthOut

router = APIRouter(tags=["service"])


@router.get(
    "/health",
    summary="Database and views",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Database unreachable or no views."}},
)
def get_health(database: ServedDatabase, response: Response) -> Health:
    """200 when the database answers and the views exist, else 503 with the reason. Also
    the newest minute, how old it is, and the last build the scheduler recorded. Needs no
    token."""
    try:
        with database.reading() as conn:
            health = build_state.health(conn)
    except DatabaseUnavailable as error:
        health = Health.failing("error", "unknown", str(error))
    except psycopg.OperationalError as error:  # the connection broke, the server stopped...
        health = Health.failing("error", "unknown", f"database error: {first_line(error)}")
    except (psycopg.Error, TxmonError) as error:  # it answered, but not as the views should
        health = Health.failing("ok", "unknown", f"cannot read the views: {first_line(error)}")
    if health.status != "ok":
        response.status_code = 503
    return health
