"""`routedesk denominators` (the contact rate's denominators) and `routedesk contact-rate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import MISCONFIGURED, cli, fail, in_session, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.csat.schemas import ContactRateRead, DenominatorRead, DenominatorsStored
    from app.runtime import Runtime

denominators_cli = typer.Typer(
    no_args_is_help=True, help="The contact rate's denominators: units per period and area (e.g. active accounts)."
)


@denominators_cli.command("import")
def denominators_import(
    file: Annotated[Path, typer.Argument(help="a CSV file: the header period,area,value,unit, then a row each")],
) -> None:
    """Store a file's denominators, all or none (a row of a stored period and area replaces its value)."""
    from app.csat import contacts
    from app.db import utcnow
    from app.errors import AppError

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}", MISCONFIGURED) from None
    try:
        rows = contacts.parse_csv(data)
    except AppError as exc:
        raise fail(f"{file}: {exc.detail}", MISCONFIGURED) from None
    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> DenominatorsStored | str:
        try:
            return await contacts.store(session, rows, now=utcnow())
        except AppError as exc:
            return exc.detail

    found = in_session(settings, go)
    if isinstance(found, str):
        fail(f"{file}: {found}; nothing stored", MISCONFIGURED)
    typer.echo(f"{found.created} denominator(s) added, {found.replaced} replaced")


@denominators_cli.command("list")
def denominators_list() -> None:
    """Every denominator, one JSON line each."""
    from app.csat import contacts

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> list[DenominatorRead]:
        return await contacts.listed(session, limit=100_000, offset=0)

    for row in in_session(settings, go):
        typer.echo(json.dumps(row.model_dump(mode="json", by_alias=True)))


@cli.command("contact-rate")
def contact_rate(
    period: Annotated[str, typer.Option("--period", help="2026-11, 2026-11-03 or 2026-11-01..2026-11-15")],
    area: Annotated[str | None, typer.Option("--area", help="only this area")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Contacts (gross, net) and repeat contacts in a period, per 1,000 units of its denominator."""
    if output not in ("table", "json"):
        fail(f"--format must be table or json, not {output!r}", MISCONFIGURED)
    from app.csat import contacts
    from app.errors import AppError

    settings = load_settings()

    async def go(session: AsyncSession, _runtime: Runtime) -> ContactRateRead | str:
        try:
            return await contacts.contact_rate(session, period, area=area)
        except AppError as exc:
            return exc.detail

    found = in_session(settings, go)
    if isinstance(found, str):
        fail(found, MISCONFIGURED)
    if output == "json":
        typer.echo(json.dumps(found.model_dump(mode="json", by_alias=True), indent=2))
        return
    typer.echo(f"Contacts {found.start} to {found.end} (period {found.period}, UTC)")
    typer.echo("")
    header = ("area", "contacts", "net", "repeat", "denominator", "per 1,000", "net per 1,000")
    lines = [header]
    for row in found.rows:
        lines.append(
            (
                row.area,
                str(row.contacts),
                str(row.contacts_net),
                str(row.repeat_contacts),
                "-" if row.denominator is None else f"{row.denominator:g} {row.unit}",
                "-" if row.contact_rate is None else f"{row.contact_rate:.2f}",
                "-" if row.contact_rate_net is None else f"{row.contact_rate_net:.2f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        typer.echo(
            "  ".join([line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))])
        )
    for row in found.rows:
        if row.reason:
            typer.echo(f"{row.area}: {row.reason}")
