"""`routedesk db`: the database schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import MISCONFIGURED, fail, load_settings, reporting

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
