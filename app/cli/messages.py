"""`routedesk messages`: stored messages, for admins."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

messages_cli = typer.Typer(no_args_is_help=True, help="Stored messages (for admins).")


@messages_cli.command("list")
def messages_list(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only messages that could not be parsed or stored whole")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 50,
) -> None:
    """Print stored messages as JSON lines, newest first; status is ok, empty (nothing in the body),
    too_large (kept truncated) or failed (kept raw only)."""
    from app.inbox import repository

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "id": m.id,
                "status": m.parse_status,
                "error": m.parse_error,
                "mailbox_id": m.mailbox_id,
                "uid": m.uid,
                "from": m.from_address,
                "subject": m.subject,
                "auto": m.auto,
                "ticket_id": m.ticket_id,
                "size": m.size,
            }
            for m in await repository.messages(session, problems_only=failed, limit=limit)
        ]

    found = in_session(settings, rows)
    for row in found:
        typer.echo(json.dumps(row))
    if not found:
        typer.echo("no failed messages" if failed else "no messages", err=True)


@messages_cli.command("raw")
def messages_raw(message_id: Annotated[int, typer.Argument(help="The message's id")]) -> None:
    """Write a stored message's raw bytes to stdout, exactly as they were received."""
    from app.inbox import repository

    settings = load_settings()

    async def raw(session: AsyncSession, _runtime: Runtime) -> bytes | None:
        message = await repository.message(session, message_id)
        return message.raw if message else None

    data = in_session(settings, raw)
    if data is None:
        raise fail(f"no message {message_id}")
    sys.stdout.buffer.write(data)
