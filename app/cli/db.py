"""`routedesk db`: the database schema."""

from __future__ import annotations

import typer

from app.cli.common import load_settings, reporting

db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema."""
    from app.migrate import upgrade

    settings = load_settings()
    reporting(lambda: upgrade(settings.database_url, revision))
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(revision: str) -> None:
    from app.migrate import downgrade

    settings = load_settings()
    reporting(lambda: downgrade(settings.database_url, revision))
    typer.echo(f"database at {revision}")
