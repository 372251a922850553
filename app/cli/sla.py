"""`routedesk sla`: recompute SLA clocks from ticket history; list policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, in_session, load_settings

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
