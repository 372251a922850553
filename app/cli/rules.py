"""`routedesk rules`: admin routing rules, applied before the model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, in_session, load_settings, validation_problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.routing.schemas import RuleRead
    from app.runtime import Runtime

rules_cli = typer.Typer(
    no_args_is_help=True, help="Routing rules: a sender domain or a keyword sends a ticket to an area."
)


@rules_cli.command("list")
def rules_list() -> None:
    """Every rule in the order they apply, one JSON line each; `area_archived` ones are skipped."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[RuleRead]:
        return await routing.list_rules(session)

    for rule in in_session(settings, go):
        typer.echo(rule.model_dump_json())


@rules_cli.command("add")
def rules_add(
    area: Annotated[str, typer.Argument(help="the area the rule sends tickets to")],
    keyword: Annotated[str | None, typer.Option("--keyword", help="a word or phrase, matched whole")] = None,
    sender_domain: Annotated[
        str | None, typer.Option("--sender-domain", help="a sender's domain (subdomains match too)")
    ] = None,
    position: Annotated[int, typer.Option("--position", help="lower applies first", min=0, max=10_000)] = 100,
) -> None:
    """Add a rule sending tickets to AREA: give exactly one of --keyword or --sender-domain. Prints the rule."""
    from pydantic import ValidationError

    from app.routing import service as routing
    from app.routing.schemas import RuleCreate

    if (keyword is None) == (sender_domain is None):
        raise fail("give exactly one of --keyword WORD or --sender-domain DOMAIN")
    settings = load_settings()
    try:
        if keyword is not None:
            data = RuleCreate(kind="keyword", pattern=keyword, area=area, position=position)
        else:
            data = RuleCreate(kind="sender_domain", pattern=sender_domain or "", area=area, position=position)
    except ValidationError as exc:
        raise fail(validation_problem(exc)) from None

    async def go(session: AsyncSession, _runtime: Runtime) -> RuleRead:
        return await routing.create_rule(session, data)

    typer.echo(json.dumps(in_session(settings, go).model_dump()))


@rules_cli.command("remove")
def rules_remove(
    rule_id: Annotated[int, typer.Argument(help="the rule's id, as `rules list` shows it", min=1)],
) -> None:
    """Remove a rule."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await routing.delete_rule(session, rule_id)

    in_session(settings, go)
    typer.echo(f"rule {rule_id} removed")
