from __future__ import annotations

import contextlib
import errno
import re
import secrets
import socket
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import LOGGED_MARK, exception_message
from app.validation import error_fields, error_summary

log = structlog.get_logger()


class ErrorRead(BaseModel):
    """Every 4xx and 5xx answer of the API has this body."""

    error: str
    detail: str
    fields: list[dict[str, Any]] | None = None
    # On a 500: the id of the one server log line (`unexpected_error error_id=...`) that describes it.
    error_id: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorRead, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Missing or invalid token"),
        (403, "The token's role may not do this"),
        (404, "Not found"),
        (409, "Conflict"),
        (410, "Gone: e.g. an attachment whose content was not kept"),
        (413, "The request body, or a file in it, is over its size limit"),
        (422, "Invalid input"),
        (429, "Too many failed authentications from this address; see Retry-After"),
        (500, "Unexpected error, logged on the server under the answer's error_id"),
        (503, "The database did not answer; try again after Retry-After seconds"),
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


class Gone(AppError):
    status_code = 410


class PayloadTooLarge(AppError):
    status_code = 413


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


# SQLSTATEs of a database that is gone or going: connection exceptions (class 08), the server shutting
# down, crashed or starting up (57P01-57P04), and no connection slot free (53300). Retrying helps.
_UNAVAILABLE_SQLSTATE = re.compile(r"^(08...|57P0.|53300)$")
_CONNECTION_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EADDRNOTAVAIL,
        errno.ENOENT,  # a unix socket that is not there
    }
)
_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.", "sqlite3.")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (a DBAPIError's `orig`, `raise ... from`, raised while handling)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 8:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__, current.__context__]
    return seen


def _raised_in_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached now (refused, dropped, restarting, shutting
    down, no free connection), wherever it surfaced: wrapped by SQLAlchemy or raw from the driver."""
    for current in _chain(exc):
        if isinstance(current, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and _UNAVAILABLE_SQLSTATE.match(sqlstate):
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in (
            "InterfaceError",
            "ConnectionDoesNotExistError",
        ):
            return True
        if isinstance(current, OSError) and _raised_in_driver(current):
            # ConnectionRefusedError, a reset, a timeout, asyncio's "Multiple exceptions" for every
            # address of a host: a socket the driver could not open or keep. Not a file error elsewhere.
            if isinstance(current, ConnectionError | TimeoutError | socket.gaierror) or current.errno is None:
                return True
            if current.errno in _CONNECTION_ERRNOS:
                return True
    return False


# SQLSTATEs of a server that refuses this role or password (class 28) or has no such database (3D000):
# the URL is wrong, and no retry will help.
_REFUSED_SQLSTATE = re.compile(r"^(28...|3D000)$")


def database_problem(exc: BaseException) -> str | None:
    """Why the database cannot be used, when `exc` says it cannot (unreachable, or refusing this role,
    password or database name): one line in the driver's words; None for any other error."""
    chain = _chain(exc)
    refused = any(
        isinstance(code := getattr(c, "sqlstate", None), str) and _REFUSED_SQLSTATE.match(code) for c in chain
    )
    if not refused and not database_unavailable(exc):
        return None
    # The driver's own exception says it best (SQLAlchemy's wrappers add a link and the statement), and
    # not one raised while cleaning up after it (a closed event loop).
    drivers = [c for c in chain if not type(c).__module__.startswith("sqlalchemy")]
    cause = next(
        (c for c in drivers if isinstance(getattr(c, "sqlstate", None), str)),
        next((c for c in drivers if isinstance(c, OSError) or type(c).__module__.startswith("sqlite3")), exc),
    )
    return f"{type(cause).__name__}: {exception_message(cause)}"


def _log_unavailable(request: Request, exc: BaseException) -> None:
    reason = next((c for c in reversed(_chain(exc))), exc)
    log.warning(
        "database_unavailable",
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
        reason=f"{type(reason).__name__}: {exception_message(reason)}",
    )


def database_unavailable_response() -> JSONResponse:
    return JSONResponse(
        {"error": "DatabaseUnavailable", "detail": "the database did not answer; try again"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def log_unexpected(request: Request, exc: BaseException) -> str:
    """One line for an unexpected error: its id (the 500 answer carries it), where, and the exception as
    its type, a short message and its frames, never the values of variables (they hold tokens, mail)."""
    already = getattr(exc, LOGGED_MARK, None)
    if isinstance(already, str):
        return already
    error_id = secrets.token_hex(8)
    log.error("unexpected_error", error_id=error_id, method=request.method, path=request.url.path, exc_info=exc)
    # An exception type with __slots__ cannot carry the mark: it may be logged twice, no worse.
    with contextlib.suppress(AttributeError):
        setattr(exc, LOGGED_MARK, error_id)
    return error_id


def error_response(request: Request, exc: BaseException) -> JSONResponse:
    """The answer to an exception no handler took: a 503 when the database is unreachable, else a 500."""
    if database_unavailable(exc):
        _log_unavailable(request, exc)
        return database_unavailable_response()
    error_id = log_unexpected(request, exc)
    return JSONResponse(
        {"error": "InternalError", "detail": "unexpected error; it is logged on the server", "error_id": error_id},
        status_code=500,
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A lost or refused database connection, or no free connection in time, is a 503: the pool drops
    connections that failed, so the next request gets a fresh one and the client should simply retry.
    Any other database error is unexpected."""
    return error_response(request, exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # The exception itself goes to the server's log, never to the client: it may quote data or SQL.
    return error_response(request, exc)


class ErrorBoundary:
    """ASGI middleware: an exception no handler took is answered here (500 with its error id, or 503
    for a lost database) and not raised further. Raised further, Starlette's outermost middleware
    would answer the same but re-raise, and the server would log the traceback again and close the
    client's connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = error_response(Request(scope), exc)
            if not started:
                await response(scope, receive, send)
            # Else part of an answer is out: nothing more can be said; the error is logged.


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(ErrorBoundary)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(PoolTimeout, database_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
