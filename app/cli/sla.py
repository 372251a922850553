"""`routedesk sla`: recompute SLA clocks from ticket history; list, set and clear policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, in_session, load_settings, validation_problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.runtime import Runtime

sla_cli = typer.Typer(no_args_is_help=True, help="SLA clocks and policies.")


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--since must be a date or time in ISO 8601 (2026-12-01), not {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@sla_cli.command("recompute")
def sla_recompute(
    since: Annotated[str | None, typer.Option("--since", help="Only tickets created since (ISO date, UTC)")] = None,
) -> None:
    """Rebuild tickets' SLA clocks, sla_events and due times from their history under the policies
    as they are now (after a policy change, or after an upgrade). Prints how many tickets."""
    from app.tickets import lifecycle

    start = _date(since)
    settings = load_settings()

    async def recompute(session: AsyncSession, _runtime: Runtime) -> int:
        return await lifecycle.recompute_sla(session, since=start)

    typer.echo(f"recomputed {in_session(settings, recompute)} tickets")


@sla_cli.command("policies")
def sla_policies() -> None:
    """One JSON line per area's SLA policy."""
    from app.sla import service as sla

    settings = load_settings()

    async def rows(session: AsyncSession, _runtime: Runtime) -> list[str]:
        return [p.model_dump_json() for p in await sla.policy_reads(session)]

    for line in in_session(settings, rows):
        typer.echo(line)


@sla_cli.command("set-policy")
def sla_set_policy(
    area: Annotated[str, typer.Argument(help="the area's name")],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            help="PRIORITY.METRIC=MINUTES, e.g. normal.first_reply=240; once per target "
            "(priorities low, normal, high, urgent; metrics first_reply, next_reply, resolution)",
        ),
    ],
    business_hours: Annotated[
        bool, typer.Option("--business-hours/--calendar", help="count only the schedule's business hours")
    ] = False,
    schedule: Annotated[str | None, typer.Option("--schedule", help="the business-hours schedule's name")] = None,
) -> None:
    """Set an area's SLA policy (all of it: targets not given are none), as PUT /policies/{area} does.
    Tickets already open keep their clocks until `routedesk sla recompute`. Prints the policy as JSON."""
    from pydantic import ValidationError

    from app.routing import service as routing
    from app.sla import service as sla
    from app.sla.schemas import PolicyWrite

    targets: dict[str, dict[str, str]] = {}
    for given in target:
        key, equals, minutes = given.partition("=")
        priority, dot, metric = key.strip().partition(".")
        if not equals or not dot or not priority or not metric:
            raise fail(f"--target takes PRIORITY.METRIC=MINUTES (normal.first_reply=240), not {given!r}")
        targets.setdefault(priority, {})[metric] = minutes.strip()
    try:
        data = PolicyWrite.model_validate({"business_hours": business_hours, "schedule": schedule, "targets": targets})
    except ValidationError as exc:
        raise fail(validation_problem(exc)) from None
    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> str:
        found = await routing.get_area(session, area)
        return (
            await sla.policy_read(session, await sla.put_policy(session, found, data), area=found.name)
        ).model_dump_json()

    typer.echo(in_session(settings, go))


@sla_cli.command("clear-policy")
def sla_clear_policy(area: Annotated[str, typer.Argument(help="the area's name")]) -> None:
    """Remove an area's SLA policy: it goes back to its own two targets (first response, resolution)."""
    from app.routing import service as routing
    from app.sla import service as sla

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> None:
        await sla.delete_policy(session, await routing.get_area(session, area))

    in_session(settings, go)
    typer.echo(f"area {area!r}: policy removed")
