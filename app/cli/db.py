"""`routedesk db`: the database schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import MISCONFIGURED, fail, load_settings, reporting, run_async

db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="The revision to migrate to")] = "head",
) -> None:
    """Create or migrate the schema (the database file too, on SQLite)."""
    from app.migrate import upgrade

    settings = load_settings()
    _sqlite_folder_exists(settings.database_url)
    reporting(lambda: upgrade(settings.database_url, revision), database_url=settings.database_url)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="The revision to go back to (`base` for an empty database)")],
) -> None:
    """Migrate the schema back to an earlier revision."""
    from app.migrate import downgrade

    settings = load_settings()
    _sqlite_folder_exists(settings.database_url)
    reporting(lambda: downgrade(settings.database_url, revision), database_url=settings.database_url)
    typer.echo(f"database at {revision}")


def _sqlite_folder_exists(database_url: str) -> None:
    # Checked here: the driver would fail in its own thread, after the command's event loop has closed.
    from app.db import is_sqlite, shown_url

    if not is_sqlite(database_url):
        return
    from sqlalchemy.engine import make_url

    database = make_url(database_url).database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).resolve().parent
        if not folder.is_dir():
            url = shown_url(database_url)
            fail(f"cannot use the database {url}: the folder {folder} does not exist", MISCONFIGURED)


@db_cli.command("analyst-role")
def db_analyst_role(
    name: Annotated[str, typer.Argument(help="The role's name: lower-case letters, digits and _")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
    ] = False,
) -> None:
    """PostgreSQL: create (or bring back to this) a role that logs in and reads the report views
    ticket_facts, reply_facts and sla_events, and nothing else. Without --password-stdin a password
    is made and printed once."""
    import secrets
    import sys

    from sqlalchemy.engine import make_url

    from app.db import is_sqlite
    from app.reports.analysts import (
        SQLITE_REFUSAL,
        AnalystRole,
        AnalystRoleRefused,
        check_name,
        check_password,
        ensure_analyst_role,
    )

    settings = load_settings()
    url = settings.database_url
    try:
        check_name(name)
        if is_sqlite(url):
            raise AnalystRoleRefused(SQLITE_REFUSAL)
        # Never an argument: argv is in every process list.
        password = check_password(_one_line(sys.stdin.read())) if password_stdin else secrets.token_urlsafe(24)
    except AnalystRoleRefused as exc:
        fail(exc.detail, MISCONFIGURED)

    async def attempt() -> AnalystRole | AnalystRoleRefused:
        # A refusal is returned, not raised through `reporting`, which would make it exit 1.
        try:
            return await ensure_analyst_role(url, name, password=password)
        except AnalystRoleRefused as exc:
            return exc

    role = run_async(attempt, database_url=url)
    if isinstance(role, AnalystRoleRefused):
        fail(role.detail, MISCONFIGURED)
    connect = make_url(url).set(drivername="postgresql", username=name, password=None)
    typer.echo(
        f"analyst role {name} {'created' if role.created else 'updated'}: reads {', '.join(role.views)} and "
        f"nothing else; connect as {connect.render_as_string(hide_password=True)}"
    )
    if not password_stdin:
        typer.echo(f"password (shown once): {password}")


def _one_line(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text
