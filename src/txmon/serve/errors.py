"""How failures become answers: refused requests are a 422 listing every problem, a database
that cannot be reached or read is a 503 with the reason, anything else a 500 without details.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from txmon.core.errors import TxmonError
from txmon.pipeline.build_state import VIEWS_MISSING
from txmon.pipeline.views import UnknownMetric
from txmon.serve.field_types import printable
from txmon.serve.models import Message, Problem, Problems

logger = logging.getLogger(__name__)

# How the routes that read or write data can fail, for OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": Problems, "description": "Invalid parameters."},
    503: {"model": Message, "description": "Database unreachable or views missing."},
}
UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Missing or wrong bearer token."}
}


class Refused(Exception):
    """A request refused with a list of problems (422), raised after pydantic's validation."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def first_line(error: BaseException) -> str:
    """The first line of an error's text, short enough for an answer."""
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def message(status: int, detail: str) -> JSONResponse:
    """An answer with a `Message` body."""
    return JSONResponse({"detail": printable(detail)}, status_code=status)


def problems_from(errors: list[Any]) -> list[Problem]:
    """pydantic's validation errors as problems: the item's index and field apart."""
    problems = []
    for error in errors:
        where, *rest = tuple(error.get("loc", ())) or ("",)
        index = None
        field = None
        if error.get("type") == "json_invalid":
            reason = f"invalid JSON: {error.get('ctx', {}).get('error', 'cannot be decoded')}"
        else:
            reason = str(error.get("msg", "invalid"))
            if where == "body" and len(rest) >= 2 and isinstance(rest[1], int):
                index = rest[1]  # ("events", 3, "created_at")
                field = ".".join(str(part) for part in rest[2:]) or None
            elif rest:
                field = ".".join(str(part) for part in rest)
        problems.append(Problem(index=index, field=field, reason=printable(reason)))
    return problems


def _problems_response(request: Request, problems: list[Problem]) -> JSONResponse:
    if request.method == "POST":
        detail = f"the batch was refused and nothing was written: {len(problems)} problem(s)"
    else:
        detail = f"invalid request: {len(problems)} problem(s)"
    body = Problems(detail=detail, errors=problems)
    return JSONResponse(body.model_dump(), status_code=422)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return _problems_response(request, problems_from(list(error.errors())))


async def _refused(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Refused)
    return _problems_response(request, error.problems)


async def _txmon_error(request: Request, error: Exception) -> JSONResponse:
    # The database cannot be reached, or the views are missing or empty: not the API's bug.
    return message(503, str(error))


async def _unknown_metric(request: Request, error: Exception) -> JSONResponse:
    return message(404, str(error))


async def _views_missing(request: Request, error: Exception) -> JSONResponse:
    return message(503, VIEWS_MISSING)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    logger.warning("database error on %s %s: %s", request.method, request.url.path, error)
    return message(503, f"database error ({type(error).__name__}): {first_line(error)}")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return message(500, "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(UnknownMetric, _unknown_metric)
    app.add_exception_handler(TxmonError, _txmon_error)
    app.add_exception_handler(psycopg.errors.UndefinedTable, _views_missing)
    app.add_exception_handler(psycopg.errors.UndefinedColumn, _views_missing)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
