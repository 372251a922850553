"""`routedesk outbox`: outgoing mail, and sending again what failed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

outbox_cli = typer.Typer(no_args_is_help=True, help="Outgoing mail: list it, retry what failed.")


@outbox_cli.command("list")
def outbox_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only messages that failed")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, oldest first")] = 100,
) -> None:
    """One JSON line per outgoing message (without its bytes), oldest first."""
    from app.replies import service as replies
    from app.replies.models import OutboxStatus
    from app.replies.schemas import OutboxRead

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[str]:
        found = await replies.outbox(session, status=OutboxStatus.FAILED if failed else None, limit=limit)
        return [OutboxRead.model_validate(row).model_dump_json() for row in found]

    lines = in_session(settings, rows)
    if not lines:
        typer.echo("no failed messages" if failed else "outbox empty", err=True)
    for line in lines:
        typer.echo(line)


@outbox_cli.command("retry")
def outbox_retry(
    outbox_id: Annotated[int | None, typer.Argument(help="The failed message to send again")] = None,
    all_failed: Annotated[bool, typer.Option("--all", help="Every failed message")] = False,
) -> None:
    """Put a failed message (or --all of them) back in the queue, due now, attempts and error reset; the
    worker's sender sends the very same bytes again."""
    from app.replies import service as replies

    if (outbox_id is None) == (not all_failed):
        raise fail("give an outbox ID or --all")
    settings = load_settings()

    async def retry(session: AsyncSession, _runtime: Runtime) -> list[int]:
        if outbox_id is not None:
            return [(await replies.retry(session, outbox_id)).id]
        return await replies.retry_failed(session)

    ids = in_session(settings, retry)
    if not ids:
        typer.echo("no failed messages", err=True)
    typer.echo(json.dumps({"retried": ids}))
