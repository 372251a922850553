"""`routedesk mailbox`: the IMAP mailboxes to ingest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

mailbox_cli = typer.Typer(no_args_is_help=True, help="IMAP mailboxes to ingest.")


@mailbox_cli.command("add")
def mailbox_add(
    name: Annotated[str, typer.Argument(help="A name of your choice, unique")],
    imap_url: Annotated[str, typer.Option("--imap-url", help="imap[s]://USER:PASS@HOST:PORT/FOLDER")],
    address: Annotated[str | None, typer.Option(help="The support address customers write to")] = None,
) -> None:
    """Add an IMAP mailbox to ingest (its password is stored encrypted)."""
    from app.inbox import mailboxes as inbox
    from app.mail.imap import parse_imap_url

    settings = load_settings()
    try:
        endpoint = parse_imap_url(imap_url)
    except ValueError as exc:
        raise fail(str(exc)) from None

    async def add(session: AsyncSession, runtime: Runtime) -> None:
        await inbox.add_mailbox(session, name=name, endpoint=endpoint, secrets=runtime.secrets, address=address)

    in_session(settings, add)
    typer.echo(
        f"mailbox {name!r} added: {endpoint.security} {endpoint.username}@{endpoint.host}:{endpoint.port}/"
        f"{endpoint.folder} (password stored encrypted)"
    )


@mailbox_cli.command("list")
def mailbox_list() -> None:
    """Print every mailbox as a JSON line, with where its polling stands and its last error."""
    from app.inbox import repository

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        out = []
        for m in await repository.mailboxes(session):
            state = await repository.state(session, m.id)
            out.append(
                {
                    "name": m.name,
                    "imap": f"{m.imap_security} {m.imap_username}@{m.imap_host}:{m.imap_port}/{m.folder}",
                    "enabled": m.enabled,
                    "uidvalidity": state.uidvalidity if state else None,
                    "last_uid": state.last_uid if state else 0,
                    "last_poll_at": state.last_poll_at.isoformat() if state and state.last_poll_at else None,
                    "last_error": state.last_error if state else None,
                }
            )
        return out

    for row in in_session(settings, rows):
        typer.echo(json.dumps(row))


@mailbox_cli.command("remove")
def mailbox_remove(name: Annotated[str, typer.Argument(help="The mailbox's name")]) -> None:
    """Stop ingesting a mailbox (its messages and tickets are kept)."""
    from app.inbox import mailboxes as inbox

    settings = load_settings()

    async def remove(session: AsyncSession, _runtime: Runtime) -> None:
        await inbox.remove_mailbox(session, name)

    in_session(settings, remove)
    typer.echo(f"mailbox {name!r} removed (its messages and tickets are kept)")
