"""What every `routedesk` command shares: the root Typer app, settings, and how a command's work runs
and fails (one line on stderr for what the user can act on)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from app.config import Settings, get_settings
from app.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

T = TypeVar("T")

# Exit codes: 1 when the command's own work failed (no such user, IMAP refused the login...), 2 when
# nothing can work until the setup is fixed (the database, a setting, the key), as for a usage error.
FAILED = 1
MISCONFIGURED = 2


# A crash's traceback never shows the values of variables: they hold passwords (--imap-url) and tokens.
cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Routedesk: a support inbox that routes itself.",
)


def package_version() -> str:
    try:
        return version("routedesk")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"routedesk {package_version()}")
        raise typer.Exit()


@cli.callback()
def root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Routedesk: a support inbox that routes itself."""


def load_settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        fail(settings_problem(exc), MISCONFIGURED)
    except ValueError as exc:  # a value pydantic-settings could not even decode (JSON of a nested group)
        fail(f"invalid settings: {str(exc).splitlines()[0]}", MISCONFIGURED)
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def settings_problem(exc: ValidationError) -> str:
    """One line naming each bad ROUTEDESK_* variable and its rule, never the value: it may be a password."""
    parts = []
    for error in exc.errors():
        name = "ROUTEDESK_" + "__".join(str(p) for p in error["loc"]).upper()
        parts.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "invalid settings: " + "; ".join(parts)


def validation_problem(exc: ValidationError) -> str:
    """A refused value of a command's input, in one line: each field's path and pydantic's reason."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def fail(message: str, code: int = FAILED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_async(make: Callable[[], Awaitable[T]], *, database_url: str | None = None) -> T:
    return reporting(lambda: asyncio.run(make()), database_url=database_url)  # type: ignore[arg-type]


def reporting(call: Callable[[], T], *, database_url: str | None = None) -> T:
    """Runs a command's work; what it fails with for a reason the user can act on is one line on stderr:
    a database that cannot be used names its URL (without the password) and the driver's reason."""
    try:
        return call()
    except Exception as exc:
        # Imported once something failed: they bring FastAPI and SQLAlchemy (~20 MB), which a command
        # such as `db upgrade` should not pay for, nor the demo while its training process runs.
        from app.db import shown_url
        from app.errors import AppError, ConfigurationError, database_problem

        if isinstance(exc, ConfigurationError):
            raise fail(exc.detail, MISCONFIGURED) from None
        if isinstance(exc, AppError):
            raise fail(exc.detail) from None
        reason = database_problem(exc)
        if reason is None:
            raise
        url = shown_url(database_url or get_settings().database_url)
        raise fail(f"cannot use the database {url}: {reason}", MISCONFIGURED) from None


def with_runtime(settings: Settings, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    from app.runtime import open_runtime

    async def main() -> T:
        async with open_runtime(settings) as runtime:
            return await fn(runtime)

    return run_async(main, database_url=settings.database_url)


def check_runtime(settings: Settings) -> None:
    """Opens and closes the runtime once: a process that hands its start to uvicorn (which would print
    a lifespan traceback) fails here instead, with the one line any other command prints."""

    async def nothing(_runtime: Runtime) -> None:
        return None

    with_runtime(settings, nothing)


def in_session(settings: Settings, fn: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    """Runs a command's work in one unit of work: committed when `fn` returns, rolled back if it raises."""
    from app.db import unit_of_work

    async def main(runtime: Runtime) -> T:
        async with unit_of_work(runtime.sessionmaker) as session:
            return await fn(session, runtime)

    return with_runtime(settings, main)
