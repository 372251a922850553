from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


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


class InvalidInput(AppError):
    status_code = 422


class ConfigurationError(AppError):
    status_code = 500


async def app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(
        {"error": type(exc).__name__, "detail": exc.detail}, status_code=exc.status_code, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
