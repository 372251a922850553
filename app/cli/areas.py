"""`routedesk areas`: the queues tickets are routed to."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail, in_session, load_settings, validation_problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

areas_cli = typer.Typer(no_args_is_help=True, help="Areas: the queues tickets are routed to.")

AreaArg = Annotated[str, typer.Argument(help="the area's name, as `areas list` shows it")]


@areas_cli.command("list")
def areas_list() -> None:
    """Every area, archived ones included, one JSON line each."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "name": area.name,
                "title": area.title,
                "first_response_minutes": area.first_response_minutes,
                "resolution_minutes": area.resolution_minutes,
                "survey_delay_minutes": area.survey_delay_minutes,
                "archived": area.archived,
                "archived_at": area.archived_at.isoformat() if area.archived_at else None,
            }
            for area in await routing.list_areas(session)
        ]

    for row in in_session(settings, go):
        typer.echo(json.dumps(row))


@areas_cli.command("add")
def areas_add(
    name: Annotated[str, typer.Argument(help="lowercase letters, digits, _ and - (e.g. billing)")],
    title: Annotated[str, typer.Option("--title", help="shown to agents; the name by default")] = "",
    first_response_minutes: Annotated[
        int, typer.Option("--first-response-minutes", help="first-response target", min=1)
    ] = 240,
    resolution_minutes: Annotated[int, typer.Option("--resolution-minutes", help="resolution target", min=1)] = 2880,
    survey_delay_minutes: Annotated[
        int, typer.Option("--survey-delay-minutes", help="CSAT survey this long after a solve", min=0)
    ] = 1440,
) -> None:
    """Add an area (a queue), with its SLA targets."""
    from pydantic import ValidationError

    from app.routing import service as routing
    from app.routing.schemas import AreaCreate

    settings = load_settings()
    try:
        data = AreaCreate(
            name=name,
            title=title or name.replace("_", " ").replace("-", " ").capitalize(),
            first_response_minutes=first_response_minutes,
            resolution_minutes=resolution_minutes,
            survey_delay_minutes=survey_delay_minutes,
        )
    except ValidationError as exc:
        raise fail(validation_problem(exc)) from None

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await routing.create_area(session, data)

    in_session(settings, go)
    typer.echo(f"area {name!r} added")


@areas_cli.command("survey-delay")
def areas_survey_delay(
    name: AreaArg,
    minutes: Annotated[int, typer.Argument(help="minutes after a solve, 0 to 43200 (the default is 1440: a day)")],
) -> None:
    """Set how long after a ticket of the area is solved its CSAT survey goes."""
    from pydantic import ValidationError

    from app.routing import service as routing
    from app.routing.schemas import AreaUpdate

    settings = load_settings()
    try:
        data = AreaUpdate(survey_delay_minutes=minutes)
    except ValidationError as exc:
        raise fail(validation_problem(exc)) from None

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await routing.update_area(session, await routing.get_area(session, name), data)

    in_session(settings, go)
    typer.echo(f"area {name!r}: surveys {minutes} minutes after a solve")


@areas_cli.command("archive")
def areas_archive(name: AreaArg) -> None:
    """Stop routing new tickets to an area: its model class goes to triage, its rules are skipped.
    Its tickets and history stay, and its queue can still be worked."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> int:
        return await routing.archive_area(session, await routing.get_area(session, name))

    skipped = in_session(settings, go)
    typer.echo(f"area {name!r} archived: nothing new is routed to it")
    if skipped:
        typer.echo(f"{skipped} rule(s) pointing at it are skipped while it is archived (`rules list`)")


@areas_cli.command("unarchive")
def areas_unarchive(name: AreaArg) -> None:
    """Route to an archived area again (its rules apply again)."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await routing.unarchive_area(session, await routing.get_area(session, name))

    in_session(settings, go)
    typer.echo(f"area {name!r} unarchived: routing to it again")


@areas_cli.command("delete")
def areas_delete(name: AreaArg) -> None:
    """Delete an area nothing refers to; refuses, saying what does (tickets, rules, macros, labels)."""
    from app.routing import service as routing

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await routing.delete_area(session, await routing.get_area(session, name))

    in_session(settings, go)
    typer.echo(f"area {name!r} deleted")
