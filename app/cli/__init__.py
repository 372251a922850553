"""The `routedesk` command: one module per area of work, each adding its commands to the root app."""

from __future__ import annotations

from app.cli import (
    areas,
    contacts,
    db,
    demo,
    kb,
    macros,
    mailboxes,
    messages,
    models,
    outbox,
    processes,
    reports,
    rules,
    sla,
    users,
)
from app.cli.common import cli

cli.add_typer(db.db_cli, name="db")
cli.add_typer(mailboxes.mailbox_cli, name="mailbox")
cli.add_typer(messages.messages_cli, name="messages")
cli.add_typer(outbox.outbox_cli, name="outbox")
cli.add_typer(users.users_cli, name="users")
cli.add_typer(models.models_cli, name="models")
cli.add_typer(areas.areas_cli, name="areas")
cli.add_typer(rules.rules_cli, name="rules")
cli.add_typer(macros.macros_cli, name="macros")
cli.add_typer(sla.sla_cli, name="sla")
cli.add_typer(kb.kb_cli, name="kb")
cli.add_typer(contacts.denominators_cli, name="denominators")

__all__ = ["cli", "demo", "main", "processes", "reports"]


def main() -> None:
    cli()
