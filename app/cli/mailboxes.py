"""`routedesk mailbox`: the IMAP mailboxes to ingest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, in_session, load_settings, reporting, run_async

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.inbox.schemas import MailboxCheck
    from app.runtime import Runtime

mailbox_cli = typer.Typer(no_args_is_help=True, help="Mailboxes: IMAP to ingest from, SMTP to send replies through.")


@mailbox_cli.command("add")
def mailbox_add(
    name: Annotated[str, typer.Argument(help="A name of your choice, unique")],
    imap_url: Annotated[
        str, typer.Option("--imap-url", help="imap[s]://USER:PASS@HOST:PORT/FOLDER (?tls=starttls for STARTTLS)")
    ],
    smtp_url: Annotated[
        str | None,
        typer.Option(
            "--smtp-url",
            help="smtp[s]://[USER:PASS@]HOST:PORT (?tls=starttls for STARTTLS): where replies and "
            "acknowledgements are sent; without it nothing can be sent",
        ),
    ] = None,
    from_name: Annotated[
        str | None, typer.Option("--from-name", help="Sender name on outgoing mail, e.g. 'Acme Support'")
    ] = None,
    address: Annotated[str | None, typer.Option(help="The support address customers write to")] = None,
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="Log in to IMAP and SMTP first; refuse the mailbox if either fails"),
    ] = True,
) -> None:
    """Add a mailbox; its IMAP and SMTP servers are checked first (--no-check skips that)."""
    from app.inbox import mailboxes as inbox
    from app.mail.imap import parse_imap_url
    from app.mail.smtp import parse_smtp_url

    settings = load_settings()
    try:
        endpoint = parse_imap_url(imap_url)
        smtp = parse_smtp_url(smtp_url) if smtp_url is not None else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    data = reporting(
        lambda: inbox.mailbox_from_urls(name=name, endpoint=endpoint, address=address, smtp=smtp, from_name=from_name)
    )

    async def name_free(session: AsyncSession, _runtime: Runtime) -> None:
        await inbox.ensure_name_free(session, name)

    # Settings and name first: a mistake there is told at once, before the servers' checks (seconds
    # each, and a wrong password's lockout counter) run for a mailbox that cannot be added anyway.
    in_session(settings, name_free)
    if check:
        results = run_async(lambda: inbox.check_servers(endpoint, smtp, settings=settings))
        failed = [r for r in results if not r.ok and r.reason != "not configured"]
        if failed:
            for result in failed:
                typer.echo(f"error: {_check_line(result)}", err=True)
            raise fail(f"mailbox {name!r} not added (--no-check adds it without checking)")

    async def add(session: AsyncSession, runtime: Runtime) -> None:
        await inbox.create_mailbox(session, data, secrets=runtime.secrets)

    in_session(settings, add)
    typer.echo(f"mailbox {name!r} added: imap {endpoint}")
    if smtp is not None:
        typer.echo(f"  smtp {smtp}" + (f", sent as {from_name!r}" if from_name else ""))
    else:
        typer.echo("  no SMTP: acknowledgements and replies fail until it is set (`mailbox test` checks it)")
    typer.echo("  passwords stored encrypted" + ("" if check else "; servers not checked (--no-check)"))


def _check_line(result: MailboxCheck) -> str:
    target = f" {result.target}" if result.target else ""
    if result.ok:
        return f"{result.check}: ok{target}"
    return f"{result.check}: {result.reason}{target}: {result.detail}"


@mailbox_cli.command("test")
def mailbox_test(name: Annotated[str, typer.Argument(help="The mailbox's name")]) -> None:
    """Check a stored mailbox's servers: IMAP login and folder, SMTP connection, STARTTLS and login.
    One line per check; exit 1 if any fails."""
    from app.inbox import mailboxes as inbox

    settings = load_settings()

    async def servers(session: AsyncSession, runtime: Runtime) -> Any:
        return await inbox.stored_servers(session, name, secrets=runtime.secrets)

    imap, smtp = in_session(settings, servers)
    results = run_async(lambda: inbox.check_servers(imap, smtp, settings=settings))
    for result in results:
        typer.echo(_check_line(result))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@mailbox_cli.command("list")
def mailbox_list() -> None:
    """One JSON line per mailbox: servers (without passwords), checkpoint, last poll and last error."""
    from app.inbox import mailboxes as inbox
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
                    "smtp": str(smtp) if (smtp := inbox.smtp_endpoint(m, _runtime.secrets)) else None,
                    "from_name": m.from_name,
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
    """Remove a mailbox; its messages and tickets are kept."""
    from app.inbox import mailboxes as inbox

    settings = load_settings()

    async def remove(session: AsyncSession, _runtime: Runtime) -> None:
        await inbox.remove_mailbox(session, name)

    in_session(settings, remove)
    typer.echo(f"mailbox {name!r} removed (its messages and tickets are kept)")
