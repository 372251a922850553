"""`routedesk users`: agents, admins and their API tokens."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

users_cli = typer.Typer(no_args_is_help=True, help="Agents and admins, and their API tokens.")


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Unique name, shown on tickets and events")],
    email: Annotated[str, typer.Option("--email", help="The user's email address")],
    role: Annotated[str, typer.Option("--role", help="agent or admin")] = "agent",
) -> None:
    """Create a user and print their API token (shown this once; only its hash is stored)."""
    from app.users import service as users

    settings = load_settings()

    async def add(session: AsyncSession, _runtime: Runtime) -> str:
        _user, token = await users.create_user(session, name=name, email=email, role=role)
        return token

    token = in_session(settings, add)
    typer.echo(f"user {name!r} ({role}) created; API token (shown once):", err=True)
    typer.echo(token)


@users_cli.command("token")
def users_token(name: Annotated[str, typer.Argument(help="The user's name")]) -> None:
    """Replace a user's token with a new one and print it."""
    from app.users import service as users

    settings = load_settings()

    async def rotate(session: AsyncSession, _runtime: Runtime) -> str:
        return (await users.rotate_token(session, name))[1]

    typer.echo(in_session(settings, rotate))


@users_cli.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="The user's name")]) -> None:
    """Revoke a user's token: every request with it is refused from now on."""
    from app.users import service as users

    settings = load_settings()

    async def revoke(session: AsyncSession, _runtime: Runtime) -> None:
        await users.revoke(session, name)

    in_session(settings, revoke)
    typer.echo(f"user {name!r}: token revoked")


@users_cli.command("list")
def users_list(
    limit: Annotated[int, typer.Option(min=1, help="At most this many users, oldest first")] = 1000,
) -> None:
    """Print every user as a JSON line: name, email, role, active, created (never a token or its hash)."""
    from app.users import service as users

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "name": u.name,
                "email": u.email,
                "role": u.role,
                "active": u.active,
                "created": u.created_at.isoformat(),
            }
            for u in await users.listing(session, offset=0, limit=limit)
        ]

    for row in in_session(settings, rows):
        typer.echo(json.dumps(row))
