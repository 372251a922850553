from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.validation import error_fields, error_summary

log = structlog.get_logger()


class ErrorRead(BaseModel):
    """Every 4xx and 5xx answer of the API has this body."""

    error: str
    detail: str
    fields: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorRead, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Missing or invalid token"),
        (403, "The token's role may not do this"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "The request body is over the route's size limit"),
        (422, "Invalid input"),
        (429, "Too many failed authentications from this address; see Retry-After"),
        (500, "Unexpected error (logged on the server)"),
        (503, "The database did not answer; try again"),
    )
}


class AppError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Forbidden(AppError):
    status_code = 403


class Unauthorized(AppError):
    status_code = 401


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class InvalidInput(AppError):
    status_code = 422


class ConfigurationError(AppError):
    status_code = 500


async def app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(
        {"error": type(exc).__name__, "detail": exc.detail}, status_code=exc.status_code, headers=headers
    )


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields, omitted = error_fields(exc.errors())  # bounded in count and size, without the input
    return JSONResponse(
        {"error": "ValidationError", "detail": error_summary(fields, omitted), "fields": fields}, status_code=422
    )


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}.get(
        exc.status_code, "HTTPError"
    )
    return JSONResponse({"error": name, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A lost or refused database connection, or no free connection in time, is a 503: the pool drops
    connections that failed, so the next request gets a fresh one and the client should simply retry.
    Any other database error is unexpected."""
    lost = isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if not lost:
        return await unexpected_error_handler(request, exc)
    log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
    return JSONResponse(
        {"error": "DatabaseUnavailable", "detail": "the database did not answer; try again"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # The exception itself goes to the server's log, never to the client: it may quote data or SQL.
    log.error("unexpected_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    return JSONResponse({"error": "InternalError", "detail": "unexpected error; it is logged on the server"}, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(PoolTimeout, database_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
