"""What every `routedesk` command shares: the root Typer app, settings, and how a command's work runs
and fails (one line on stderr for what the user can act on)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from app.config import Settings, get_settings
from app.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

T = TypeVar("T")


# A crash's traceback never shows the values of variables: they hold passwords (--imap-url) and tokens.
cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Routedesk: a support inbox that routes itself.",
)


def load_settings() -> Settings:
    try:
        settings = get_settings()
    except ValueError as exc:
        fail(f"invalid settings: {exc}")
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    return reporting(lambda: asyncio.run(make()))  # type: ignore[arg-type]


def reporting(call: Callable[[], T]) -> T:
    """Runs a command's work; what it fails with for a reason the user can act on is one line on stderr."""
    # Imported here, not at the top: it brings FastAPI, which a command such as `db upgrade` should not pay for.
    from app.errors import AppError, database_unavailable
    from app.logs import exception_message

    try:
        return call()
    except AppError as exc:
        raise fail(exc.detail) from None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        raise fail(f"the database is unavailable ({type(exc).__name__}: {exception_message(exc)})") from None


def with_runtime(settings: Settings, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    from app.runtime import open_runtime

    async def main() -> T:
        async with open_runtime(settings) as runtime:
            return await fn(runtime)

    return run_async(main)


def in_session(settings: Settings, fn: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    """Runs a command's work in one unit of work: committed when `fn` returns, rolled back if it raises."""
    from app.db import unit_of_work

    async def main(runtime: Runtime) -> T:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await fn(session, runtime)

    return with_runtime(settings, main)
